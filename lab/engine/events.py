"""Structured events of a deployment (JSON lines), plus a human log beside them.

One record per fact: `phase` (a phase of the run reached), `step` (a resource step
started / finished / failed, with its op and seconds), `output` (a line a command
wrote on stderr). lab/summary.py, the VM lab's report and the tests read these;
nobody parses the human log.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"
LOG_FILE = "engine.log"


class Events:
    def __init__(self, state_dir: Path | None, echo: bool = True, run: str = "") -> None:
        self.path = state_dir / EVENTS_FILE if state_dir else None
        self.log_path = state_dir / LOG_FILE if state_dir else None
        self.echo = echo
        # Unique per run: two runs can start within one second (a test's fixture run and
        # its own), and a run's events are read back by this id.
        self.run = run or f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.lock = threading.Lock()
        self.records: list[dict[str, Any]] = []  # this run's, in order

    def emit(self, kind: str, human: str | None = None, **fields: Any) -> dict[str, Any]:
        rec = {"run": self.run, "t": round(time.monotonic() - self.t0, 3), "wall": round(time.time(), 3),
               "kind": kind, **fields}  # fmt: skip
        line = f"[{rec['t']:6.1f}s] {human}" if human is not None else None
        with self.lock:
            self.records.append(rec)
            if self.path:
                with self.path.open("a") as f:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
            if line is not None and self.log_path:
                with self.log_path.open("a") as f:
                    f.write(line + "\n")
        if line is not None and self.echo:
            print(line, flush=True)
        return rec

    def phase(self, name: str, human: str | None = None, **fields: Any) -> None:
        self.emit("phase", human if human is not None else name, phase=name, **fields)

    def output(self, name: str, urn: str, line: str, stream: str = "stderr") -> None:
        self.emit("output", f"     {name}: {line}", name=name, urn=urn, stream=stream, line=line)


def read(state_dir: Path, run: str | None = None) -> Iterator[dict[str, Any]]:
    """The events recorded in STATE_DIR (of one run, or of all)."""
    path = state_dir / EVENTS_FILE
    if not path.exists():
        return
    with path.open() as f:
        for line in f:
            rec = json.loads(line)
            if run is None or rec.get("run") == run:
                yield rec

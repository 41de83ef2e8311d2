"""The namespace lab's check of each instance's user data: `cloud-init schema
--config-file`, the command itself, run for many documents by one long-lived process
(cloud_config_server.py) instead of one process each. Its start and cloud-init's
imports are most of a check's time, and the lab launches its instances in parallel:
nine such processes at once cost the 9-node lab about a second of its two cores.

The server runs under cloud-init's own interpreter and calls cloud-init's own entry
point (see its docstring); tests/unit/test_lab_cloud_config.py holds its verdicts and
messages against the command's.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import threading
import weakref
from pathlib import Path
from typing import IO

SERVER = Path(__file__).with_name("cloud_config_server.py")


def cloud_init_python() -> str:
    """The interpreter the `cloud-init` command runs with (its shebang)."""
    cli = shutil.which("cloud-init")
    if cli is None:
        raise RuntimeError("cloud-init is not installed: run lab/hosts.sh install")
    first = Path(cli).read_bytes().split(b"\n", 1)[0].decode(errors="replace")
    if not first.startswith("#!"):
        raise RuntimeError(f"cannot tell which Python runs {cli}: its first line is {first!r}, not a #! line")
    return first[2:].strip()


class CloudConfigCheck:
    """check(text): None when TEXT is valid cloud-config, else cloud-init's message.
    Thread-safe (one request at a time); the server starts at the first check and ends
    when this object is closed or collected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def check(self, text: str) -> str | None:
        document = text.encode()
        with self._lock:
            proc = self._server()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(b"%d\n" % len(document) + document)
                proc.stdin.flush()
                line = proc.stdout.readline()
            except OSError:
                line = b""
            if not line:
                self._proc = None
                _stop(proc)
                said = b""
                if self._stderr is not None:
                    self._stderr.seek(0)
                    said = self._stderr.read()
                reason = said.decode(errors="replace").strip()[-800:] or "(it said nothing)"
                raise RuntimeError(f"cannot tell whether the user data is valid: the schema check ended: {reason}")
        reply = json.loads(line)
        return None if reply["rc"] == 0 else reply["output"]

    def _server(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            # Its stderr to a file, never a pipe no one reads while it runs (a full pipe
            # would block it); read when it ends.
            if self._stderr is not None:
                self._stderr.close()
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (open while the server runs; closed with it)
            self._proc = subprocess.Popen(
                [cloud_init_python(), str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr,
            )  # fmt: skip
            weakref.finalize(self, _stop, self._proc)
        return self._proc

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                _stop(self._proc)
                self._proc = None
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """EOF on its stdin ends the server."""
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(OSError):  # it has ended already (broken pipe)
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()

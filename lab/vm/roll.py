"""`python -m lab.vm roll`: `make roll` on the VM lab's cluster (run `make vm-lab` first),
with the routing mesh probed throughout.

Each node is rolled on its own (ops/roll.py with the VM lab's engine, `--only` that
node, in ops.roll.order), and while it is, a prober asks the mesh of a node that is not
being replaced: one GET of the published port every 0.5 s, 1 s timeout, no retry,
every probe counted. A new node is a new VM (booted, cloud-init run): minutes each
under emulation. Prints per node: seconds, probes, failed probes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from lab import engine
from lab.vm.backend import VM_STATE
from ops.roll import order

PORT = 5001


@dataclass
class Probe:
    ip: str
    stop: threading.Event = field(default_factory=threading.Event)
    sent: int = 0
    failed: list[tuple[float, str]] = field(default_factory=list)

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.is_set():
            self.sent += 1
            try:
                with urllib.request.urlopen(f"http://{self.ip}:{PORT}/", timeout=1) as r:
                    r.read()
            except Exception as exc:  # any failure counts: refused, timeout, HTTP error
                self.failed.append((round(time.monotonic() - t0, 1), type(exc).__name__))
            self.stop.wait(0.5)


def main() -> int:
    nodes = engine.stack_outputs(state_dir=VM_STATE).get("nodes") or []
    if not nodes:
        print("lab.vm roll: no VM lab stack: run `make vm-lab` first", file=sys.stderr)
        return 1
    report = []
    for target in order(nodes):
        # Ask a node that is not the one being replaced (its address as of now).
        current = engine.stack_outputs(state_dir=VM_STATE)["nodes"]
        other = next(n["publicIp"] for n in current if n["name"] != target.name)
        probe = Probe(other)
        thread = threading.Thread(target=probe.run, daemon=True)
        thread.start()
        t0 = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "ops.roll", "--engine", "lab-vm", "--stack", "vmlab",
                              "--only", target.name], cwd=engine.ROOT)  # fmt: skip
        probe.stop.set()
        thread.join()
        row = {"node": target.name, "seconds": round(time.monotonic() - t0), "probed": other,
               "probes": probe.sent, "failed": len(probe.failed), "failures": probe.failed[:10]}  # fmt: skip
        report.append(row)
        print(json.dumps(row), flush=True)
        if res.returncode != 0:
            print(f"lab.vm roll: stopped at {target.name}", file=sys.stderr)
            return 1
    total = sum(r["failed"] for r in report)
    print(f"lab.vm roll: {len(report)} nodes, {sum(r['seconds'] for r in report)} s, "
          f"{sum(r['probes'] for r in report)} probes, {total} failed")  # fmt: skip
    return 0 if total == 0 else 1

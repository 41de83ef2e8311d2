"""`make test`: every test, in three pytest processes, with the wall time of each.

    namespace lab  tests/lab (its hosts are this machine's namespaces)
    fast           tests/unit, tests/program, tests/policy
    VM lab         tests/vmlab, last: minutes of QEMU, CPU-bound

By default the VM lab starts first, in the background at nice 19 and in the idle I/O
class, beside the other two: the whole CI in ~20 minutes instead of ~27 one after another
(VM_LAB_BESIDE=0). Runs beside once lost tasks in the namespace lab's swarm when a
host's dockerd kept its old overlay gossip running after a swarm leave under the
contention (moby's clusterLeave before 16ed51d864: lab/gossip.py); the lab's resets now
restart such a dockerd before its next swarm, the guard before each lab test restarts
one whose gossip broke otherwise, and a failed lab test's report ends with each host's
gossip lines (lab/backends/namespace.py, tests/lab/conftest.py).

The two labs share nothing (own bridges, subnets, registries, state directories, stacks:
lab/hosts.sh and lab/vm/host.sh), so they can run side by side; beside, the namespace lab
keeps the CPU first (the VM lab is niced).

Prints the VM lab's output when it ends, then a table of the suites' wall times, and
appends "suite<TAB>seconds<TAB>result" lines to $CI_TIMINGS when set (.ci/run prints
them at its end). Exit status: 1 when any suite failed.

Usage: python .ci/suites.py [PYTEST_ARG...]   (passed to every suite)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VM_LAB_NICE = 19
FOREGROUND = [  # (name, pytest arguments)
    # one process: its tests share the lab's hosts; its slowest tests' times at the end
    ("namespace lab", ["--durations=12", "tests/lab"]),
    ("fast (unit, program, policy)", ["-n", "auto", "tests/unit", "tests/program", "tests/policy"]),
]


def pytest(args: list[str], extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", *extra, *args]


def outcome(rc: int) -> str:
    # pytest's 5: no test selected (PYTEST_ARGS='-k ...' that matches none of this suite)
    return {0: "passed", 5: "no test selected"}.get(rc, f"FAILED (pytest exit {rc})")


def sequential(extra: list[str]) -> list[tuple[str, float, str]]:
    times = []
    for name, args in [*FOREGROUND, ("VM lab", ["tests/vmlab"])]:
        print(f"suites: {name}", flush=True)
        t = time.monotonic()
        rc = subprocess.run(pytest(args, extra), cwd=ROOT).returncode
        times.append((name, time.monotonic() - t, outcome(rc)))
    return times


def main(extra: list[str]) -> int:
    t_all = time.monotonic()
    times = sequential(extra) if os.environ.get("VM_LAB_BESIDE") == "0" else beside(extra)
    times.append(("all tests", time.monotonic() - t_all, ""))
    print("suites: wall time of each")
    for name, seconds, result in times:
        print(f"  {name:<30} {seconds:7.1f} s  {result}")
    out = os.environ.get("CI_TIMINGS")
    if out:
        with open(out, "a") as f:
            for name, seconds, result in times:
                f.write(f"{name}\t{seconds:.1f}\t{result}\n")
    return 1 if any(r.startswith("FAILED") for _, _, r in times) else 0


def beside(extra: list[str]) -> list[tuple[str, float, str]]:
    times: list[tuple[str, float, str]] = []
    t_all = time.monotonic()
    with tempfile.NamedTemporaryFile("w+", prefix="vmlab-", suffix=".log") as vm_log:
        vm = subprocess.Popen(
            ["ionice", "-c", "3", "nice", "-n", str(VM_LAB_NICE), *pytest(["tests/vmlab"], extra)],
            cwd=ROOT, stdout=vm_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        vm_ended: list[float] = []  # when the VM lab's pytest exited (its own wall time)
        waiter = threading.Thread(target=lambda: (vm.wait(), vm_ended.append(time.monotonic())), daemon=True)
        waiter.start()
        print(f"suites: VM lab started in the background (pid {vm.pid}, nice {VM_LAB_NICE}, idle I/O)", flush=True)
        for name, args in FOREGROUND:
            print(f"suites: {name}", flush=True)
            t = time.monotonic()
            # (the lab tests note it with their recorded time: bench/__main__.py shows those apart)
            env = {**os.environ, "VM_LAB_RUNNING_BESIDE": "1"}
            rc = subprocess.run(pytest(args, extra), cwd=ROOT, env=env).returncode
            times.append((name, time.monotonic() - t, outcome(rc)))
        print("suites: waiting for the VM lab", flush=True)
        waiter.join()
        times.append(("VM lab (beside the others)", vm_ended[0] - t_all, outcome(vm.returncode)))
        vm_log.seek(0)
        print("suites: the VM lab's output:")
        print(vm_log.read(), end="", flush=True)
    return times


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

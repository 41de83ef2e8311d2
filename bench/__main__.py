"""`make bench`: how the program's cost grows with the cluster. Prints numbers; asserts nothing.

1. Program evaluation under mocks for (managers, workers) = (1, 2), (3, 27), (5, 95):
   resources registered, wall time, ms per resource, peak RSS (each run in a fresh process).
2. Critical path: the longest dependency chain of the recorded graph, per size.
3. Lab (root on Linux): `make lab` for 3 and 9 nodes, with the phases of each (bench/lab.py).
4. Test suites: `make test-unit` and each fast suite alone; the lab suite's recorded runs.
5. The VM lab's recorded runs of the current recipe: phase times, and inside the VMs
   (boot, cloud-init stages and modules, apt), memory.

Each figure is the median of several runs (BENCH_RUNS, default 3), with min and max.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.cpu import cpu_reference

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SIZES = [(1, 2), (3, 27), (5, 95)]


def stats(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f} ({min(values):.2f}-{max(values):.2f})"


MINIMAL = ROOT / "bench" / "minimal.py"


def program_once(managers: int, workers: int, program: Path = ROOT / "__main__.py") -> dict[str, float]:
    """One program run in a fresh process (so peak RSS is this run's)."""
    code = f"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from harness.graph import critical_path
from tests.program.helpers import run as run_with

def run(managers, workers):
    return run_with({{"managerCount": managers, "workerCount": workers}}, program=Path({str(program)!r}))

# A warm-up run first: module imports (pulumi_aws loads its modules lazily, ~1 s) and
# first-use caches are paid once per process, not per resource.
run(1, 0)
t = time.perf_counter()
r = run({managers}, {workers})
dt = time.perf_counter() - t
print(json.dumps({{"resources": len(r.registrations), "seconds": dt,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "critical_path": len(critical_path(r.registrations))}}))
"""
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_program() -> list[str]:
    lines = [
        "1-2. Program under mocks (fresh process per run, after a 1-node warm-up run: imports excluded).",
        "     Yardstick: bench/minimal.py, the walkthrough as the smallest program (instances, init,",
        "     token, joins, service), run alternately with it: the ratio does not move with the machine.",
        f"  {'managers+workers':>16} {'resources':>9} {'wall s':>22} {'ms/resource':>22} "
        f"{'peak RSS MB':>22} {'critical path':>13} {'minimal ms/res':>22} {'ratio':>5}",
    ]
    points: list[tuple[int, float]] = []
    for m, w in SIZES:
        runs, ref = [], []
        for _ in range(RUNS):  # alternate, so that both see the same machine
            runs.append(program_once(m, w))
            ref.append(program_once(m, w, MINIMAL))
        n = int(runs[0]["resources"])
        secs = [r["seconds"] for r in runs]
        per = [s / n * 1000 for s in secs]
        ref_per = [r["seconds"] / r["resources"] * 1000 for r in ref]
        points.append((n, statistics.median(secs)))
        lines.append(
            f"  {f'{m}+{w}':>16} {n:>9} {stats(secs):>22} {stats(per):>22} "
            f"{stats([r['rss_mb'] for r in runs]):>22} {int(runs[0]['critical_path']):>13} "
            f"{stats(ref_per):>22} {statistics.median(per) / statistics.median(ref_per):5.2f}"
        )
    # Growth: the cost of each resource added between sizes (linear growth = equal slopes).
    slopes = [
        f"{(t2 - t1) / (n2 - n1) * 1000:.2f} ms ({n1}->{n2})" for (n1, t1), (n2, t2) in itertools.pairwise(points)
    ]
    lines.append(f"  marginal cost per added resource: {', '.join(slopes)}")
    return lines


def bench_front_door() -> list[str]:
    """The longest chain of dependent resources with the front-door options (issue 15:
    at most 2 longer with both on than with both off). A count, not a time: one run each."""
    from harness.graph import critical_path
    from tests.program.helpers import run

    options = {"off": {}, "loadBalancer": {"loadBalancer": True}, "privateWorkers": {"privateWorkers": True},
               "both": {"loadBalancer": True, "privateWorkers": True}}  # fmt: skip
    lengths = {name: len(critical_path(run(config).registrations)) for name, config in options.items()}
    shown = ", ".join(f"{name} {n}" for name, n in lengths.items())
    return [f"1-3. Critical path of the default stack by option (resources in the longest chain): {shown}; "
            f"both on - both off = {lengths['both'] - lengths['off']}"]  # fmt: skip


def sh(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run(list(args), check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def bench_lab() -> list[str]:
    if platform.system() != "Linux" or os.geteuid() != 0:
        return ["3. Lab: skipped (needs root on Linux)"]
    from bench.lab import bench_lab as run

    return run(RUNS)


def bench_tests() -> list[str]:
    """The fast suites: what `make test-unit` runs (on every core), and each suite alone in
    one process (its share); the lab suites' recorded runs."""
    lines = ["4. Test suites, wall time (pytest process included), s"]
    for label, args in (
        ("make test-unit (-n auto)", ["-n", "auto", "tests/unit", "tests/program", "tests/policy"]),
        ("  unit+program+policy, 1 process", ["tests/unit", "tests/program", "tests/policy"]),
        ("    tests/unit", ["tests/unit"]),
        ("    tests/program", ["tests/program"]),
        ("    tests/policy", ["tests/policy"]),
        ("  pytest start-up (collect only)", ["--collect-only", "tests/unit", "tests/program", "tests/policy"]),
    ):
        times, refs = [], []
        for _ in range(RUNS):
            refs.append(cpu_reference())  # the machine's speed just before each run
            times.append(sh(PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args))
        lines.append(f"  {label:>34} {stats(times):>22}   CPU reference just before {stats(refs)}")
    if os.environ.get("BENCH_LAB_TESTS") == "1" and platform.system() == "Linux" and os.geteuid() == 0:
        sh(PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/lab")
    # The lab tests record their own wall time (tests/lab/conftest.py) on every green run
    # of `make test`, so the bench reads them (BENCH_LAB_TESTS=1 runs one).
    f = Path("/var/cache/swarm-lab/tests.jsonl")
    recs = [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.exists() else []
    lines += lab_suite_lines(recs, RUNS)
    return lines


def lab_suite_lines(recs: list[dict[str, Any]], runs: int) -> list[str]:
    """The namespace lab suite's recorded green runs: only whole-suite runs (a run of some
    of its tests records too), the last RUNS of each kind: alone, and beside the VM lab
    (`make test`'s default, .ci/suites.py)."""
    if not recs:
        return [f"  {'namespace lab suite':>34} {'-':>22}   (no green run recorded: `make test` as root)"]
    whole = max(r["tests"] for r in recs)
    lines = []
    for label, beside in (("namespace lab suite, alone", False), ("beside the VM lab", True)):
        kind = [r for r in recs if r["tests"] == whole and bool(r.get("beside_vm_lab")) == beside][-runs:]
        if kind:
            lines.append(f"  {label:>34} {stats([r['seconds'] for r in kind]):>22} ({len(kind)} recorded green "
                         f"run(s) of all {whole} tests, last {kind[-1]['when']})")  # fmt: skip
        else:
            lines.append(f"  {label:>34} {'-':>22}   (no green run of all {whole} tests recorded)")
    return lines


def vm_lab_runs() -> list[str]:
    """The VM lab's recorded runs (make vm-lab and its test append to runs.jsonl; a run
    takes ~8 minutes, so the bench reports them instead of starting one)."""
    from lab.vm.vmlab import CACHE, recipe_hash

    f = CACHE / "runs.jsonl"
    recipe = recipe_hash()
    runs = [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.exists() else []
    others = other_recipes(runs, recipe)
    mine = [r for r in runs if r.get("ok") and r.get("recipe") == recipe]
    # `make test` runs the VM lab niced, beside the namespace lab: reported apart.
    beside = [r for r in mine if (r.get("settings") or {}).get("nice", 0) != 0 and not knobs_of(r)][-RUNS:]
    alone = [r for r in mine if (r.get("settings") or {}).get("nice", 0) == 0 and not knobs_of(r)]
    # The goal is for a cached image: a run that built it (a new recipe's first) is apart.
    built = [r for r in alone if not image_cached(r)]
    runs = [r for r in alone if image_cached(r)][-RUNS:]
    if built:
        others.append(f"  {'image built in the run':>22} {stats([r['total_s'] for r in built]):>22} s total: "
                      f"{len(built)} run(s) of this recipe, last {built[-1]['when']}")  # fmt: skip
    if beside:
        total = stats([r["total_s"] for r in beside])
        others.append(f"  {'beside the lab tests':>22} {total:>22} s total: {len(beside)} run(s) of this recipe "
                      f"in `make test` (niced), last {beside[-1]['when']}")  # fmt: skip
    if not runs:
        return [f"5. VM lab: no run of this recipe ({recipe}) on its own recorded: run `make vm-lab` (root)", *others]
    lines = [
        f"5. VM lab, 3 VMs (1 manager + 2 workers), nothing -> mesh verified: {len(runs)} recorded run(s) "
        f"of recipe {recipe} on their own, {runs[0]['when']} .. {runs[-1]['when']}"
    ]
    for name in [p["name"] for p in runs[-1]["phases"]]:
        vals = [p["seconds"] for r in runs for p in r["phases"] if p["name"] == name and p["seconds"] == p["seconds"]]
        if vals:
            lines.append(f"  {name:>22} {stats(vals):>22} s")
    lines.append(f"  {'total':>22} {stats([r['total_s'] for r in runs]):>22} s")
    lines += others
    refs = [r["cpu_reference_s"] for r in runs if r.get("cpu_reference_s")]
    if refs:
        lines.append(f"  {'CPU reference then':>22} {stats(refs):>22} s (see the first line)")
    lines += guest_breakdown(runs)
    peaks = [r["memory"]["peak_gib"] - r["memory"]["baseline_gib"] for r in runs if r.get("memory")]
    if peaks:
        lines.append(f"  {'host memory peak':>22} {stats(peaks):>22} GiB above the baseline")
    return lines


def image_cached(run: dict) -> bool:
    """The run found the guest image in the cache (lab/vm/vmlab.py notes its image phase)."""
    return any(p["name"] == "image" and p.get("note") == "cached" for p in run.get("phases", []))


def knobs_of(run: dict) -> str:
    """The host.sh knobs a run set away from their defaults ("" for none; nice apart)."""
    given = sorted((run.get("settings") or {}).items())
    return ", ".join(f"{k}={v}" for k, v in given if k != "nice" and v not in ("", 0))


def other_recipes(runs: list[dict], current: str) -> list[str]:
    """The last recipes measured before this one, and this one's runs with other host.sh
    knobs (on their own): what was tried."""
    seen: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        nice = (r.get("settings") or {}).get("nice", 0)
        if r.get("ok") and (r.get("recipe") != current or (knobs_of(r) and nice == 0)):
            knobs = ", ".join(x for x in (knobs_of(r), f"nice={nice}" if nice else "") if x)
            seen.setdefault((r["recipe"], knobs), []).append(r)
    lines = []
    for (recipe, knobs), rs in list(seen.items())[-4:]:
        cpu = [r["cpu_reference_s"] for r in rs if r.get("cpu_reference_s")]
        label = "this recipe, knobs" if recipe == current else "earlier recipe"
        lines.append(f"  {label:>22} {stats([r['total_s'] for r in rs]):>22} s total: {recipe}"
                     f"{' (' + knobs + ')' if knobs else ''}, {len(rs)} run(s), last {rs[-1]['when']}"
                     f"{f', CPU reference {statistics.median(cpu):.2f} s' if cpu else ''}")  # fmt: skip
    return lines


def guest_breakdown(runs: list[dict]) -> list[str]:
    """Inside the VMs (lab/vm/guest_timings.py, asked after each run): every VM of every run."""
    guests = [g for r in runs for g in (r.get("guests") or {}).values() if "error" not in g]
    if not guests:
        return ["  (no VM's own timings recorded in these runs: the recipe predates lab/vm/guest_timings.py)"]
    lines = [f"  inside the VMs ({len(guests)} VM(s) of {len(runs)} run(s)), s:"]
    rows: dict[str, list[float]] = {}
    for g in guests:
        for part, v in g["boot"]["parts"].items():
            rows.setdefault(f"boot: {part}", []).append(v)
        for stage, v in g["cloud_init"]["stages"].items():
            rows.setdefault(f"cloud-init stage {stage}", []).append(v)
        for module, v in g["cloud_init"]["slowest_modules"]:
            rows.setdefault(f"cloud-init module {module}", []).append(v)
        for k, v in g["apt"].items():
            if isinstance(v, int | float):
                rows.setdefault(f"apt: {k}", []).append(v)
    for name, vals in rows.items():
        lines.append(f"    {name:<52} {stats(vals):>22}")
    last = guests[-1]
    units = last["boot"]["slowest_units"]
    if units:
        lines.append("    slowest systemd units (last VM): " + ", ".join(f"{u} {s:.1f}" for u, s in units))
    acts = last["apt"].get("slowest actions") or []
    if acts:
        lines.append("    slowest dpkg actions (last VM): " + ", ".join(f"{a} {s:.0f}" for a, s in acts))
    return lines


def main() -> int:
    cpu = platform.processor() or platform.machine()
    print(f"make bench: {platform.node()} {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median (min-max) of {RUNS} runs")  # fmt: skip
    print(f"CPU reference (10M-iteration Python loop): {cpu_reference():.2f} s at the start", flush=True)
    for section in (bench_program, bench_front_door, bench_lab, bench_tests, vm_lab_runs):
        for line in section():
            print(line, flush=True)
    print(f"CPU reference: {cpu_reference():.2f} s at the end")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

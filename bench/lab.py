"""`make bench`, section 3: `make lab` for 3 nodes and for 9, and where each one's time goes.

The headline figure is the wall time of the very command the README gives
(`make lab`, and `LAB_HOSTS=9 LAB_SET=workerCount=8 make lab`); the breakdown comes
from the lab engine's structured events of that run (lab/engine/events.py): before
the program (make's checks, hosts up, test image), the program's step kinds (first
start to last finish of each kind, and the slowest single step), after it (the summary).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.cpu import cpu_reference

ROOT = Path(__file__).resolve().parent.parent
LAB_STATE = Path(os.environ.get("LAB_STATE", "/tmp/swarmlab-state"))
SIZES = {3: "", 9: "workerCount=8"}  # LAB_HOSTS -> LAB_SET, as the commands

# A step's kind, from its resource name (components/swarm/, components/service.py).
KINDS = [
    ("instances", lambda n, t: t == "aws:ec2/instance:Instance"),
    ("readiness gates", lambda n, t: n.startswith(("boot-ready-", "boot-reach-"))),
    ("authorized keys", lambda n, t: n.startswith("boot-keys-")),
    ("swarm init", lambda n, t: n == "boot-init"),
    ("join tokens", lambda n, t: n.startswith("boot-token-")),
    ("joins", lambda n, t: n.startswith("boot-join-")),
    ("labels", lambda n, t: n.startswith("boot-label-")),
    ("token rotation", lambda n, t: n == "boot-rotate-tokens"),
    ("service (image, network, service)", lambda n, t: n in ("app-image", "app-net", "app-service")),
    ("smoke test", lambda n, t: n.endswith("-smoke")),
]


def kind_of(name: str, type_: str) -> str:
    return next((k for k, match in KINDS if match(name, type_)), "other")


def last_run(since_wall: float) -> list[dict[str, Any]]:
    """The events of the last engine run that started after SINCE_WALL."""
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    path = LAB_STATE / "events.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        rec = json.loads(line)
        if rec["wall"] >= since_wall:
            runs[rec["run"]].append(rec)
    if not runs:
        raise RuntimeError("make lab recorded no engine run")
    return max(runs.values(), key=lambda recs: recs[0]["wall"])


def breakdown(recs: list[dict[str, Any]], t0: float, t_end: float) -> dict[str, Any]:
    """Phases of one `make lab`: seconds before / in / after the program; per step kind,
    its span within the program and its slowest step; per node, when its join finished."""
    start, done = recs[0]["wall"], recs[-1]["wall"]
    spans: dict[str, list[float]] = {}
    slowest: dict[str, float] = defaultdict(float)
    joined: dict[str, float] = {}
    for r in recs:
        if r["kind"] != "step" or r.get("phase") not in ("start", "done"):
            continue
        k = kind_of(r["name"], r.get("type", ""))
        lo, hi = spans.get(k, [r["t"], r["t"]])
        spans[k] = [min(lo, r["t"]), max(hi, r["t"])]
        if r["phase"] == "done":
            slowest[k] = max(slowest[k], float(r.get("seconds") or 0))
            if k == "joins":
                joined[r["name"].removeprefix("boot-join-")] = r["t"]
    return {
        "total": t_end - t0,
        "before program": start - t0,
        "program": done - start,
        "after program": t_end - done,
        "kinds": {k: {"from": lo, "to": hi, "slowest": slowest[k]} for k, (lo, hi) in spans.items()},
        "joined": joined,
    }


def make_lab(hosts: int) -> dict[str, Any]:
    env = {**os.environ, "LAB_HOSTS": str(hosts), "LAB_SET": SIZES[hosts]}
    t0 = time.time()
    subprocess.run(["make", "lab"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    t_end = time.time()
    return breakdown(last_run(t0), t0, t_end)


def lab_down() -> float:
    t = time.perf_counter()
    subprocess.run(["make", "lab-down"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def stats(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):.1f}-{max(values):.1f})"


def bench_lab(runs: int) -> list[str]:
    lab_down()
    results: dict[int, list[dict[str, Any]]] = {n: [] for n in SIZES}
    downs: dict[int, list[float]] = {n: [] for n in SIZES}
    for _ in range(runs):  # alternate, so that both sizes see the same machine
        for n in SIZES:
            ref = cpu_reference()  # the machine's speed just before (it moves within minutes)
            results[n].append({**make_lab(n), "cpu": ref})
            downs[n].append(lab_down())
    lines = ["3. Lab: `make lab` (3 hosts) and `LAB_HOSTS=9 LAB_SET=workerCount=8 make lab`, from no hosts to",
             "   the service healthy and the summary printed; s, median (min-max); then `make lab-down`"]  # fmt: skip
    lines.append(f"  {'phase':<36} {'3 nodes':>18} {'9 nodes':>18} {'9/3':>5}")

    def row(label: str, get: Any) -> None:
        a, b = [get(r) for r in results[3]], [get(r) for r in results[9]]
        ratio = statistics.median(b) / statistics.median(a) if statistics.median(a) > 0 else float("nan")
        lines.append(f"  {label:<36} {stats(a):>18} {stats(b):>18} {ratio:5.2f}")

    row("make lab, whole", lambda r: r["total"])
    # Each 3-node run and the 9-node run after it saw about the same machine.
    pairs = [b["total"] / a["total"] for a, b in zip(results[3], results[9], strict=True)]
    lines.append(f"    9/3 of each pair, in run order: {' '.join(f'{p:.2f}' for p in pairs)}")
    refs = {n: " ".join(f"{r['cpu']:.2f}" for r in results[n]) for n in SIZES}
    lines.append("    CPU reference just before each run, s: " + "; ".join(f"{n} nodes {refs[n]}" for n in SIZES))
    row("  before the program (hosts, image)", lambda r: r["before program"])
    row("  program (lab engine up)", lambda r: r["program"])
    row("  after (summary)", lambda r: r["after program"])
    kinds = [k for k, _ in KINDS if all(k in r["kinds"] for r in results[3] + results[9])]
    lines.append("   within the program, per step kind: first start -> last finish (slowest single step)")
    for k in kinds:
        row(f"    {k}", lambda r, k=k: r["kinds"][k]["to"] - r["kinds"][k]["from"])
        row(f"      slowest {k.split(' ')[0]} step", lambda r, k=k: r["kinds"][k]["slowest"])
    last = results[9][-1]["joined"]
    lines.append("   9 nodes, last run: each node's join finished at (s into the program): "
                 + ", ".join(f"{n} {t:.1f}" for n, t in sorted(last.items(), key=lambda kv: kv[1])))  # fmt: skip
    lines.append(f"  {'make lab-down':<36} {stats(downs[3]):>18} {stats(downs[9]):>18}")
    return lines

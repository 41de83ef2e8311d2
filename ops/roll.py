"""Roll a new image or user data through the cluster, one node at a time.

    python -m ops.roll [--stack S] [--only NAME ...] [--engine pulumi|lab]

Each node is replaced with `pulumi up --replace <its instance URN>` (stack output
`nodes[].instanceUrn`): the new instance takes the stack's AMI and user data now
(ignored inputs take their new values in a replacement), joins, and the old node is
drained, leaves and is removed at the end of that run (components/swarm). The next
node starts only after the run succeeded and the stack's smoke test says the service
answers again. Workers first, then managers from the last to manager-1, so that at
most one manager is out at a time and Raft keeps its quorum; manager-1's replacement
joins through manager-2 or, with one manager, a worker promoted for the duration.
The first failure stops the roll: the nodes not yet replaced are untouched, and the
run can be repeated (`--only` the rest).

`--engine lab` (or `lab-vm`, the VM lab's) runs the same steps with the lab's engine
(python -m lab.engine), which takes the same arguments; that is the only difference. The flags are the CLI's
(pulumi/pulumi v3.259.0 pkg/cmd/pulumi/operations/up.go: --replace, --skip-preview,
--yes, --policy-pack; pkg/cmd/pulumi/stack/stack_output.go: --json).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

ENGINES = {
    "pulumi": ["pulumi"],
    "lab": [sys.executable, "-m", "lab.engine"],
    "lab-vm": [sys.executable, "-m", "lab.engine", "--backend", "vm"],
}


@dataclass(frozen=True)
class Target:
    name: str
    role: str
    urn: str


def number(name: str) -> int:
    m = re.search(r"-(\d+)$", name)
    return int(m.group(1)) if m else 0


def order(nodes: Sequence[dict[str, str]], only: Sequence[str] = ()) -> list[Target]:
    """The replacement order: workers, then managers from the highest number down, so
    manager-1 (the entry manager) goes last. Pure."""
    want = set(only)
    unknown = want - {n["name"] for n in nodes}
    if unknown:
        raise SystemExit(f"roll: no such node in the stack: {', '.join(sorted(unknown))}")
    picked = [Target(n["name"], n["role"], n["instanceUrn"]) for n in nodes if not want or n["name"] in want]
    workers = sorted((t for t in picked if t.role == "worker"), key=lambda t: number(t.name))
    managers = sorted((t for t in picked if t.role == "manager"), key=lambda t: -number(t.name))
    return [*workers, *managers]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    print("roll: $ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, text=True, stdout=subprocess.PIPE)


def output(engine: list[str], stack: str, name: str) -> object:
    res = run([*engine, "stack", "output", name, "--json", "--stack", stack])
    if res.returncode != 0:
        raise SystemExit(f"roll: cannot read the stack output {name!r} (exit {res.returncode})")
    return json.loads(res.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ops.roll", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--stack", default="dev")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="replace only this node (repeat)")
    ap.add_argument("--engine", choices=sorted(ENGINES), default="pulumi")
    ap.add_argument("--policy-pack", default="", help="passed to every `up` (make roll passes policy)")
    args = ap.parse_args(argv)
    engine = ENGINES[args.engine]
    nodes = output(engine, args.stack, "nodes")
    assert isinstance(nodes, list)
    plan = order(nodes, args.only)
    print(f"roll: {len(plan)} node(s), one at a time: {', '.join(t.name for t in plan)}", file=sys.stderr)
    extra = ["--policy-pack", args.policy_pack] if args.policy_pack else []
    for i, t in enumerate(plan, 1):
        t0 = time.monotonic()
        res = run([*engine, "up", "--yes", "--skip-preview", "--stack", args.stack, "--replace", t.urn, *extra])
        if res.returncode != 0:
            print(f"roll: stopped at {t.name} ({i}/{len(plan)}): its `up` failed (exit {res.returncode}); "
                  "nodes after it were not touched", file=sys.stderr)  # fmt: skip
            return 1
        smoke = str(output(engine, args.stack, "smokeTest"))
        if not smoke.startswith("ok:"):
            print(f"roll: stopped after {t.name}: the smoke test says {smoke!r}", file=sys.stderr)
            return 1
        print(f"roll: {t.name} replaced in {time.monotonic() - t0:.0f} s ({i}/{len(plan)}); {smoke}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

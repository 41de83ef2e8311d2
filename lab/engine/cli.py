"""`python -m lab.engine up [--set K=V]... [--replace URN|NAME]... [--stack S] [--replay]`,
`python -m lab.engine destroy [--run-program] [--stack S]` and
`python -m lab.engine stack output NAME --json [--stack S]`: the arguments `pulumi` takes
for the same, so a deployer-side script (ops/roll.py) runs either one unchanged."""

from __future__ import annotations

import argparse
import json
import sys

from lab import engine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lab.engine", description=(engine.__doc__ or "").split("\n\n")[0])
    ap.add_argument("--backend", choices=["namespace", "vm"], default="namespace",
                    help="the lab's hosts (lab/hosts.sh) or the VM lab's VMs (make vm-lab)")  # fmt: skip
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="run the program against the lab hosts")
    p_up.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="set a stack config value for this and later runs (as `pulumi up --config`)")  # fmt: skip
    p_up.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="URN|NAME",
        help="replace this resource (a URN, a URN glob, or a node name such as swarm-worker-2)",
    )
    p_up.add_argument("--stack", default="lab")
    p_up.add_argument("--replay", action="store_true", help="run every command again (idempotence check)")
    # pulumi's non-interactive flags: the lab engine never asks and never previews first.
    p_up.add_argument("--yes", "-y", action="store_true", help=argparse.SUPPRESS)
    p_up.add_argument("--skip-preview", action="store_true", help=argparse.SUPPRESS)
    p_up.add_argument("--policy-pack", default="", help=argparse.SUPPRESS)
    p_stack = sub.add_parser("stack", help="stack output NAME --json: one output of the last run")
    p_stack.add_argument("what", choices=["output"])
    p_stack.add_argument("name")
    p_stack.add_argument("--json", action="store_true", required=True)
    p_stack.add_argument("--stack", default="lab")
    p_down = sub.add_parser("destroy", help="delete every resource of the stack, dependents first")
    p_down.add_argument("--run-program", action="store_true",
                        help="run the program first (as `pulumi destroy --run-program`)")  # fmt: skip
    p_down.add_argument("--stack", default="lab")
    args = ap.parse_args(argv)
    where: dict = {}
    if args.backend == "vm":
        from lab.vm.backend import VM_STATE, VmBackend

        where = {"backend": VmBackend(VM_STATE), "state_dir": VM_STATE}
    try:
        if args.cmd == "stack":
            outputs = engine.stack_outputs(stack=args.stack, state_dir=where.get("state_dir"))
            if args.name not in outputs or args.name in ("privateKey", "unlockKey"):
                raise RuntimeError(f"current stack does not have output property '{args.name}'")
            print(json.dumps(outputs[args.name], indent=2))
        elif args.cmd == "up":
            sets = [kv for item in args.set for kv in item.split()]  # LAB_SET="a=1 b=2" arrives as one
            bad = [kv for kv in sets if "=" not in kv]
            if bad:
                ap.error(f"--set needs KEY=VALUE, got {bad[0]!r}")
            overrides = dict(kv.split("=", 1) for kv in sets)
            out = engine.up(overrides, replay=args.replay, stack=args.stack, replace=args.replace, **where)
            print(json.dumps({k: v for k, v in out.exports.items() if k not in ("privateKey", "unlockKey")}, indent=2))
        else:
            engine.destroy(stack=args.stack, run_program_first=args.run_program, **where)
    except Exception as exc:
        print(f"lab.engine {args.cmd}: failed: {exc}", file=sys.stderr)
        return 1
    return 0

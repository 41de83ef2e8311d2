"""The lab engine: a model of `pulumi up` / `pulumi destroy` that runs __main__.py,
unchanged, under Pulumi's mock runtime and makes what it registers real on the lab's
hosts through the lab's providers (lab/providers/).

    config.py   the stack's config as the CLI builds it
    state.py    the checkpoint (secrets sealed)
    plan.py     per registration: same / update / replace / create; deletes' order
    apply.py    runs the steps and the deletes as the engine does (failures included)
    events.py   structured events (JSON lines) + the human log
    cli.py      python -m lab.engine up [--set K=V]... [--replace URN|NAME]... | destroy [--run-program]

Nothing here knows namespaces or VMs: hosts come from a Backend (lab/backends/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi.runtime import mocks as pmocks  # noqa: E402

from harness import sdk_private  # noqa: E402
from harness.run import PROJECT, RecordingMonitor, Registration, run_program, secret, unwrap  # noqa: E402
from lab.backends import Backend, Host  # noqa: E402
from lab.backends.namespace import NamespaceBackend, discover_hosts  # noqa: E402
from lab.engine import config as configmod  # noqa: E402
from lab.engine.apply import Deployment  # noqa: E402
from lab.engine.events import Events  # noqa: E402
from lab.engine.state import LabState, Resource, State  # noqa: E402
from lab.providers import aws  # noqa: E402
from lab.providers.base import Provider, Recorded  # noqa: E402
from lab.providers.command import CommandProvider  # noqa: E402
from lab.providers.docker import DockerProvider  # noqa: E402

# The default state directory, read once; everything below takes the directory as an argument.
LAB_STATE = Path(os.environ.get("LAB_STATE", "/tmp/swarmlab-state"))
COMMAND_TYPES = ("command:remote:Command", "command:local:Command")

__all__ = ["LAB_STATE", "ROOT", "Backend", "Host", "LabState", "NamespaceBackend", "Outcome", "Resource", "State",
           "destroy", "discover_hosts", "providers_for", "resolve_replace", "stack_config", "unwrap", "up"]  # fmt: skip


def providers_for(backend: Backend, state: State) -> dict[str, Provider]:
    """The lab's provider for each resource type (the rest: recorded)."""
    return {
        "aws:ec2/instance:Instance": aws.InstanceProvider(backend, state),
        "aws:ec2/keyPair:KeyPair": aws.KeyPairProvider(),
        aws.LOAD_BALANCER: aws.LoadBalancerProvider(),
        "tls:index/privateKey:PrivateKey": aws.PrivateKeyProvider(),
        "command:remote:Command": CommandProvider(remote=True),
        "command:local:Command": CommandProvider(remote=False),
        "docker:index/network:Network": DockerProvider("network"),
        "docker:index/service:Service": DockerProvider("service"),
    }


class LabMocks(pmocks.Mocks):
    """The mock runtime's hooks, handed to the deployment. DESTROY: `destroy
    --run-program` (registrations resolve to the state's outputs; nothing is created)."""

    def __init__(self, deployment: Deployment, destroy: bool = False) -> None:
        self.deployment = deployment
        self.destroy = destroy
        self.monitor: RecordingMonitor | None = None

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return aws.invoke(args.token, dict(args.args)), []

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        reg: Registration = self.monitor.current.registration  # type: ignore[union-attr]
        if self.destroy:
            return self.deployment.register_for_destroy(reg)
        return self.deployment.register(reg)


def stack_config(path: Path, overrides: dict[str, str]) -> dict[str, Any]:
    """The stack file's own values (short keys) with OVERRIDES: for the VM lab's packages."""
    import yaml

    data = yaml.safe_load(path.read_text())["config"]
    cfg = {(k.split(":", 1)[1] if k.startswith(PROJECT + ":") else k): v for k, v in data.items()}
    cfg.update(overrides)
    return cfg


def lab_key(state_dir: Path) -> tuple[str, str]:
    """The lab's SSH key pair (made once): the stack's sshPublicKey / secret sshPrivateKey."""
    key = state_dir / "lab_ed25519"
    if not key.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarm-lab", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip(), key.read_text()


def build_config(
    state_dir: Path, stack: str, overrides: dict[str, str], validate: bool = True
) -> configmod.StackConfig:
    """The stack's config: Pulumi.<stack>.yaml + saved `--set` values + the lab's key
    (public plain, private as `config set --secret` would store it)."""
    import yaml

    pub, priv = lab_key(state_dir)
    project_doc = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stack_doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    values: dict[str, Any] = dict(stack_doc.get("config") or {})
    values["sshPublicKey"] = pub
    values["sshPrivateKey"] = configmod.Secret(priv)
    return configmod.build(project_doc, stack, values, overrides=overrides, validate=validate)


def resolve_replace(targets: list[str], state: State) -> set[str]:
    """`--replace`: URNs (globs: `*` = [^:]*, `**` = .*, as deploy.NewUrnTargets) or, a
    lab convenience, a node name as the stack output `nodes[].name` shows it (the
    instance of that name). A target not in the stack fails as `checkTargets`."""
    out: set[str] = set()
    for t in targets:
        if t.startswith("urn:pulumi:"):
            if "*" in t:
                rx = re.compile("^" + re.escape(t).replace(r"\*\*", ".*").replace(r"\*", "[^:]*") + "$")
                out |= {u for u in state.resources if rx.match(u)}
                continue
            if t in state.resources:
                out.add(t)
                continue
        else:
            named = [r.urn for r in state.resources.values() if r.name == t and r.type == "aws:ec2/instance:Instance"]
            if named:
                out |= set(named)
                continue
        hint = "" if "$" in t else " Did you forget to escape $ in your shell?"
        raise RuntimeError(f"Target '{t}' could not be found in the stack.{hint}\n"
                           "one or more targets could not be found in the stack")  # fmt: skip
    return out


SEALED = "sealed"


def config_values(state: State) -> dict[str, Any]:
    """The `--set` values saved in STATE, secrets unsealed as configmod.Secret."""
    return {
        k: configmod.Secret(state.vault.open(v[SEALED])) if isinstance(v, dict) and SEALED in v else v
        for k, v in state.config.items()
    }


@dataclass
class Outcome:
    exports: dict[str, Any]
    deleted: list[str]
    stats: dict[str, int]  # steps by op: same / create / update / replace / delete
    seconds: float
    registrations: list[Registration]
    run: str  # the events' run id


def _deployment(state: State, backend: Backend, events: Events, providers: dict[str, Provider] | None,
                **kw: Any) -> Deployment:  # fmt: skip
    return Deployment(state, providers if providers is not None else providers_for(backend, state), events,
                      default=Recorded(), **kw)  # fmt: skip


def up(
    overrides: dict[str, Any] | None = None,
    replay: bool = False,
    stack: str = "lab",
    echo: bool = True,
    backend: Backend | None = None,
    *,
    state_dir: Path | None = None,
    replace: list[str] | None = None,
    providers: dict[str, Provider] | None = None,
) -> Outcome:
    """One `pulumi up` of stack STACK on the lab's hosts."""
    state_dir = state_dir or (backend.state_dir if backend is not None else LAB_STATE)
    backend = backend or NamespaceBackend(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if not (state_dir / "stack.json").exists():
        # A new stack: the deployer-side files of an old one (known_hosts of hosts since
        # re-created with new host keys) would make ssh refuse them.
        shutil.rmtree(ROOT / ".ssh" / stack, ignore_errors=True)
    state = State(state_dir)
    # `up --config K=V` saves to the stack's config before the update runs (up.go parseAndSaveConfigArray):
    # a string. From Python, a list stands for `pulumi config set --path 'K[0]' ...` (a
    # real array, which `-c` cannot give), a configmod.Secret for `pulumi config set
    # --secret` (kept sealed in the state, never logged) and None for `pulumi config rm K`.
    if overrides:
        for k, v in overrides.items():
            if v is None:
                state.config.pop(k, None)
            elif isinstance(v, configmod.Secret):
                state.config[k] = {SEALED: state.vault.seal(v.value)}
            else:
                state.config[k] = v if isinstance(v, list) else str(v)
        state.save()
    run_values = config_values(state)
    if os.environ.get("LAB_MESH") == "auto" and Path("/proc/net/ip_vs").exists() and "smokeTestMode" not in run_values:
        run_values["smokeTestMode"] = "mesh"  # a kernel with IP_VS (GitHub's runners): check the mesh for real
    events = Events(state_dir, echo)
    shown = {k: "[secret]" if isinstance(v, configmod.Secret) else v for k, v in run_values.items()}
    given = ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or f"as in Pulumi.{stack}.yaml"
    events.phase("start", f"up: stack {stack}, config {given}{' (replay)' if replay else ''}", op="up", stack=stack,
                 config=shown)  # fmt: skip
    cfg = build_config(state_dir, stack, run_values)
    targets = resolve_replace(list(replace or []), state)
    dep = _deployment(state, backend, events, providers, replace=targets,
                      replay_types=COMMAND_TYPES if replay else ())  # fmt: skip
    mocks = LabMocks(dep)
    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    t0 = time.monotonic()
    try:
        run = run_program(mocks, cfg.plain(PROJECT), stack=stack, secret_keys=cfg.short_secret_keys(PROJECT),
                          monitor=mon)  # fmt: skip
    except BaseException as exc:
        err = dep.error or exc
        events.phase("failed", f"up: failed: {err}", error=str(err))
        raise err from None
    events.phase("program", "up: program finished")
    try:
        dep.finish()
    except BaseException as exc:
        events.phase("failed", f"up: failed: {exc}", error=str(exc))
        raise
    seconds = time.monotonic() - t0
    # The stack resource's outputs, as `pulumi stack output` reads them (secrets sealed).
    # Secret outputs (privateKey, unlockKey) are kept only sealed, as the engine encrypts them.
    state.exports = state.vault.seal_tree(
        {k: secret(v) if k in run.secret_exports else v for k, v in run.exports.items()}
    )
    state.save()
    events.phase("done", f"up: done in {seconds:.1f}s: {dep.stats.ops}, deleted {dep.deleted}", seconds=seconds,
                 stats=dep.stats.ops, deleted=dep.deleted)  # fmt: skip
    return Outcome(run.exports, dep.deleted, dict(dep.stats.ops), seconds, mon.registrations, events.run)


def stack_outputs(stack: str = "lab", state_dir: Path | None = None) -> dict[str, Any]:
    """`pulumi stack output`: the outputs of the stack's last successful update."""
    state = State(state_dir or LAB_STATE)
    return state.vault.open_tree(state.exports)


def destroy(
    echo: bool = True,
    backend: Backend | None = None,
    *,
    stack: str = "lab",
    run_program_first: bool = False,
    state_dir: Path | None = None,
    providers: dict[str, Provider] | None = None,
) -> list[str]:
    """`pulumi destroy`: every resource of the state deleted, dependents first, each with
    the state's inputs and its provider's configuration from the state. With
    RUN_PROGRAM_FIRST (`--run-program`, pkg/engine/destroy.go DestroyV2): the program
    runs first; a registration of a resource in the state resolves to the state's
    outputs (a SameStep, no provider call), one not in the state to unknowns (a skipped
    create), providers take the program's fresh configuration; then everything goes."""
    state_dir = state_dir or (backend.state_dir if backend is not None else LAB_STATE)
    backend = backend or NamespaceBackend(state_dir)
    state = State(state_dir)
    if not state.resources and not state.pending_deletes:
        return []
    events = Events(state_dir, echo)
    events.phase("start", f"destroy: stack {stack}{' (--run-program)' if run_program_first else ''}", op="destroy",
                 stack=stack)  # fmt: skip
    dep = _deployment(state, backend, events, providers)
    if run_program_first:
        cfg = build_config(state_dir, stack, config_values(state))  # validated, as with --run-program
        mocks = LabMocks(dep, destroy=True)
        mon = RecordingMonitor(mocks)
        mocks.monitor = mon
        try:
            run_program(mocks, cfg.plain(PROJECT), stack=stack, secret_keys=cfg.short_secret_keys(PROJECT),
                        monitor=mon)  # fmt: skip
        except BaseException as exc:
            raise dep.error or exc from None
        events.phase("program", "destroy: program finished")
    with state.lock:
        everything = [*state.pending_deletes, *state.resources.values()]
    dep.delete_all(everything)
    state.exports = {}
    state.save()
    events.phase("done", f"destroy: deleted {len(dep.deleted)} resources", deleted=dep.deleted)
    return dep.deleted


UNKNOWN = sdk_private.UNKNOWN

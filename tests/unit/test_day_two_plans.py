"""What the engine plans when a node changes under a running cluster (issue 13, item 6),
under the lab engine's model of the engine and providers, with no host: the instance
and command models decide create / update / replace as the real providers do
(lab/providers/aws.py: aws_instance's ForceNew set; command.py: only `triggers`
replace), and nothing runs. The lab cannot give a node a public address apart from its
private one: here the model's instance update does, as AWS's stop-modify-start does."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import pytest

from harness.run import secret, unwrap
from lab import engine
from lab.engine import events as engine_events
from lab.providers.aws import InstanceProvider
from lab.providers.base import Ctx, Old, Recorded
from lab.providers.command import CommandProvider, Result
from tests.cloudmocks import FAKE_DISTRIBUTION

if TYPE_CHECKING:
    from lab.backends import Backend

CMD_TYPES = ("command:remote:Command", "command:local:Command")


class Instances(InstanceProvider):
    """EC2 without hosts: a private address for life; a public one that changes when the
    instance is stopped and started (an instance type change is stop, modify, start)."""

    ips = itertools.count(10)  # one sequence for every run: an address is never given twice

    def __init__(self) -> None:  # no backend, no state: nothing is launched
        pass

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        n = next(self.ips)
        return f"i-{n}", {**inputs, "publicIp": f"203.0.113.{n}", "privateIp": f"10.0.0.{n}"}

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        stopped = old.inputs.get("instanceType") != news.get("instanceType")
        public = f"203.0.113.{next(self.ips)}" if stopped else old.outputs["publicIp"]
        return {**news, "publicIp": public, "privateIp": old.outputs["privateIp"]}


class Commands(CommandProvider):
    """pulumi-command's diff and operations; the command itself is not run, but noted
    in RUNS as (step, operation, where: the connection's host and proxy, or "local")."""

    runs: ClassVar[list[tuple[str, str, str]]] = []

    def _run(self, ctx: Ctx, inputs: dict[str, Any], text: str, op: str, prev: dict[str, Any] | None) -> Result:
        conn = unwrap(inputs).get("connection") or {}
        where = f"{conn.get('host')} via {(conn.get('proxy') or {}).get('host')}" if conn else "local"
        self.runs.append((ctx.name, op, where))
        said = {"boot-init": "swarmid42\n", "app-image": FAKE_DISTRIBUTION, "boot-unlock-key": "SWMKEY-1-fake\n"}
        return Result(said.get(ctx.name, ""), "")


def plan(tmp: Path, replace: list[str] | None = None, **config: object) -> dict[str, set[str]]:
    """One `up` with CONFIG: resource name -> the operations it got."""
    Commands.runs.clear()
    providers: dict[str, Any] = {
        **engine.providers_for(
            cast("Backend", _NoHosts(tmp)), engine.State(tmp)
        ),  # keys and key pairs as the lab makes them
        "aws:ec2/instance:Instance": Instances(),
        **{t: Commands(remote=t.endswith("remote:Command")) for t in CMD_TYPES},
        "docker:index/network:Network": Recorded(),
        "docker:index/service:Service": Recorded(),
    }
    values = {k: v if isinstance(v, list) else str(v) for k, v in config.items()}
    out = engine.up(values, state_dir=tmp, providers=providers, backend=cast("Backend", _NoHosts(tmp)), echo=False,
                    replace=replace)  # fmt: skip
    ops: dict[str, set[str]] = {}
    for e in engine_events.read(tmp, out.run):
        if e["kind"] == "step" and e.get("phase") == "start":
            ops.setdefault(e["name"], set()).add(e["op"])
    return ops


class _NoHosts:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir


@pytest.fixture(scope="module")
def _base_cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default stack's state after its first `up`, planned once for the module."""
    base = tmp_path_factory.mktemp("base-cluster")
    plan(base)
    return base


@pytest.fixture
def cluster(_base_cluster: Path, tmp_path: Path) -> Path:
    """A copy of the base state of its own for each test (the state holds no path of its
    directory), so that one test's plan never sees another's."""
    shutil.copytree(_base_cluster, tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_an_instance_type_change_updates_in_place_and_replaces_no_step(cluster: Path) -> None:
    ops = plan(cluster, instanceType="t3.small")
    instances = {n: o for n, o in ops.items() if n.startswith("swarm-") and "-hostkey" not in n}
    assert instances == {n: {"update"} for n in ("swarm-manager-1", "swarm-worker-1", "swarm-worker-2")}
    assert not [n for n, o in ops.items() if "replace" in o or "delete" in o], ops
    # A node's own steps (gate, keys, join, label) ran once for its instance: a new public
    # address runs none again; init does not run either.
    for step in (
        "boot-join-worker-1",
        "boot-ready-manager-1",
        "boot-keys-worker-1",
        "boot-label-worker-1",
        "boot-init",
    ):
        assert step not in ops, (step, ops.get(step))
    # Steps with a delete record the new address of the node they run on (no run).
    assert ops["boot-member-worker-1"] == {"update"} and ops["boot-leave-worker-1"] == {"update"}
    # What runs again is on the managers (reads, settings, the checks), never a node's own step.
    assert not [r for r in Commands.runs if any(f"-{s}-" in r[0] for s in ("ready", "keys", "join", "label"))]
    assert ops["app-docker"] == {"update"}  # the docker provider follows manager-1's address


def test_a_new_ami_or_user_data_replaces_no_running_node(cluster: Path) -> None:
    ops = plan(cluster, dockerInsecureRegistries=["10.0.0.9:5000"])
    assert not [n for n in ops if n.startswith("swarm-") and "replace" in ops[n]], ops


def test_a_retired_instance_is_created_again_and_its_old_node_removed(cluster: Path) -> None:
    """`pulumi refresh` drops an instance AWS terminated from the state; the next `up`
    creates it again, and every step of the old node follows: new steps, and the old
    node's drain, leave and forget at the end."""
    state = engine.State(cluster)
    (gone,) = state.by_name("swarm-worker-2")
    state.forget(gone)
    ops = plan(cluster)
    assert ops["swarm-worker-2"] == {"create"}
    for step in ("boot-join-worker-2", "boot-member-worker-2", "boot-forget-worker-2", "boot-leave-worker-2"):
        assert ops[step] == {"replace", "delete"}, (step, ops[step])
    assert "swarm-worker-1" not in ops and "swarm-manager-1" not in ops


def test_replacing_the_jump_host_runs_nothing_on_the_private_workers(tmp_path: Path) -> None:
    """privateWorkers: manager-1 is the workers' jump host (their connections' proxy).
    Replacing it changes every worker's connection, and must run none of their steps
    again: only manager-1's own steps, the sponsor's steps for it, and the checks."""
    plan(tmp_path, privateWorkers="true")
    first = {r[2] for r in Commands.runs if r[0] == "boot-ready-worker-1"}
    assert len(first) == 1 and " via 203.0.113." in first.pop()  # the worker, through manager-1
    ops = plan(tmp_path, ["swarm-manager-1"], privateWorkers="true")
    assert ops["swarm-manager-1"] >= {"replace"}
    on_workers = [r for r in Commands.runs if "worker" in r[0] and not r[0].startswith("boot-token")]
    # worker-1 is manager-1's sponsor: what runs there is for manager-1 (its token, its
    # removal), through the jump host (the new manager-1 for the token, the old one for
    # the removal, which is still up until the end of the run).
    assert {r[0] for r in on_workers} <= {"boot-forget-manager-1", "boot-drain-manager-1"}, on_workers
    for step in ("ready", "keys", "join", "label"):
        for w in ("worker-1", "worker-2"):
            assert f"boot-{step}-{w}" not in ops, (step, w, ops.get(f"boot-{step}-{w}"))


def test_secret_stack_outputs_are_kept_sealed(cluster: Path) -> None:
    """`stack output` reads the last run's outputs from the lab state: a secret one
    (the generated key, the unlock key) is in the file only sealed."""
    plan(cluster, autolock="true")
    text = (cluster / "stack.json").read_text()
    assert "SWMKEY" not in text
    assert engine.stack_outputs(state_dir=cluster)["unlockKey"] == secret("SWMKEY-1-fake")

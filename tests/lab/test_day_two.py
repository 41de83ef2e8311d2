"""Day two on real hosts (issue 13): manager-1 replaced with and without other managers,
the manager count raised and lowered, a rolling upgrade of the default stack while
the service is probed, and the one replacement that must be refused."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import pytest

from lab import engine
from lab.engine import events as engine_events
from lab.summary import answering, collect, describe_tasks, settled, socket_client
from tests.lab.test_lab import reset, state, up

pytestmark = pytest.mark.lab


@pytest.fixture
def fresh(lab_hosts: int) -> int:
    reset(lab_hosts)
    return lab_hosts


def cluster_id() -> str:
    """Asked of manager-1's host now (the lab's state says which host that is)."""
    c = socket_client(state().hosts["swarm-manager-1"])
    try:
        return c.info()["Swarm"]["Cluster"]["ID"]
    finally:
        c.close()


def whole(managers: int, nodes: int) -> None:
    """NODES nodes, all Ready and Active, MANAGERS of them managers, the service whole:
    as soon as it is, within the program's own waits (lab/summary.py settled)."""
    s, waited = settled()
    print(f"whole: the swarm settled after {waited:.1f} s")
    assert len(s.nodes) == nodes, s.nodes
    assert all(n["state"] == "ready" and n["availability"] == "active" for n in s.nodes), s.nodes
    ranks = sorted(n["manager"].lower() for n in s.nodes if n["role"] == "manager")
    assert ranks == ["leader"] + ["reachable"] * (managers - 1), s.nodes
    assert s.service["running"] == s.service["desired"] == 2, s.service
    assert answering(s), f"after {waited:.0f} s: {describe_tasks(s)}"


def instance_ops(run: str) -> set[tuple[str, str]]:
    """(instance name, what the run did to it: create / replace / delete)."""
    return {
        (e["name"], e["op"])
        for e in engine_events.read(engine.LAB_STATE, run)
        if e["kind"] == "step" and e.get("phase") == "start" and e.get("type") == "aws:ec2/instance:Instance"
    }


def test_replacing_manager_1_of_three_keeps_the_swarm(fresh: int) -> None:
    """3 managers + 2 workers, `--replace swarm-manager-1`: the new host joins through
    manager-2 (no second `swarm init`), the old one is drained, demoted, leaves and is
    removed: same cluster ID, Leader + 2 Reachable, none Down."""
    up(managerCount=3, workerCount=2)
    before, old_host = cluster_id(), state().hosts["swarm-manager-1"]
    out = engine.up({}, replace=["swarm-manager-1"])
    assert state().hosts["swarm-manager-1"] != old_host
    assert cluster_id() == before == out.exports["swarmId"]
    whole(managers=3, nodes=5)
    assert f"swl-n{old_host}" not in {n["hostname"] for n in collect().nodes}
    assert instance_ops(out.run) == {("swarm-manager-1", "replace"), ("swarm-manager-1", "delete")}


def test_replacing_the_only_node_is_refused(fresh: int) -> None:
    """A 1-node swarm has no node to carry it over: the handover refuses, before the new
    host could make a new, empty swarm; the old node keeps the swarm."""
    up(workerCount=0)
    before, old_host = cluster_id(), state().hosts["swarm-manager-1"]
    with pytest.raises(Exception, match="refusing to replace the only node of the swarm"):
        engine.up({}, replace=["swarm-manager-1"])
    c = socket_client(old_host)
    try:
        assert c.info()["Swarm"]["Cluster"]["ID"] == before
    finally:
        c.close()


@pytest.mark.leaves_default_stack
def test_replacing_the_only_manager_keeps_the_swarm(default_stack: int) -> None:
    """1 manager + 2 workers, `--replace swarm-manager-1`: worker-1 is promoted while
    the old manager goes (the handover), the new host joins through it, and worker-1 is
    a worker again at the end: same cluster ID, 1 manager, none Down, service whole."""
    before = cluster_id()
    out = engine.up({}, replace=["swarm-manager-1"])
    assert cluster_id() == before == out.exports["swarmId"]
    whole(managers=1, nodes=3)
    roles = {n["hostname"]: n["role"] for n in collect().nodes}
    assert roles[f"swl-n{state().hosts['swarm-worker-1']}"] == "worker"
    said = "\n".join(e["line"] for e in engine_events.read(engine.LAB_STATE, out.run) if e["kind"] == "output")
    assert "promoted" in said and "demoted this node" in said and "joined the swarm" in said


def test_manager_count_1_3_1_replaces_no_other_node(default_stack: int) -> None:
    """Raising and lowering managerCount adds and removes managers and touches no other
    instance; the two managers go one after the other (manager-3 first)."""
    ids = {n: state().by_name(n)[0].id for n in ("swarm-manager-1", "swarm-worker-1", "swarm-worker-2")}
    first = cluster_id()
    grow = up(managerCount=3)
    assert instance_ops(grow.run) == {("swarm-manager-2", "create"), ("swarm-manager-3", "create")}
    whole(managers=3, nodes=5)
    shrink = up(managerCount=1)
    assert instance_ops(shrink.run) == {("swarm-manager-2", "delete"), ("swarm-manager-3", "delete")}
    whole(managers=1, nodes=3)
    assert {n: state().by_name(n)[0].id for n in ids} == ids
    assert cluster_id() == first
    # One manager out at a time: manager-3 demoted before manager-2's drain starts.
    lines = [(e["name"], e["line"]) for e in engine_events.read(engine.LAB_STATE, shrink.run) if e["kind"] == "output"]
    m3 = max(i for i, (n, line) in enumerate(lines) if n == "boot-forget-manager-3" and "removed node" in line)
    m2 = min(i for i, (n, line) in enumerate(lines) if n == "boot-member-manager-2")
    assert m3 < m2, lines


def test_destroy_works_when_manager_1_is_already_gone(default_stack: int) -> None:
    """Its sshd and dockerd stopped (the host unreachable, as a terminated instance): the
    destroy runs no swarm step (deleted with the VPC) and removes everything."""
    k = state().hosts["swarm-manager-1"]
    for daemon in ("sshd", "dockerd"):
        subprocess.run([str(engine.ROOT / "lab" / "hosts.sh"), "kill-daemon", str(k), daemon], check=True)
    try:
        deleted = engine.destroy()
        assert "boot-member-worker-1" in deleted and "swarm-manager-1" in deleted
        assert not state().resources
        skipped = [e["name"] for e in engine_events.read(engine.LAB_STATE) if e.get("phase") == "skipped"]
        assert {"boot-member-worker-1", "boot-leave-worker-1", "boot-forget-worker-1", "app-service"} <= set(skipped)
    finally:
        for daemon in ("dockerd", "sshd"):
            subprocess.run([str(engine.ROOT / "lab" / "hosts.sh"), "start-daemon", str(k), daemon], check=True)


@dataclass
class Prober:
    """Every 0.5 s, one probe of every task of the service on every lab host: one
    request from inside its container to itself, 1 s timeout, no retry. Records how
    many answered in each round."""

    hosts: int
    rounds: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def answering(self) -> int:
        n = 0
        for k in range(1, self.hosts + 1):
            try:
                c = socket_client(k)
            except Exception:
                continue
            try:
                for ctr in c.containers.list(filters={"label": "com.docker.swarm.service.name=testapp"}):
                    res = ctr.exec_run(["timeout", "1", "wget", "-q", "-O-", "http://127.0.0.1:5000/"])
                    n += res.exit_code == 0
            except Exception:
                pass
            finally:
                c.close()
        return n

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.is_set():
            self.rounds.append((round(time.monotonic() - t0, 1), self.answering()))
            self.stop.wait(0.5)


@pytest.mark.leaves_default_stack
def test_rolling_upgrade_of_the_default_stack_keeps_the_service_answering(default_stack: int) -> None:
    """`make roll`'s script (ops/roll.py) with the lab's engine: every node of the default
    1 + 2 stack replaced, one at a time; at every probe at least replicas - 1 = 1 task
    answers; afterwards every node is a new host and the swarm is the same one."""
    first, hosts_before = cluster_id(), dict(state().hosts)
    prober = Prober(default_stack)
    thread = threading.Thread(target=prober.run, daemon=True)
    thread.start()
    try:
        res = subprocess.run([sys.executable, "-m", "ops.roll", "--engine", "lab", "--stack", "lab"],
                             cwd=engine.ROOT, capture_output=True, text=True, timeout=1800)  # fmt: skip
    finally:
        prober.stop.set()
        thread.join()
    assert res.returncode == 0, res.stderr[-4000:]
    assert "swarm-manager-1 replaced" in res.stderr
    after = state().hosts
    assert all(after[n] != hosts_before[n] for n in hosts_before), (hosts_before, after)
    assert cluster_id() == first
    whole(managers=1, nodes=3)
    low = [r for r in prober.rounds if r[1] < 1]
    print(f"probes: {len(prober.rounds)} rounds, fewest answering {min(a for _, a in prober.rounds)}")
    assert len(prober.rounds) > 20 and not low, low

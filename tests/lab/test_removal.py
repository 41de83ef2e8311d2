"""Removal never guesses (issue 13, item 5), on real hosts: a scale-down (workerCount
2 -> 1) while the manager cannot tell what is in its swarm fails with the reason and
forgets nothing; the next run, once the manager answers again, completes the removal.

    locked       autolock=true, the manager's dockerd restarted: its swarm is locked
                 until `docker swarm unlock` with the unlock key (stack output unlockKey)
    daemon down  the manager's dockerd stopped

Each case also runs the worker's own removal steps (drain, forget: the delete commands
the state holds) straight on the manager, so the guard of each is seen against a real
dockerd and not only against the fake docker of tests/unit/test_scripts.py.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab import engine
from lab.providers.command import CommandFailed, Result, run_remote
from lab.summary import collect, socket_client
from tests.lab.test_lab import HOSTS_SH, output_of, reset, state, swarm_state, up

pytestmark = pytest.mark.lab

WORKER = "worker-2"  # the node a scale-down from 2 workers to 1 takes out
# What the program keeps for that node while it is in the swarm (components/swarm.py).
NODE_RESOURCES = {f"swarm-{WORKER}", f"boot-ready-{WORKER}", f"boot-join-{WORKER}", f"boot-leave-{WORKER}",
                  f"boot-forget-{WORKER}", f"boot-member-{WORKER}"}  # fmt: skip
LOCKED = (
    "error: cannot tell: the swarm is locked on this manager (autolock: Docker restarted): run docker swarm "
    "unlock with the unlock key (stack output unlockKey), then run again"
)
DAEMON_DOWN = "error: cannot tell: the Docker daemon does not answer: Cannot connect to the Docker daemon"


@pytest.fixture
def fresh(lab_hosts: int) -> int:
    reset(lab_hosts)
    return lab_hosts


def hostname(k: int) -> str:
    return f"swl-n{k}"


def said(exc: BaseException) -> str:
    """What a failed command printed. CommandFailed reads "<status>: running '<command>':"
    then the output; the command's text (one line, repr'd) quotes every message of
    scripts/lib.sh, so a match on the whole text would prove nothing."""
    text = str(exc)
    return text.split("\n", 1)[1] if "\n" in text else ""


def node_resources() -> set[str]:
    """The names of the state's resources that belong to WORKER."""
    st = state()
    return {r.name for r in [*st.resources.values(), *st.pending_deletes] if r.name.endswith(WORKER)}


def nodes_on(k: int) -> list[dict[str, str]]:
    """The swarm's nodes as manager K lists them."""
    c = socket_client(k)
    try:
        return [
            {
                "hostname": n.attrs["Description"]["Hostname"],
                "state": n.attrs["Status"]["State"],
                "availability": n.attrs["Spec"]["Availability"],
                "role": n.attrs["Spec"]["Role"],
            }
            for n in c.nodes.list()
        ]
    finally:
        c.close()


def wait_all_ready(k: int, hosts: list[int], timeout: float = 90) -> list[dict[str, str]]:
    """Manager K answers and lists every one of HOSTS, each once and Ready (after a restart
    of its dockerd: a leader first, then the nodes' heartbeats)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            nodes = nodes_on(k)
            names = sorted(n["hostname"] for n in nodes)
            if names == sorted(hostname(h) for h in hosts) and all(n["state"] == "ready" for n in nodes):
                return nodes
            last = nodes
        except Exception as exc:  # no leader yet (APIError), or no socket yet
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"manager swl-n{k}: not every node of {hosts} is Ready after {timeout:.0f} s: {last}")
        time.sleep(1)


def run_delete_of(name: str) -> Result:
    """Run resource NAME's delete command as the engine would: the state's inputs (its
    connection to the manager), straight over SSH. Raises CommandFailed as the run would."""
    st = state()
    (res,) = st.by_name(name)
    inputs, outputs = engine.unwrap(st.inputs_of(res)), engine.unwrap(st.outputs_of(res))
    return run_remote(inputs["connection"], outputs.get("delete") or inputs["delete"], None, None, None)


def hosts_of_stack() -> tuple[int, int, int]:
    """(manager, worker-1, worker-2) lab host numbers."""
    hosts = state().hosts
    return hosts["swarm-manager-1"], hosts["swarm-worker-1"], hosts[f"swarm-{WORKER}"]


def assert_nothing_forgotten(mgr: int, all_hosts: list[int], k: int) -> None:
    """The node is in the swarm, not drained, not left; its resources are in the state."""
    assert node_resources() >= NODE_RESOURCES, node_resources()
    nodes = wait_all_ready(mgr, all_hosts)
    (mine,) = [n for n in nodes if n["hostname"] == hostname(k)]
    assert mine["availability"] == "active", mine  # the drain never ran
    assert swarm_state(k) == "active"  # the node never left


def assert_removed(out: engine.Outcome, mgr: int, k: int) -> None:
    """The second run completes the removal: drained, left, gone; nothing Down left."""
    assert f"boot-member-{WORKER}" in out.deleted and f"swarm-{WORKER}" in out.deleted
    tail = output_of(out.run)
    steps = [tail.index(m) for m in ("drained node", "left the swarm", "removed node")]
    assert steps == sorted(steps), tail
    nodes = nodes_on(mgr)
    assert hostname(k) not in {n["hostname"] for n in nodes}
    assert len(nodes) == 2 and all(n["state"] == "ready" for n in nodes), nodes
    assert swarm_state(k) == "inactive"  # the node itself left
    assert node_resources() == set()
    s = collect()
    assert s.service["running"] == s.service["desired"] == 2  # tasks moved, nothing lost
    assert out.exports["smokeTest"].startswith("ok:")


@pytest.fixture
def manager_back() -> Iterator[list[int]]:
    """Whatever a test did to the manager's dockerd, it runs (and its swarm is unlocked)
    afterwards, so the next test's reset can reach it. Yields a list the test fills with
    [manager host, unlock key or 0]."""
    back: list[Any] = []
    yield back
    if not back:
        return
    k, key = back[0], back[1] if len(back) > 1 else None
    subprocess.run([HOSTS_SH, "start-daemon", str(k), "dockerd"], check=False)
    if key and swarm_state(k) == "locked":
        c = socket_client(k)
        try:
            c.swarm.unlock(key)
        finally:
            c.close()


def test_scale_down_with_the_manager_locked_fails_then_completes_once_unlocked(
    fresh: int, manager_back: list[Any]
) -> None:
    out = up(autolock="true")
    key = out.exports["unlockKey"]
    assert key.startswith("SWMKEY-1-")
    mgr, w1, k = hosts_of_stack()
    manager_back += [mgr, key]
    subprocess.run([HOSTS_SH, "kill-daemon", str(mgr), "dockerd"], check=True)
    subprocess.run([HOSTS_SH, "start-daemon", str(mgr), "dockerd"], check=True)
    assert swarm_state(mgr) == "locked"

    # The removal steps themselves, on the locked manager: they fail and say why.
    for step in (f"boot-member-{WORKER}", f"boot-forget-{WORKER}"):  # drain, forget
        with pytest.raises(CommandFailed) as failed:
            run_delete_of(step)
        assert LOCKED in said(failed.value), said(failed.value)
        assert "skip" not in said(failed.value)

    # The scale-down: the run fails with the reason (its first step on the manager
    # says it: the token read, the smoke test or the drain), and nothing is forgotten.
    with pytest.raises(CommandFailed) as failed:
        up(workerCount=1)
    assert LOCKED in said(failed.value), said(failed.value)
    assert node_resources() >= NODE_RESOURCES, node_resources()

    c = socket_client(mgr)
    try:
        c.swarm.unlock(key)
    finally:
        c.close()
    assert swarm_state(mgr) == "active"
    assert_nothing_forgotten(mgr, [mgr, w1, k], k)

    out = up(workerCount=1)
    assert_removed(out, mgr, k)


def test_scale_down_with_the_managers_docker_down_fails_then_completes_once_started(
    fresh: int, manager_back: list[Any]
) -> None:
    up()
    mgr, w1, k = hosts_of_stack()
    manager_back.append(mgr)
    subprocess.run([HOSTS_SH, "kill-daemon", str(mgr), "dockerd"], check=True)

    for step in (f"boot-member-{WORKER}", f"boot-forget-{WORKER}"):  # drain, forget
        with pytest.raises(CommandFailed) as failed:
            run_delete_of(step)
        assert DAEMON_DOWN in said(failed.value), said(failed.value)
        assert "skip" not in said(failed.value)

    with pytest.raises(CommandFailed) as failed:
        up(workerCount=1)
    assert DAEMON_DOWN in said(failed.value), said(failed.value)
    assert node_resources() >= NODE_RESOURCES, node_resources()

    subprocess.run([HOSTS_SH, "start-daemon", str(mgr), "dockerd"], check=True)
    assert swarm_state(mgr) == "active"  # no autolock: the swarm is back by itself
    assert_nothing_forgotten(mgr, [mgr, w1, k], k)

    out = up(workerCount=1)
    assert_removed(out, mgr, k)

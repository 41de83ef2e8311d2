"""The program against a real swarm: namespaces with their own dockerd and sshd,
commands over real SSH, the service on the real engine (see lab/engine/)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import docker
import docker.errors
import pytest

from lab import engine
from lab.backends.namespace import discover_hosts, free_gossip_port, leave_swarm
from lab.engine import events as engine_events
from lab.providers.command import CommandFailed, run_remote
from lab.summary import answering, collect, describe_tasks, has_ipvs, settled, socket_client

pytestmark = pytest.mark.lab
HOSTS_SH = str(engine.ROOT / "lab" / "hosts.sh")


def swarm_state(k: int) -> str:
    c = socket_client(k)
    try:
        return c.info()["Swarm"]["LocalNodeState"]
    finally:
        c.close()


def reset(n_hosts: int) -> None:
    """Back to hosts with plain Docker and an empty stack (a new `pulumi stack`)."""
    for k in range(1, n_hosts + 1):
        c = socket_client(k)
        try:
            leave_swarm(c)
        finally:
            c.close()
    for host in discover_hosts(engine.LAB_STATE)[:n_hosts]:
        free_gossip_port(host)  # a NetworkDB left running would break the next swarm there
    assert all(swarm_state(k) == "inactive" for k in range(1, n_hosts + 1))
    for name in ("stack.json", "secrets.key"):
        (engine.LAB_STATE / name).unlink(missing_ok=True)


def output_of(run: str) -> str:
    """The command output lines (stderr) the engine recorded as events in RUN."""
    return "\n".join(f"{e['name']}: {e['line']}" for e in engine_events.read(engine.LAB_STATE, run)
                     if e["kind"] == "output")  # fmt: skip


def state() -> engine.State:
    return engine.State(engine.LAB_STATE)


def up(**overrides: object) -> engine.Outcome:
    return engine.up({k: str(v) for k, v in overrides.items()}, echo=True)


def node_ids() -> dict[str, str]:
    return {n["hostname"]: n["id"] for n in collect().nodes}


@pytest.fixture
def fresh(lab_hosts: int) -> int:
    reset(lab_hosts)
    return lab_hosts


@pytest.mark.leaves_default_stack
def test_fresh_cluster_runs_the_service(fresh: int) -> None:
    out = up()
    s, waited = settled()
    assert len(s.nodes) == 3
    assert all(n["state"] == "ready" and n["availability"] == "active" for n in s.nodes)
    assert sorted(n["role"] for n in s.nodes) == ["manager", "worker", "worker"]
    assert all(set(n["labels"]) == {"az", "role"} for n in s.nodes)
    assert s.service["running"] == s.service["desired"] == 2
    assert s.service["ports"] == ["*:5001->5000/tcp (ingress)"]
    assert len(s.tasks) == 2
    assert answering(s), f"after {waited:.0f} s: {describe_tasks(s)}"  # each page names its container
    assert out.exports["smokeTest"].startswith("ok: 2/2 running")
    if has_ipvs() and os.environ.get("LAB_MESH") == "auto":
        # A kernel with IP_VS (GitHub's runners): the mesh answers on every node.
        assert "routing mesh answers on all 3 nodes" in out.exports["smokeTest"]
        assert all(not a.startswith("no answer") for a in s.mesh.values()), s.mesh
    else:
        assert "routing mesh NOT checked" in out.exports["smokeTest"]
    assert out.exports["swarmId"] and re.fullmatch(r"[a-z0-9]{25}", out.exports["swarmId"])


@pytest.mark.leaves_default_stack
def test_second_run_changes_nothing_and_scripts_skip(default_stack: int) -> None:
    ids, service = node_ids(), collect().service
    again = up()
    assert set(again.stats) == {"same"} and again.deleted == [], again.stats  # no step but "same"
    replay = engine.up(replay=True, echo=True)
    assert replay.stats["update"] >= 12  # every command ran again...
    assert node_ids() == ids and collect().service == service  # ...and changed nothing
    tail = output_of(replay.run)
    assert "skip: already a manager" in tail
    assert tail.count("skip: already a member") == 3  # manager-1's join too: it created the swarm
    assert tail.count("already labelled") == 3


@pytest.mark.leaves_default_stack
def test_bootstrap_tokens_are_rotated_and_never_in_plain_text(default_stack: int) -> None:
    st = state()
    urn = next(u for u, r in st.resources.items() if r.name == "boot-token-worker")
    old_token = engine.unwrap(st.outputs_of(urn)["stdout"]).strip()
    assert old_token.startswith("SWMTKN-")
    spare = max(engine.discover_hosts(engine.LAB_STATE), key=lambda h: h.k)
    mgr_ip = next(n["addr"] for n in collect().nodes if n["role"] == "manager")
    c = socket_client(spare.k)
    try:
        with pytest.raises(docker.errors.APIError):
            c.swarm.join(remote_addrs=[f"{mgr_ip}:2377"], join_token=old_token, advertise_addr=spare.ip)
    finally:
        c.close()
    # Nowhere in plain text: not in the lab's log, its events, its state.
    for path in (engine.LAB_STATE / "engine.log", engine.LAB_STATE / "events.jsonl", engine.LAB_STATE / "stack.json"):
        text = path.read_text()
        for marker in ("SWMTKN-", "SWMKEY-", "PRIVATE KEY"):
            assert marker not in text, (marker, path)


def test_scale_down_drains_and_removes_the_node(default_stack: int) -> None:
    k = state().hosts["swarm-worker-2"]
    before = {n["hostname"] for n in collect().nodes}
    assert f"swl-n{k}" in before
    out = up(workerCount=1)
    assert "boot-member-worker-2" in out.deleted and "swarm-worker-2" in out.deleted
    s = collect()
    assert f"swl-n{k}" not in {n["hostname"] for n in s.nodes}
    assert len(s.nodes) == 2 and s.service["running"] == 2  # tasks moved, nothing lost
    tail = output_of(out.run)
    # In this order: drained on the manager, left on the node, removed on the manager.
    steps = [tail.index(m) for m in ("drained node", "left the swarm", "removed node")]
    assert steps == sorted(steps)
    assert swarm_state(k) == "inactive"  # the node itself left


def test_three_managers_keep_quorum(fresh: int) -> None:
    up(managerCount=3, workerCount=2)
    s = collect()
    managers = [n for n in s.nodes if n["role"] == "manager"]
    assert len(managers) == 3 and len(s.nodes) == 5
    assert sorted(m["manager"].lower() for m in managers) == ["leader", "reachable", "reachable"]
    assert s.service["running"] == 2


def test_a_node_whose_docker_died_joins_on_the_next_run(default_stack: int) -> None:
    ids = node_ids()
    new_k = min(h.k for h in engine.discover_hosts(engine.LAB_STATE) if h.k not in state().hosts.values())
    subprocess.run([HOSTS_SH, "kill-daemon", str(new_k), "dockerd"], check=True)
    try:
        with pytest.raises(Exception, match="Docker daemon did not answer"):
            up(workerCount=3)
    finally:
        subprocess.run([HOSTS_SH, "start-daemon", str(new_k), "dockerd"], check=True)
    assert {k: v for k, v in node_ids().items() if k in ids} == ids  # nothing lost meanwhile
    out = up(workerCount=3)
    s = collect()
    assert len(s.nodes) == 4 and f"swl-n{new_k}" in {n["hostname"] for n in s.nodes}
    assert {k: v for k, v in node_ids().items() if k in ids} == ids
    assert s.service["running"] == 2 and out.exports["smokeTest"].startswith("ok:")


@pytest.mark.leaves_default_stack
def test_readiness_gate_waits_for_sshd(fresh: int) -> None:
    """sshd is down when the run starts and comes back 5 s later: the gate's dial retries carry it."""
    k = 2
    subprocess.run([HOSTS_SH, "kill-daemon", str(k), "sshd"], check=True)
    timer = threading.Timer(5, lambda: subprocess.run([HOSTS_SH, "start-daemon", str(k), "sshd"], check=True))
    timer.start()
    try:
        t0 = time.monotonic()
        out = up()
    finally:
        timer.join()
    assert time.monotonic() - t0 > 5
    assert out.exports["smokeTest"].startswith("ok:")
    assert len(collect().nodes) == 3
    json.dumps(out.exports)


def test_a_wrong_host_key_is_refused(default_stack: int) -> None:
    """Host keys are pinned (pinHostKeys, the default): another key on the same address
    fails the deployer's own ssh client, and pulumi-command's dial: retried as any dial
    error (pulumi-command 1.2.1 connection.go), then "after 10 failed attempts"."""
    out = up()
    provider = next(r for r in out.registrations if r.type == "pulumi:providers:docker")
    opts = json.loads(engine.unwrap(provider.inputs["sshOpts"]))
    target = engine.unwrap(provider.inputs["host"]).removeprefix("ssh://")
    ok = subprocess.run(["ssh", *opts, target, "true"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    k = state().hosts["swarm-manager-1"]
    other = engine.LAB_STATE / "impostor_key"
    other.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    subprocess.run([HOSTS_SH, "set-host-key", str(k), str(other)], check=True)
    bad = subprocess.run(["ssh", *opts, target, "true"], capture_output=True, text=True)
    assert bad.returncode == 255 and "Host key verification failed" in bad.stderr
    # The init command's connection as the state has it (dialErrorLimit: the default 10).
    init = next(r for r in out.registrations if r.name.endswith("-init") and r.type == "command:remote:Command")
    conn = engine.unwrap(init.inputs["connection"])
    t0 = time.monotonic()
    with pytest.raises(
        CommandFailed, match=r"^after 10 failed attempts: ssh: handshake failed: ssh: host key mismatch$"
    ):
        run_remote(conn, "true", None, None, None)
    assert 11 < time.monotonic() - t0 < 30  # 11 attempts, ~11.3 s of waits


def test_autolock_keeps_a_restarted_manager_locked_until_unlocked(fresh: int) -> None:
    out = up(autolock="true")
    key = out.exports["unlockKey"]
    assert key.startswith("SWMKEY-1-")
    k = state().hosts["swarm-manager-1"]
    subprocess.run([HOSTS_SH, "kill-daemon", str(k), "dockerd"], check=True)
    subprocess.run([HOSTS_SH, "start-daemon", str(k), "dockerd"], check=True)
    assert swarm_state(k) == "locked"
    c = socket_client(k)
    try:
        c.swarm.unlock(key)
    finally:
        c.close()
    assert swarm_state(k) == "active"
    log = "".join((engine.LAB_STATE / f).read_text() for f in ("engine.log", "events.jsonl", "stack.json"))
    assert "SWMKEY-" not in log  # the unlock key is in the state only sealed

"""privateWorkers on real hosts (issue 15): the deployer cannot reach a worker at all
(the kernel of this machine drops every new connection to its address), and the
cluster still comes up, and scales down, through manager-1 as the jump host:
pulumi-command's `proxy` for the remote steps, an `ssh -W` ProxyCommand for the
deployer's own ssh (a worker's leave)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from lab import engine
from lab.backends.namespace import NET
from lab.engine import events as engine_events
from lab.summary import collect, socket_client
from tests.lab.test_day_two import whole
from tests.lab.test_lab import output_of, reset, state, up

pytestmark = pytest.mark.lab


@pytest.fixture
def fresh(lab_hosts: int) -> int:
    reset(lab_hosts)
    return lab_hosts


def address(k: int) -> str:
    return f"{NET}.{10 + k}"


def unreachable_from_here(ip: str) -> None:
    """A plain TCP connect and the system ssh both fail to reach IP's port 22."""
    with pytest.raises(OSError):
        socket.create_connection((ip, 22), timeout=3).close()
    r = subprocess.run(
        ["ssh", "-F", "none", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", f"root@{ip}", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 255 and "timed out" in r.stderr, r.stderr


def test_private_workers_are_unreachable_and_the_swarm_is_whole(fresh: int) -> None:
    out = up(privateWorkers="true")
    hosts = state().hosts
    nodes = {n["name"]: n for n in out.exports["nodes"]}
    manager = address(hosts["swarm-manager-1"])
    assert nodes["swarm-manager-1"]["publicIp"] == manager
    socket.create_connection((manager, 22), timeout=5).close()  # the jump host is public
    for w in ("swarm-worker-1", "swarm-worker-2"):
        assert nodes[w]["publicIp"] == "" and nodes[w]["privateIp"] == address(hosts[w])
        unreachable_from_here(address(hosts[w]))
    whole(managers=1, nodes=3)  # every node Ready, every task answers
    assert out.exports["serviceUrls"] == [f"http://{manager}:5001"]

    # Scale down: worker-2 is drained on manager-1, leaves through the jump host (the
    # deployer's ssh), and is removed.
    gone = hosts["swarm-worker-2"]
    c = socket_client(gone)
    try:
        node_id = c.info()["Swarm"]["NodeID"]
    finally:
        c.close()
    down = up(privateWorkers="true", workerCount=1)
    said = output_of(down.run)
    assert "boot-leave-worker-2: left the swarm" in said, said
    assert "cannot reach" not in said
    whole(managers=1, nodes=2)
    assert node_id not in {n["id"] for n in collect().nodes} | {n["id"][:12] for n in collect().nodes}
    unreachable_from_here(address(hosts["swarm-worker-1"]))

    # Replace manager-1, the jump host (and the only manager: worker-1, private, is its
    # sponsor, reached through the new manager-1 to hand over and through the old one to
    # remove it). No step of the worker runs again.
    old = hosts["swarm-manager-1"]
    out = engine.up({}, replace=["swarm-manager-1"])
    assert state().hosts["swarm-manager-1"] != old
    whole(managers=1, nodes=2)
    ran = {e["name"] for e in engine_events.read(engine.LAB_STATE, out.run) if e["kind"] == "step"}
    assert not {f"boot-{s}-worker-1" for s in ("ready", "keys", "join", "label")} & ran, sorted(ran)
    assert out.exports["nodes"][1]["publicIp"] == ""
    unreachable_from_here(address(hosts["swarm-worker-1"]))


def test_the_lab_refuses_a_load_balancer(fresh: int) -> None:
    """The lab has no load balancer: it says so instead of pretending."""
    with pytest.raises(Exception, match="load balancer"):
        engine.up({"loadBalancer": "true"}, echo=False)

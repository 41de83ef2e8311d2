"""The swarm scripts, run locally against a fake docker CLI: every guard is
exercised both ways, so removing a guard fails a test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from components.commands import SCRIPTS_DIR, render
from tests.skips import needs

FAKEBIN = Path(__file__).resolve().parent / "fakebin"


class Host:
    """A fake host: a directory of state files the fake docker reads and writes."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.dir.mkdir(exist_ok=True)

    def set(self, name: str, value: str) -> None:
        (self.dir / name).write_text(value + "\n")

    def log(self, name: str) -> str:
        f = self.dir / name
        return f.read_text() if f.exists() else ""

    def run(
        self, script: str, params: Mapping[str, str | int] | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": f"{FAKEBIN}:{os.environ['PATH']}", "FAKE_DIR": str(self.dir)}
        return subprocess.run(
            ["bash", "-c", render(script, params)], input=stdin, capture_output=True, text=True, env=env, timeout=30
        )


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path / "host")


def test_init_creates_a_swarm_and_prints_only_its_id(host: Host) -> None:
    r = host.run("swarm-init.sh", {"ADVERTISE_ADDR": "10.0.0.5"})
    assert r.returncode == 0, r.stderr
    assert "swarm init --advertise-addr 10.0.0.5" in host.log("docker.argv")
    assert r.stdout == "clusterid42\n"
    assert "SWMTKN" not in r.stdout + r.stderr  # init's own output (with tokens) is swallowed


def test_init_is_a_no_op_on_a_manager(host: Host) -> None:
    host.set("state", "active")
    r = host.run("swarm-init.sh", {"ADVERTISE_ADDR": "10.0.0.5"})
    assert r.returncode == 0, r.stderr
    assert "swarm init" not in host.log("docker.argv")
    assert "skip: already a manager" in r.stderr and r.stdout == "clusterid42\n"


def test_init_refuses_a_worker(host: Host) -> None:
    host.set("state", "active")
    host.set("manager", "false")
    r = host.run("swarm-init.sh", {"ADVERTISE_ADDR": "10.0.0.5"})
    assert r.returncode == 1 and "not as a manager" in r.stderr


JOIN = {"SWARM_ID": "ourswarm01", "MANAGER_ADDR": "10.0.0.5", "ADVERTISE_ADDR": "10.0.16.9"}


def _member_of(host: Host, cluster: str, managers: str) -> None:
    host.set("state", "active")
    host.set("managers", managers)
    cert = host.dir / "docker-root" / "swarm" / "certificates" / "swarm-node.crt"
    cert.parent.mkdir(parents=True, exist_ok=True)
    cert.write_text(cluster)


TOKEN = "SWMTKN-1-secret-worker-token"


def test_join_sends_the_token_on_stdin_only(host: Host) -> None:
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN + "\n")
    assert r.returncode == 0, r.stderr
    body = host.log("curl.stdin")
    assert f'"JoinToken":"{TOKEN}"' in body and '"RemoteAddrs":["10.0.0.5:2377"]' in body
    assert '"AdvertiseAddr":"10.0.16.9"' in body
    assert TOKEN not in host.log("curl.argv") + host.log("docker.argv")
    assert TOKEN not in r.stdout + r.stderr
    assert r.stdout == "nodeid7\n"


def test_join_is_a_no_op_for_a_member(host: Host) -> None:
    _member_of(host, "ourswarm01", "10.0.0.5:2377 ")
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN)
    assert r.returncode == 0, r.stderr
    assert host.log("curl.argv") == "" and "swarm leave" not in host.log("docker.argv")
    assert "skip: already a member of swarm ourswarm01" in r.stderr


def test_join_refuses_a_node_of_another_swarm(host: Host) -> None:
    _member_of(host, "theirswarm9", "10.9.9.9:2377 ")
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN)
    assert r.returncode == 1 and "another swarm (theirswarm9" in r.stderr
    assert host.log("curl.argv") == "" and "swarm leave" not in host.log("docker.argv")


def test_join_replaces_a_stale_swarm_at_the_same_manager_address(host: Host) -> None:
    # A manager re-created on a reused IP: the worker still believes in the old swarm,
    # and `docker info` looks healthy. Only the certificate tells.
    _member_of(host, "oldswarm77", "10.0.0.5:2377 ")
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN)
    assert r.returncode == 0, r.stderr
    assert "swarm leave --force" in host.log("docker.argv")
    assert TOKEN in host.log("curl.stdin")


def test_join_never_leaves_when_the_certificate_is_unreadable(host: Host) -> None:
    host.set("state", "active")
    host.set("managers", "10.0.0.5:2377 ")
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN)
    assert r.returncode == 1 and "cannot read this node's swarm certificate" in r.stderr
    assert "swarm leave" not in host.log("docker.argv")


def test_join_recovers_from_an_interrupted_join(host: Host) -> None:
    host.set("state", "error")
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN)
    assert r.returncode == 0, r.stderr
    assert "swarm leave --force" in host.log("docker.argv")
    assert TOKEN in host.log("curl.stdin")


def test_join_without_a_token_fails(host: Host) -> None:
    r = host.run("swarm-join.sh", JOIN, stdin="")
    assert r.returncode == 1 and "no join token" in r.stderr


def test_token_read_prints_the_token(host: Host) -> None:
    host.set("state", "active")
    r = host.run("swarm-join-token.sh", {"ROLE": "manager"})
    assert (r.returncode, r.stdout) == (0, "SWMTKN-1-manager-token\n")
    assert host.run("swarm-join-token.sh", {"ROLE": "admin"}).returncode == 1


def test_rotate_prints_no_token(host: Host) -> None:
    host.set("state", "active")
    r = host.run("swarm-rotate.sh")
    assert r.returncode == 0
    argv = host.log("docker.argv")
    assert "swarm join-token --rotate -q worker" in argv and "swarm join-token --rotate -q manager" in argv
    assert "SWMTKN" not in r.stdout + r.stderr


def _cluster(host: Host, *nodes: tuple[str, str]) -> None:
    host.set("state", "active")
    host.set("nodes", "\n".join(n for n, _ in nodes))
    for node_id, addr in nodes:
        host.set(f"addr-{node_id}", addr)


def test_label_adds_labels_once(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n2", "10.0.16.9"))
    params = {"NODE_ADDR": "10.0.16.9", "ROLE": "worker", "AZ": "eu-west-1b"}
    r = host.run("swarm-label.sh", params)
    assert r.returncode == 0, r.stderr
    assert "node update --label-add az=eu-west-1b --label-add role=worker n2" in host.log("docker.argv")
    host.set("labels-n2", "az=eu-west-1b role=worker")
    (host.dir / "docker.argv").unlink()
    r = host.run("swarm-label.sh", params)
    assert r.returncode == 0 and "skip" in r.stderr
    assert "node update" not in host.log("docker.argv")


def _node_calls(host: Host) -> list[str]:
    return [
        c
        for c in host.log("docker.argv").splitlines()
        if c.startswith("node ") and "inspect" not in c and " ls" not in c and " ps" not in c
    ]


def test_drain_drains_and_demotes_a_manager(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    host.set("role-n3", "manager")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node update --availability drain n3", "node demote n3"]


def test_drain_does_not_demote_a_worker(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    assert host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"}).returncode == 0
    assert _node_calls(host) == ["node update --availability drain n3"]


def test_forget_removes_the_node(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    r = host.run("swarm-forget.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node rm --force n3"]


@pytest.mark.parametrize("script", ["swarm-drain.sh", "swarm-forget.sh"])
def test_removal_tolerates_a_node_that_is_gone(host: Host, script: str) -> None:
    _cluster(host, ("n1", "10.0.0.5"))
    r = host.run(script, {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0 and "removed already" in r.stderr
    assert _node_calls(host) == []


@pytest.mark.parametrize("script", ["swarm-drain.sh", "swarm-forget.sh"])
def test_removal_is_a_no_op_when_the_swarm_is_gone(host: Host, script: str) -> None:
    r = host.run(script, {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0 and "not in a swarm" in r.stderr
    assert _node_calls(host) == []


def test_leave_only_when_in_a_swarm(host: Host) -> None:
    assert "skip: not in a swarm" in host.run("swarm-leave.sh").stderr
    assert "swarm leave" not in host.log("docker.argv")
    host.set("state", "active")
    assert host.run("swarm-leave.sh").returncode == 0
    assert "swarm leave --force" in host.log("docker.argv")


def _fake_ssh(host: Host, rc: int) -> None:
    ssh = host.dir / "bin" / "ssh"
    ssh.parent.mkdir(exist_ok=True)
    ssh.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" > "$FAKE_DIR/ssh.argv"\ncat > "$FAKE_DIR/ssh.stdin"\nexit {rc}\n')
    ssh.chmod(0o755)


@pytest.mark.parametrize(("rc", "ok", "said"), [(0, True, ""), (255, True, "host gone"), (1, False, "failed (exit 1)")])
def test_local_leave_tolerates_only_an_unreachable_host(host: Host, rc: int, ok: bool, said: str) -> None:
    _fake_ssh(host, rc)
    params = {
        "NODE": "ubuntu@203.0.113.9",
        "SSH_OPTS": "-o\nBatchMode=yes",
        "LEAVE_SCRIPT": "docker swarm leave --force",
    }
    env = {**os.environ, "PATH": f"{host.dir / 'bin'}:{os.environ['PATH']}", "FAKE_DIR": str(host.dir)}
    r = subprocess.run(["bash", "-c", render("local-node-leave.sh", params)], capture_output=True, text=True, env=env)
    assert (r.returncode == 0) is ok, r.stderr
    assert said in r.stderr
    assert host.log("ssh.argv").split() == ["-o", "BatchMode=yes", "ubuntu@203.0.113.9", "bash", "-s"]
    assert host.log("ssh.stdin").strip() == "docker swarm leave --force"


@pytest.mark.parametrize(
    ("out", "rc", "ok"),
    [
        ("status: done", 0, True),
        ("status: done\nrecoverable_errors: ...", 2, True),
        ("status: disabled", 0, True),
        ("status: error\nerrors:\n  - package install failed", 1, False),
    ],
)
def test_readiness_gate(host: Host, out: str, rc: int, ok: bool) -> None:
    host.set("cloud-init.out", out)
    host.set("cloud-init.rc", str(rc))
    r = host.run("node-ready.sh")
    assert (r.returncode == 0) is ok, r.stderr
    if not ok:
        assert "package install failed" in r.stderr  # the reason, not just "failed"
    assert "status --wait --long" in host.log("cloud-init.argv")


@needs("shellcheck")
def test_shellcheck_clean() -> None:
    scripts = sorted(str(p) for p in SCRIPTS_DIR.glob("*.sh"))
    r = subprocess.run(["shellcheck", "-s", "bash", "-S", "style", *scripts], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout

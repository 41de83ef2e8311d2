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


DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


INIT_OR_JOIN = [("swarm-init.sh", {"ADVERTISE_ADDR": "10.0.0.5"}), ("swarm-join.sh", JOIN)]


@pytest.mark.parametrize(("script", "params"), INIT_OR_JOIN)
def test_init_and_join_say_the_daemon_does_not_answer(host: Host, script: str, params: dict) -> None:
    host.set("daemon-down", "")
    r = host.run(script, params, stdin=TOKEN)
    assert r.returncode == 1
    assert f"error: the Docker daemon does not answer (stopped, or not started yet?): {DAEMON_DOWN}" in r.stderr
    assert "unexpected swarm state" not in r.stderr
    assert host.log("curl.argv") == "" and TOKEN not in r.stderr


@pytest.mark.parametrize(("script", "params"), INIT_OR_JOIN)
def test_init_and_join_say_the_socket_is_not_theirs(host: Host, script: str, params: dict) -> None:
    # A login session older than the user's docker group membership, no sudo rule.
    host.set("permission-denied", "")
    host.set("sudo-refused", "")
    r = host.run(script, params, stdin=TOKEN)
    assert r.returncode == 1
    assert "may not open the Docker socket" in r.stderr and "sudo -n is refused" in r.stderr
    assert "connect: permission denied" in r.stderr  # docker's own words too
    assert host.log("curl.argv") == "" and "swarm init" not in host.log("docker.argv")


def test_join_goes_through_sudo_when_the_socket_is_not_its_own(host: Host) -> None:
    host.set("permission-denied", "")
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN + "\n")
    assert r.returncode == 0, r.stderr
    sudo = host.log("sudo.argv")
    assert "-n docker info --format {{.Swarm.LocalNodeState}}" in sudo
    assert "-n curl -sS --fail-with-body" in sudo and TOKEN not in sudo  # the token: on stdin only
    assert f'"JoinToken":"{TOKEN}"' in host.log("curl.stdin")


REFUSED = '{"message":"rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"}'


def test_a_refused_join_says_the_apis_reason(host: Host) -> None:
    host.set("join-refused", REFUSED)
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN)
    assert r.returncode == 1
    assert (
        "error: joining the swarm at 10.0.0.5 failed: rpc error: code = InvalidArgument desc = "
        "A valid join token is necessary to join this cluster"
    ) in r.stderr
    assert TOKEN not in r.stdout + r.stderr


def test_a_refused_join_never_shows_the_token(host: Host) -> None:
    # Should an answer ever quote the token, the message still does not.
    host.set("join-refused", f'{{"message":"invalid join token {TOKEN}"}}')
    r = host.run("swarm-join.sh", JOIN, stdin=TOKEN)
    assert r.returncode == 1 and "failed: invalid join token <token>" in r.stderr
    assert TOKEN not in r.stdout + r.stderr


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


def _cluster(host: Host, *nodes: tuple[str, ...]) -> None:
    """An active manager whose swarm has NODES: (id, address[, status[, role]])."""
    host.set("state", "active")
    host.set("nodes", "\n".join(n[0] for n in nodes))
    for node_id, addr, *rest in nodes:
        host.set(f"addr-{node_id}", addr)
        if rest:
            host.set(f"status-{node_id}", rest[0])
        if len(rest) > 1:
            host.set(f"role-{node_id}", rest[1])


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


def test_label_labels_the_live_node_not_a_stale_one_at_its_address(host: Host) -> None:
    # A host reused: the old node's Down entry is listed first, at the same address.
    _cluster(host, ("n1", "10.0.0.5"), ("old2", "10.0.16.9", "down"), ("n2", "10.0.16.9"))
    r = host.run("swarm-label.sh", {"NODE_ADDR": "10.0.16.9", "ROLE": "worker", "AZ": "eu-west-1b"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "n2\n"
    assert "node update --label-add az=eu-west-1b --label-add role=worker n2" in host.log("docker.argv")


def test_label_waits_for_a_live_node_and_never_labels_a_down_one(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("old2", "10.0.16.9", "down"))
    r = host.run("swarm-label.sh", {"NODE_ADDR": "10.0.16.9", "ROLE": "worker", "AZ": "eu-west-1b"})
    assert r.returncode == 1 and "no live swarm node has address 10.0.16.9 (only Down entries: old2)" in r.stderr
    assert _node_calls(host) == []


def test_label_tries_again_while_the_node_changes_under_it(host: Host) -> None:
    """A node that has just joined changes as its status and certificate come in: the
    CLI's update, sent with the version it read, is refused ("update out of sequence")
    and is tried again (lib.sh node_change; swarmkit controlapi UpdateNode)."""
    _cluster(host, ("n1", "10.0.0.5"), ("n2", "10.0.16.9"))
    host.set("node-conflicts", "2")
    r = host.run("swarm-label.sh", {"NODE_ADDR": "10.0.16.9", "ROLE": "manager", "AZ": "eu-west-1c"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node update --label-add az=eu-west-1c --label-add role=manager n2"] * 3


def test_a_node_that_keeps_changing_fails_with_the_reason(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n2", "10.0.16.9"))
    host.set("node-conflicts", "1000")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.16.9"})
    assert r.returncode == 1
    assert "the node kept changing (update out of sequence) for 30 s: run again" in r.stderr
    assert len(_node_calls(host)) in range(2, 10)  # tried again, with the backoff, then gave up


def test_other_node_change_errors_fail_at_once_with_dockers_message(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4", "ready", "manager"))
    host.set("node-change-error", "Error response from daemon: rpc error: code = PermissionDenied desc = nope")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 1
    assert (
        "docker node update --availability drain n3 failed: Error response from daemon: rpc error: code = "
        "PermissionDenied desc = nope" in r.stderr
    )
    assert _node_calls(host) == ["node update --availability drain n3"]


def test_demote_and_promote_try_again_while_the_node_changes(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4", "ready", "manager"))
    host.set("node-conflicts", "1")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node update --availability drain n3"] * 2 + ["node demote n3"]
    host.set("node-conflicts", "1")
    (host.dir / "docker.argv").unlink()
    _cluster(host, ("n1", "10.0.0.5"), ("n2", "10.0.16.9"))
    r = host.run("swarm-handover.sh", {"PROMOTE_ADDR": "10.0.16.9"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host)[:2] == ["node promote n2"] * 2


def _node_calls(host: Host) -> list[str]:
    return [
        c
        for c in host.log("docker.argv").splitlines()
        if c.startswith("node ") and "inspect" not in c and " ls" not in c and " ps" not in c
    ]


def _in_raft(host: Host, node_id: str) -> bool:
    """Whether the fake still counts NODE_ID as a Raft member (its ManagerStatus)."""
    raft = host.log(f"raft-{node_id}").strip()
    return raft == "manager" if raft else host.log(f"role-{node_id}").strip() == "manager"


def test_drain_drains_and_demotes_a_manager(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4", "ready", "manager"))
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node update --availability drain n3", "node demote n3"]
    assert not _in_raft(host, "n3")


def test_drain_does_not_demote_a_worker(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    assert host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"}).returncode == 0
    assert _node_calls(host) == ["node update --availability drain n3"]
    # Workers: no role poll at all (fast).
    assert "{{if .ManagerStatus}}manager{{end}}" not in host.log("docker.argv")


def test_demote_waits_until_the_node_has_left_the_raft_group(host: Host) -> None:
    # `docker node demote` returns before the Raft change: the fake keeps the node a
    # Raft member for 3 more polls. The drain must not return before that.
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4", "ready", "manager"))
    host.set("demote-lag-n3", "3")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert not _in_raft(host, "n3")
    # 3 polls still see a Raft member, the 4th none.
    assert host.log("docker.argv").count("{{.Spec.Role}} {{if .ManagerStatus}}manager{{end}} n3") == 4
    assert "node n3 is no longer a manager" in r.stderr


def test_demote_that_never_completes_fails_with_the_reason(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4", "ready", "manager"))
    host.set("demote-lag-n3", "never")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 1
    assert "node n3 is still a Raft member 60 s after its demotion (worker reachable): run again" in r.stderr


def test_drain_resumes_an_interrupted_demotion(host: Host) -> None:
    # An earlier run demoted n3 (role worker) but stopped before it left the Raft group.
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    host.set("raft-n3", "manager")
    host.set("demote-lag-n3", "2")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node update --availability drain n3"] and not _in_raft(host, "n3")


def test_drain_acts_on_the_live_node_and_removes_a_stale_one(host: Host) -> None:
    # Two entries at one address: the old node (Down, listed first) and the live one.
    _cluster(host, ("n1", "10.0.0.5"), ("old3", "10.0.32.4", "down", "manager"), ("n3", "10.0.32.4"))
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == [
        "node update --availability drain n3",
        "node demote old3",  # a stale manager still counts against quorum: out first
        "node rm --force old3",
    ]
    assert "removed stale node old3 (Down) at 10.0.32.4" in r.stderr
    assert host.log("nodes").split() == ["n1", "n3"]


def test_a_manager_is_found_by_its_raft_address(host: Host) -> None:
    # A manager may show Status.Addr 0.0.0.0; its Raft address (ManagerStatus.Addr) is its own.
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "0.0.0.0", "ready", "manager"))
    host.set("raft-addr-n3", "10.0.32.4")
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node update --availability drain n3", "node demote n3"]


@pytest.mark.parametrize(("role", "calls"), [("worker", []), ("manager", ["node demote n3"])])
def test_drain_of_a_down_node_only_demotes_it(host: Host, role: str, calls: list[str]) -> None:
    # Its tasks were rescheduled when it went down: nothing to drain; a manager is
    # still demoted. It stays listed: the leave runs next, and forget removes it.
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4", "down", role))
    r = host.run("swarm-drain.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert "nothing to drain" in r.stderr
    assert _node_calls(host) == calls
    assert host.log("nodes").split() == ["n1", "n3"]


def test_forget_removes_the_node(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    r = host.run("swarm-forget.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node rm --force n3"]
    assert host.run("swarm-forget.sh", {"NODE_ADDR": "10.0.32.4"}).returncode == 0  # again: nothing to do
    assert _node_calls(host) == ["node rm --force n3"]


def test_forget_removes_every_entry_at_the_address_and_no_other(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("old3", "10.0.32.4", "down"), ("n2", "10.0.16.9"), ("n3", "10.0.32.4", "down"))
    r = host.run("swarm-forget.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert sorted(_node_calls(host)) == ["node rm --force n3", "node rm --force old3"]
    assert host.log("nodes").split() == ["n1", "n2"]


def test_forget_demotes_a_node_still_in_the_raft_group_first(host: Host) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4", "down", "manager"))
    r = host.run("swarm-forget.sh", {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node demote n3", "node rm --force n3"]


@pytest.mark.parametrize("script", ["swarm-drain.sh", "swarm-forget.sh", "swarm-label.sh"])
def test_two_live_entries_at_one_address_are_not_guessed(host: Host, script: str) -> None:
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"), ("n4", "10.0.32.4", "unknown"))
    r = host.run(script, {"NODE_ADDR": "10.0.32.4", "ROLE": "worker", "AZ": "eu-west-1c"})
    assert r.returncode == 1 and "cannot tell which node is at 10.0.32.4" in r.stderr
    assert _node_calls(host) == []


@pytest.mark.parametrize("script", ["swarm-drain.sh", "swarm-forget.sh"])
def test_removal_reads_the_node_list_in_two_calls(host: Host, script: str) -> None:
    # One `node ls` and one `node inspect` for the whole table, however many nodes.
    _cluster(host, *((f"n{i}", f"10.0.0.{i}") for i in range(1, 9)))
    assert host.run(script, {"NODE_ADDR": "10.0.0.4"}).returncode == 0
    reads = [c for c in host.log("docker.argv").splitlines() if c.startswith(("node ls", "node inspect"))]
    assert len(reads) == 2 and reads[1].endswith(" n1 n2 n3 n4 n5 n6 n7 n8")


@pytest.mark.parametrize("script", ["swarm-drain.sh", "swarm-forget.sh"])
def test_removal_tolerates_a_node_that_is_gone(host: Host, script: str) -> None:
    _cluster(host, ("n1", "10.0.0.5"))
    r = host.run(script, {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0 and "removed already" in r.stderr
    assert _node_calls(host) == []


@pytest.mark.parametrize("script", ["swarm-drain.sh", "swarm-forget.sh"])
def test_removal_is_a_no_op_when_the_swarm_is_gone(host: Host, script: str) -> None:
    r = host.run(script, {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 0 and "skip: nothing to remove: this manager is in no swarm" in r.stderr
    assert _node_calls(host) == []


NO_LEADER = (
    "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible "
    "that too few managers are online. Make sure more than half of the managers are online."
)

# "Cannot tell" on the manager: (files the fake reads, what the failure must say).
CANNOT_TELL = {
    "daemon-down": (
        {"daemon-down": ""},
        "cannot tell: the Docker daemon does not answer: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?",
    ),
    "locked": (
        {"state": "locked"},
        "the swarm is locked on this manager (autolock: Docker restarted): run docker swarm unlock with the "
        "unlock key (stack output unlockKey), then run again",
    ),
    "pending": ({"state": "pending"}, "still joining a swarm (state pending)"),
    "error": ({"state": "error"}, "swarm membership is in error"),
    "odd-state": ({"state": "weird"}, "unexpected swarm state 'weird'"),
    "worker": ({"manager": "false"}, "is not a manager"),
    "no-leader": (
        {"node-ls-error": NO_LEADER},
        f"cannot tell which nodes the swarm has: docker node ls failed: {NO_LEADER}",
    ),
}


@pytest.mark.parametrize("case", sorted(CANNOT_TELL))
@pytest.mark.parametrize("script", ["swarm-drain.sh", "swarm-forget.sh"])
def test_removal_fails_when_it_cannot_tell(host: Host, script: str, case: str) -> None:
    # Drained and removed it would be, were the manager able to see it: never "skip".
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    files, said = CANNOT_TELL[case]
    for name, value in files.items():
        host.set(name, value)
    r = host.run(script, {"NODE_ADDR": "10.0.32.4"})
    assert r.returncode == 1, r.stderr
    assert said in r.stderr
    assert "skip" not in r.stderr
    assert _node_calls(host) == []
    assert host.log("nodes").split() == ["n1", "n3"]


@pytest.mark.parametrize("case", ["daemon-down", "locked", "no-leader"])
@pytest.mark.parametrize(
    ("script", "params"),
    [
        ("swarm-join-token.sh", {"ROLE": "worker"}),
        ("swarm-rotate.sh", {}),
        ("swarm-unlock-key.sh", {}),
        ("swarm-label.sh", {"NODE_ADDR": "10.0.32.4", "ROLE": "worker", "AZ": "eu-west-1c"}),
        ("swarm-smoke.sh", {"SERVICE": "app", "REPLICAS": 2, "PUBLISHED_PORT": 80, "TARGET_PORT": 80,
                            "NODE_ADDRS": "10.0.0.5", "MODE": "mesh"}),
    ],
)  # fmt: skip
def test_other_manager_steps_say_why_they_cannot_run(host: Host, script: str, params: dict, case: str) -> None:
    # The first step a scale-down runs on a locked manager is the token read: it says
    # why (not "not in a swarm"), and the smoke test says so at once, not after 300 s.
    _cluster(host, ("n1", "10.0.0.5"), ("n3", "10.0.32.4"))
    files, said = CANNOT_TELL[case]
    for name, value in files.items():
        host.set(name, value)
    r = host.run(script, params)
    assert r.returncode == 1 and said in r.stderr, r.stderr
    assert "SWMTKN" not in r.stdout and "SWMKEY" not in r.stdout


def test_leave_only_when_in_a_swarm(host: Host) -> None:
    assert "skip: not in a swarm" in host.run("swarm-leave.sh").stderr
    assert "swarm leave" not in host.log("docker.argv")
    host.set("state", "active")
    assert host.run("swarm-leave.sh").returncode == 0
    assert "swarm leave --force" in host.log("docker.argv")


def test_leave_fails_when_it_cannot_tell(host: Host) -> None:
    # The daemon does not answer: "not in a swarm" would be a guess.
    host.set("daemon-down", "")
    r = host.run("swarm-leave.sh")
    assert r.returncode == 1 and f"cannot tell: the Docker daemon does not answer: {DAEMON_DOWN}" in r.stderr
    assert "skip" not in r.stderr and "swarm leave" not in host.log("docker.argv")


def test_leave_of_a_locked_node_leaves(host: Host) -> None:
    host.set("state", "locked")
    r = host.run("swarm-leave.sh")
    assert r.returncode == 0, r.stderr
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
        "SCRIPT": "docker swarm leave --force",
        "WHAT": "leaving the swarm",
    }
    env = {**os.environ, "PATH": f"{host.dir / 'bin'}:{os.environ['PATH']}", "FAKE_DIR": str(host.dir)}
    r = subprocess.run(["bash", "-c", render("local-on-node.sh", params)], capture_output=True, text=True, env=env)
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


# --- manager-1's replacement (components/swarm/membership.py) ----------------------


def test_handover_promotes_the_sponsor_when_this_is_the_only_manager(host: Host) -> None:
    _cluster(host, ("nodeid7", "10.0.0.5", "ready", "manager"), ("n2", "10.0.16.9"))
    r = host.run("swarm-handover.sh", {"PROMOTE_ADDR": "10.0.16.9"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node promote n2"]
    assert "n2 (10.0.16.9) is a reachable manager" in r.stderr


def test_handover_waits_until_the_promoted_node_is_reachable(host: Host) -> None:
    _cluster(host, ("nodeid7", "10.0.0.5", "ready", "manager"), ("n2", "10.0.16.9"))
    host.set("reach-n2", "unknown")
    r = host.run("swarm-handover.sh", {"PROMOTE_ADDR": "10.0.16.9"})
    assert r.returncode == 1 and "not a reachable manager 60 s after its promotion" in r.stderr


def test_handover_does_nothing_when_another_manager_is_reachable(host: Host) -> None:
    _cluster(host, ("nodeid7", "10.0.0.5", "ready", "manager"), ("n2", "10.0.16.9", "ready", "manager"))
    r = host.run("swarm-handover.sh", {"PROMOTE_ADDR": "10.0.16.9"})
    assert r.returncode == 0 and "skip: other managers are Ready and reachable (n2)" in r.stderr
    assert _node_calls(host) == []


def test_handover_does_not_count_an_unreachable_manager(host: Host) -> None:
    _cluster(host, ("nodeid7", "10.0.0.5", "ready", "manager"), ("m2", "10.0.1.9", "down", "manager"),
             ("n2", "10.0.16.9"))  # fmt: skip
    r = host.run("swarm-handover.sh", {"PROMOTE_ADDR": "10.0.16.9"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node promote n2"]


def test_handover_refuses_to_replace_the_only_node(host: Host) -> None:
    _cluster(host, ("nodeid7", "10.0.0.5", "ready", "manager"))
    r = host.run("swarm-handover.sh", {"PROMOTE_ADDR": ""})
    assert r.returncode == 1 and "refusing to replace the only node of the swarm" in r.stderr


def test_handover_cannot_tell_on_a_locked_manager(host: Host) -> None:
    host.set("state", "locked")
    r = host.run("swarm-handover.sh", {"PROMOTE_ADDR": "10.0.16.9"})
    assert r.returncode == 1 and "cannot tell: the swarm is locked" in r.stderr


@pytest.mark.parametrize(("state", "manager", "out", "rc"), [
    ("active", "true", "SWMTKN-1-manager-token", 0),
    ("active", "false", "", 0),
    ("inactive", "false", "", 0),
    ("locked", "true", "", 1),
])  # fmt: skip
def test_the_sponsor_gives_a_manager_token_only_as_a_manager(
    host: Host, state: str, manager: str, out: str, rc: int
) -> None:
    host.set("state", state)
    host.set("manager", manager)
    r = host.run("swarm-sponsor-token.sh")
    assert r.returncode == rc, r.stderr
    assert r.stdout.strip() == out


def test_a_join_without_a_manager_to_join_through_says_why(host: Host) -> None:
    r = host.run("swarm-join.sh", {**JOIN, "MANAGER_ADDR": ""}, stdin="")
    assert r.returncode == 1 and "no other node can let it in" in r.stderr


def test_a_member_skips_its_join_without_a_token(host: Host) -> None:
    """manager-1 runs its join too: it created the swarm, so it is a member and needs no token."""
    _member_of(host, JOIN["SWARM_ID"], "10.0.0.5:2377")
    r = host.run("swarm-join.sh", JOIN, stdin="")
    assert r.returncode == 0 and "skip: already a member" in r.stderr, r.stderr


def test_no_node_is_taken_out_from_itself(host: Host) -> None:
    _cluster(host, ("nodeid7", "10.0.0.5", "ready", "manager"), ("n2", "10.0.16.9"))
    for script in ("swarm-drain.sh", "swarm-forget.sh"):
        r = host.run(script, {"NODE_ADDR": "10.0.0.5"})
        assert r.returncode == 1 and "cannot take this node (nodeid7, 10.0.0.5) out from itself" in r.stderr
    assert _node_calls(host) == []


def test_forget_hands_back_a_manager_role_held_for_a_handover(host: Host) -> None:
    # On worker-1 (nodeid7), promoted for manager-1's replacement: the old manager-1 (m1)
    # has left; the new one (m1new) is a reachable manager.
    _cluster(host, ("nodeid7", "10.0.16.9", "ready", "manager"), ("m1", "10.0.0.5", "down"),
             ("m1new", "10.0.0.7", "ready", "manager"))  # fmt: skip
    r = host.run("swarm-forget.sh", {"NODE_ADDR": "10.0.0.5", "HAND_BACK": "true", "SELF_ROLE": "worker"})
    assert r.returncode == 0, r.stderr
    assert _node_calls(host) == ["node rm --force m1", "node demote nodeid7"]
    assert "demoted this node (nodeid7) again" in r.stderr


@pytest.mark.parametrize(("self_role", "others", "calls", "rc"), [
    ("manager", True, ["node rm --force m1"], 0),  # manager-2: a manager in the program, kept
    ("worker", False, ["node rm --force m1"], 1),  # no other manager yet: not demoted, fails
])  # fmt: skip
def test_forget_hands_back_only_a_worker_and_only_to_another_manager(
    host: Host, self_role: str, others: bool, calls: list[str], rc: int
) -> None:
    nodes = [("nodeid7", "10.0.16.9", "ready", "manager"), ("m1", "10.0.0.5", "down")]
    if others:
        nodes.append(("m1new", "10.0.0.7", "ready", "manager"))
    _cluster(host, *nodes)
    r = host.run("swarm-forget.sh", {"NODE_ADDR": "10.0.0.5", "HAND_BACK": "true", "SELF_ROLE": self_role})
    assert r.returncode == rc, r.stderr
    assert _node_calls(host) == calls


@pytest.mark.parametrize(("have", "want", "set_"), [("false", "true", True), ("true", "true", False)])
def test_autolock_is_set_only_when_it_differs(host: Host, have: str, want: str, set_: bool) -> None:
    _cluster(host, ("nodeid7", "10.0.0.5", "ready", "manager"))
    host.set("autolock", have)
    r = host.run("swarm-autolock.sh", {"AUTOLOCK": want})
    assert r.returncode == 0, r.stderr
    assert ("swarm update --autolock=true" in host.log("docker.argv")) is set_
    assert "SWMKEY" not in r.stdout + r.stderr


TASKS_SMOKE = {"SERVICE": "app", "REPLICAS": 2, "PUBLISHED_PORT": 80, "TARGET_PORT": 5000,
               "NODE_ADDRS": "10.0.0.5", "MODE": "tasks", "NETWORK": "app-net", "PROBE_IMAGE": "busybox:1.36",
               "TIMEOUT": 300}  # fmt: skip


def _probes(host: Host) -> int:
    return sum(line.startswith("run --rm --network app-net") for line in host.log("docker.argv").splitlines())


def _tasks_smoke(host: Host, *said: str) -> subprocess.CompletedProcess[str]:
    _cluster(host, ("n1", "10.0.0.5"))
    host.set("running", "Running 5 seconds ago\nRunning 3 seconds ago")
    host.set("probe-said", "\n".join(said))
    return host.run("swarm-smoke.sh", TASKS_SMOKE)


def test_tasks_smoke_waits_the_whole_timeout_for_a_task_not_yet_listed(host: Host) -> None:
    # Gossip lag: the second task's record arrives after a while (15 probes here, more
    # than the 60 s a non-answering task gets).
    r = _tasks_smoke(host, *["1 only 1 tasks found"] * 15, "0 2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: 2/2 running; every task answers on 5000")
    assert _probes(host) == 16


def test_tasks_smoke_gives_a_task_that_does_not_answer_60_seconds(host: Host) -> None:
    # Listed but silent (no ESP for an encrypted overlay, say): fails after the 60 s
    # budget, not after TIMEOUT; retry's pauses 1+2+4+8+8+... make 60 s ~11 probes.
    r = _tasks_smoke(host, "1 task 10.0.1.7 does not answer")
    assert r.returncode == 1
    assert "not every task of app answers on port 5000: task 10.0.1.7 does not answer" in r.stderr
    assert 5 <= _probes(host) <= 14, _probes(host)


def test_tasks_smoke_fails_when_tasks_stay_unlisted_for_the_whole_timeout(host: Host) -> None:
    r = _tasks_smoke(host, "1 only 1 tasks found")
    assert r.returncode == 1
    assert "fewer than 2 tasks listed on app-net after 300s: only 1 tasks found" in r.stderr
    assert _probes(host) > 30, _probes(host)

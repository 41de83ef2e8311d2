"""What the real engine and providers would do to a live cluster, in the lab (issue 12):
a second machine with only the stack's state, a second `up` that changes nothing, a
renamed service, the encrypted overlay toggled, a replaced instance on a new host."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab import engine
from lab.engine import events as engine_events
from lab.engine.config import Secret
from lab.summary import collect, socket_client
from tests.lab.test_lab import reset, swarm_state, up

pytestmark = pytest.mark.lab
CHECKOUT = Path("/tmp/swarm-ci/checkout")  # the same path on both "machines", as a CI runner has it
# The deployer's key folder (components/access.py): ssh resolves %d from the password database.
KEY_DIR = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "pulumi-docker-swarm" / "lab"


@pytest.fixture
def fresh(lab_hosts: int) -> int:
    reset(lab_hosts)
    return lab_hosts


def new_machine(tmp: Path, name: str) -> dict[str, str]:
    """A fresh clone at CHECKOUT (tracked and new files only: no .ssh/, no .venv), no key
    file in the home, a fresh HOME and temp directory. Returns the environment."""
    shutil.rmtree(CHECKOUT, ignore_errors=True)
    shutil.rmtree(KEY_DIR, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=engine.ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")  # fmt: skip
    for rel in (f.decode() for f in files if f):
        src = engine.ROOT / rel
        if src.is_file():
            (CHECKOUT / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, CHECKOUT / rel)
    home, tmpdir = tmp / f"{name}-home", tmp / f"{name}-tmp"
    home.mkdir()
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_CONFIG", "SWARM_DEPLOYER"))}
    return {**env, "HOME": str(home), "TMPDIR": str(tmpdir), "LAB_STATE": str(engine.LAB_STATE)}


def engine_cli(env: dict[str, str], *args: str) -> dict:
    """`python -m lab.engine ARGS` run from the clone; the run's closing phase event."""
    res = subprocess.run([sys.executable, "-m", "lab.engine", *args], cwd=CHECKOUT, env=env,
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    done = [e for e in engine_events.read(engine.LAB_STATE) if e["kind"] == "phase" and e["phase"] == "done"]
    return done[-1]


@pytest.mark.leaves_default_stack
def test_replacing_a_worker_gives_a_new_host_and_keeps_the_swarm_whole(default_stack: int) -> None:
    """`--replace NAME` as `pulumi up --replace URN`: a new instance is a new host with a
    new address; it joins with a token valid now, then the old node is drained, leaves
    and is removed, at the end of the run (issue 13, item 1, for a worker)."""
    before = engine.State(engine.LAB_STATE)
    (old,) = before.by_name("swarm-worker-2")
    old_ip, old_host = before.outputs_of(old)["publicIp"], before.hosts["swarm-worker-2"]
    out = engine.up({}, replace=["swarm-worker-2"])
    after = engine.State(engine.LAB_STATE)
    (new,) = after.by_name("swarm-worker-2")
    assert after.outputs_of(new)["publicIp"] != old_ip and after.hosts["swarm-worker-2"] != old_host
    s = collect()
    assert len(s.nodes) == 3, s.nodes
    assert all(n["state"] == "ready" and n["availability"] == "active" for n in s.nodes), s.nodes
    assert f"swl-n{old_host}" not in {n["hostname"] for n in s.nodes}
    assert s.service["running"] == 2
    assert {"boot-member-worker-2", "boot-leave-worker-2", "boot-forget-worker-2"} <= set(out.deleted)
    # In this order, on the old node: drained (manager), left (the node itself), removed.
    said = [(e["name"], e["line"]) for e in engine_events.read(engine.LAB_STATE, out.run) if e["kind"] == "output"]
    order = [
        next(i for i, (n, line) in enumerate(said) if n == name and text in line)
        for name, text in (("boot-member-worker-2", "drained node"), ("boot-leave-worker-2", "left the swarm"),
                           ("boot-forget-worker-2", "removed node"))
    ]  # fmt: skip
    assert order == sorted(order), said


def _logs_in(ip: str, private_key: str) -> bool:
    """Does IP's sshd accept PRIVATE_KEY for root? (paramiko, no agent, no other key)"""
    import io

    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(ip, username="root", pkey=paramiko.Ed25519Key.from_private_key(io.StringIO(private_key)),
                       allow_agent=False, look_for_keys=False, timeout=10)  # fmt: skip
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()


def test_rotating_the_ssh_key_replaces_no_node(default_stack: int, tmp_path: Path) -> None:
    """Both keys for one run (sshAdditionalPublicKeys), then only the new one: no instance
    is replaced; afterwards the new key logs in and the old one is refused (issue 13)."""
    old_pub, old_priv = engine.lab_key(engine.LAB_STATE)
    new = tmp_path / "new_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "new", "-f", str(new)], check=True)
    new_pub, new_priv = new.with_suffix(".pub").read_text().strip(), new.read_text()
    ids = {r.name: r.id for r in engine.State(engine.LAB_STATE).resources.values() if r.type.endswith("Instance")}

    engine.up({"sshAdditionalPublicKeys": [new_pub]})  # config set --path 'sshAdditionalPublicKeys[0]'
    # config set sshPublicKey; config set --secret sshPrivateKey; config rm sshAdditionalPublicKeys
    engine.up({"sshPublicKey": new_pub, "sshPrivateKey": Secret(new_priv), "sshAdditionalPublicKeys": None})

    state = engine.State(engine.LAB_STATE)
    assert {r.name: r.id for r in state.resources.values() if r.type.endswith("Instance")} == ids
    for r in (r for r in state.resources.values() if r.type.endswith("Instance")):
        ip = state.outputs_of(r)["publicIp"]
        assert _logs_in(ip, new_priv), ip
        assert not _logs_in(ip, old_priv), ip
    assert collect().service["running"] == 2
    assert old_pub != new_pub
    # `config set --secret`: sealed in the lab's state, shown nowhere.
    for f in ("stack.json", "engine.log", "events.jsonl"):
        assert "PRIVATE KEY" not in (engine.LAB_STATE / f).read_text(), f


def test_a_second_machine_updates_and_destroys_with_only_the_state(fresh: int, tmp_path: Path) -> None:
    first = new_machine(tmp_path, "first")
    engine_cli(first, "up")
    assert collect().service["running"] == 2

    second = new_machine(tmp_path, "second")  # same path, nothing of the first machine's
    assert not KEY_DIR.exists() and not (CHECKOUT / ".ssh").exists()
    engine_cli(second, "up", "--set", "serviceReplicas=3")
    assert collect().service["running"] == collect().service["desired"] == 3

    # A second `up` changes nothing: every step is judged on the providers' read-back.
    again = engine_cli(second, "up")
    assert set(again["stats"]) == {"same"}, again["stats"]
    assert again["deleted"] == []

    third = new_machine(tmp_path, "third")
    engine_cli(third, "destroy", "--run-program")
    assert engine.State(engine.LAB_STATE).resources == {}
    assert all(swarm_state(k) == "inactive" for k in range(1, fresh + 1))


def manager_client():
    k = engine.State(engine.LAB_STATE).hosts["swarm-manager-1"]
    return socket_client(k)


def test_renaming_the_service_on_a_live_cluster(default_stack: int) -> None:
    out = up(serviceName="web")
    assert {"app-service", "app-net"} <= set(out.deleted)  # replaced delete-first
    web = collect(service_name="web")
    assert web.service["running"] == 2 and web.service["ports"] == ["*:5001->5000/tcp (ingress)"]
    assert not collect(service_name="testapp").service
    c = manager_client()
    try:
        names = {n.name for n in c.networks.list()}
    finally:
        c.close()
    assert "web-net" in names and "testapp-net" not in names
    assert out.exports["smokeTest"].startswith("ok: 2/2 running")


def network_options(name: str) -> dict[str, str]:
    c = manager_client()
    try:
        return c.networks.get(name).attrs.get("Options") or {}
    finally:
        c.close()


def esp_rule_in_state() -> bool:
    return bool(engine.State(engine.LAB_STATE).by_name("fw-esp"))


def test_encrypted_overlay_on_off_on(fresh: int) -> None:
    """The daemon's network options and the firewall's ESP rule follow the setting, and
    every run ends with the smoke test's "ok". One node (workerCount=0), both tasks on
    it: this kernel has no ESP, so IPsec traffic between two nodes would be dropped;
    that traffic, across VMs, is the VM lab's to show (tests/vmlab)."""
    up(workerCount=0)
    assert "encrypted" not in network_options("testapp-net") and not esp_rule_in_state()
    for want in (True, False, True):
        out = up(workerCount=0, encryptedOverlay=str(want).lower())
        assert ("encrypted" in network_options("testapp-net")) is want, json.dumps(network_options("testapp-net"))
        assert esp_rule_in_state() is want
        assert {"app-net", "app-service"} <= set(out.deleted)  # the network is replaced, and its service
        assert out.exports["smokeTest"].startswith("ok: 2/2 running"), out.exports["smokeTest"]
        assert collect().service["running"] == 2

"""The whole program under mocks: what it registers, read off the monitor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harness.run import Run, is_secret, unwrap
from tests.cloudmocks import FAKE_PRIVATE_KEY, FAKE_TOKEN
from tests.program.helpers import run

CMD = "command:remote:Command"
INSTANCE = "aws:ec2/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GOLDEN = Path(__file__).resolve().parent / "golden"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default() -> Run:
    return run()


def names(r: Run, type_: str) -> list[str]:
    return sorted(x.name for x in r.of_type(type_))


def test_default_stack_counts(default: Run) -> None:
    count = Counter(x.type for x in default.registrations)
    assert count["aws:ec2/vpc:Vpc"] == 1
    assert count["aws:ec2/subnet:Subnet"] == 3
    assert count["aws:ec2/routeTableAssociation:RouteTableAssociation"] == 3
    assert count["aws:ec2/internetGateway:InternetGateway"] == 1
    assert count[INSTANCE] == 3
    assert count[INGRESS] == 7
    assert count["aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"] == 1
    assert count["pulumi:providers:docker"] == 1
    assert count["docker:index/service:Service"] == 1
    assert names(default, CMD) == sorted(
        ["boot-ready-manager-1", "boot-ready-worker-1", "boot-ready-worker-2", "boot-init", "boot-token-worker",
         "boot-join-worker-1", "boot-join-worker-2", "boot-member-manager-1", "boot-member-worker-1",
         "boot-member-worker-2", "boot-forget-worker-1", "boot-forget-worker-2", "boot-rotate-tokens",
         "app-smoke"]
    )  # fmt: skip
    assert names(default, "command:local:Command") == ["access-keyfile", "boot-leave-worker-1", "boot-leave-worker-2"]


def test_roles_tags_and_hardening(default: Run) -> None:
    instances = default.of_type(INSTANCE)
    roles = Counter(i.inputs["tags"]["swarm-role"] for i in instances)
    assert roles == {"manager": 1, "worker": 2}
    for i in instances:
        assert i.inputs["metadataOptions"]["httpTokens"] == "required"
        assert i.inputs["rootBlockDevice"]["encrypted"] is True
        assert i.inputs["rootBlockDevice"]["volumeType"] == "gp3"
        assert i.inputs["tags"]["swarm-cluster"] == "docker-swarm-dev"
        assert i.inputs["tags"]["Name"] == i.name
        assert set(i.ignore_changes) >= {"ami", "userData"}


def test_ami_is_looked_up_by_owner_and_name() -> None:
    from tests.cloudmocks import CloudMocks
    from tests.program import helpers

    mocks = CloudMocks(architectures=("arm64",))
    from harness.run import RecordingMonitor, run_program

    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    run_program(mocks, {**helpers.BASE, "instanceType": "t4g.small"}, monitor=mon)
    ami = [a for t, a in mocks.calls if t == "aws:ec2/getAmi:getAmi"]
    assert len(ami) == 1 and ami[0]["owners"] == ["099720109477"] and ami[0]["mostRecent"] is True
    assert ami[0]["filters"][0]["values"] == ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*"]


@pytest.mark.parametrize(("managers", "workers"), [(1, 0), (1, 2), (3, 4), (5, 10), (7, 30)])
def test_counts_follow_config(managers: int, workers: int) -> None:
    r = run({"managerCount": managers, "workerCount": workers})
    roles = Counter(i.inputs["tags"]["swarm-role"] for i in r.of_type(INSTANCE))
    assert roles == {k: v for k, v in {"manager": managers, "worker": workers}.items() if v}
    cmds = names(r, CMD)
    assert sum(c.startswith("boot-join-") for c in cmds) == managers + workers - 1
    assert sum(c.startswith("boot-ready-") for c in cmds) == managers + workers
    assert sum(c.startswith("boot-member-") for c in cmds) == managers + workers
    assert sum(c.startswith("boot-forget-") for c in cmds) == managers + workers - 1
    assert ("boot-token-manager" in cmds) == (managers > 1)
    assert ("boot-token-worker" in cmds) == (workers > 0)
    assert ("boot-rotate-tokens" in cmds) == (managers + workers > 1)


def test_spread_over_zones() -> None:
    r = run({"managerCount": 3, "workerCount": 6})
    subnets = {s.urn: s for s in r.of_type("aws:ec2/subnet:Subnet")}
    by_id = {f"{s.name}-id": s.inputs["availabilityZone"] for s in subnets.values()}
    zones = Counter(by_id[i.inputs["subnetId"]] for i in r.of_type(INSTANCE))
    assert zones == {"eu-west-1a": 3, "eu-west-1b": 3, "eu-west-1c": 3}
    managers = {by_id[i.inputs["subnetId"]] for i in r.of_type(INSTANCE) if i.inputs["tags"]["swarm-role"] == "manager"}
    assert len(managers) == 3


def test_az_count_is_capped_by_the_region() -> None:
    r = run({"azCount": 6}, zones=2)
    assert len(r.of_type("aws:ec2/subnet:Subnet")) == 2


def test_exact_ingress_rules(default: Run) -> None:
    group = default.of_type("aws:ec2/securityGroup:SecurityGroup")[0]
    got = set()
    for rule in default.of_type(INGRESS):
        i = rule.inputs
        peer = (
            "self"
            if i.get("referencedSecurityGroupId") == f"{group.name}-id"
            else i.get("cidrIpv4") or i.get("cidrIpv6")
        )
        got.add((i["ipProtocol"], int(i["fromPort"]), int(i["toPort"]), peer))
        assert i.get("description")
    assert got == {
        ("tcp", 2377, 2377, "self"),
        ("tcp", 7946, 7946, "self"),
        ("udp", 7946, 7946, "self"),
        ("udp", 4789, 4789, "self"),
        ("tcp", 5001, 5001, "self"),
        ("tcp", 22, 22, "198.51.100.7/32"),
        ("tcp", 5001, 5001, "0.0.0.0/0"),
    }


def test_nothing_but_the_service_is_open_to_the_world(default: Run) -> None:
    for rule in default.of_type(INGRESS):
        if rule.inputs.get("cidrIpv4") in ("0.0.0.0/0",) or rule.inputs.get("cidrIpv6") == "::/0":
            assert int(rule.inputs["fromPort"]) == 5001 and rule.inputs["ipProtocol"] == "tcp"


@pytest.mark.skipif(shutil.which("cloud-init") is None, reason="Debian package cloud-init not installed")
def test_registered_user_data_is_valid_cloud_config(default: Run, tmp_path: Path) -> None:
    for i in default.of_type(INSTANCE):
        f = tmp_path / f"{i.name}.yaml"
        f.write_text(i.inputs["userData"])
        res = subprocess.run(["cloud-init", "schema", "--config-file", str(f)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def _walk(value, path=""):
    """Yield (path, plain string) for every string not inside a secret wrapper."""
    if is_secret(value):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _walk(v, f"{path}[{n}]")
    elif isinstance(value, str):
        yield path, value


def test_secrets_never_appear_unwrapped(default: Run) -> None:
    leaks = [
        (r.name, p) for r in default.registrations for p, s in _walk(r.inputs) if FAKE_TOKEN in s or "PRIVATE KEY" in s
    ]
    assert leaks == []
    assert "privateKey" in default.secret_exports and default.exports["privateKey"] == FAKE_PRIVATE_KEY
    for key, value in default.exports.items():
        if key not in default.secret_exports:
            assert FAKE_TOKEN not in json.dumps(value) and "PRIVATE KEY" not in json.dumps(value), key
    assert not any(FAKE_TOKEN in line or "PRIVATE KEY" in line for line in default.logs)


def test_token_reads_are_secret_and_not_logged(default: Run) -> None:
    read = default.named("boot-token-worker")
    assert "stdout" in read.additional_secret_outputs
    assert read.inputs["logging"] == "stderr"
    join = default.named("boot-join-worker-1")
    assert is_secret(join.inputs["stdin"]) and unwrap(join.inputs["stdin"]) == FAKE_TOKEN
    assert "environment" not in join.inputs
    assert FAKE_TOKEN not in join.inputs["create"]
    assert "stdin" in join.ignore_changes


def test_connections_carry_the_key_as_a_secret(default: Run) -> None:
    for c in default.of_type(CMD):
        if "connection" not in c.inputs:
            continue
        # The whole connection is secret because the key inside it is.
        assert is_secret(c.inputs["connection"]), c.name
        conn = unwrap(c.inputs["connection"])
        assert conn["user"] == "ubuntu" and conn["privateKey"] == FAKE_PRIVATE_KEY


def test_readiness_gate_tolerates_a_slow_sshd(default: Run) -> None:
    gate = default.named("boot-ready-worker-1")
    assert int(unwrap(gate.inputs["connection"])["dialErrorLimit"]) == -1
    assert gate.custom_timeouts == {"create": "20m"}


def test_taking_a_node_out_drains_leaves_and_removes(default: Run) -> None:
    manager_ip = default.exports["managerPublicIp"]
    for n in ("worker-1", "worker-2"):
        drain, leave, forget = (default.named(f"boot-{step}-{n}") for step in ("member", "leave", "forget"))
        assert unwrap(drain.inputs["connection"])["host"] == manager_ip
        assert unwrap(forget.inputs["connection"])["host"] == manager_ip
        assert "--availability drain" in drain.inputs["delete"] and "docker node demote" in drain.inputs["delete"]
        assert "docker swarm leave --force" in leave.inputs["delete"] and "create" not in leave.inputs
        assert "docker node rm --force" in forget.inputs["delete"] and "create" not in forget.inputs
        # Deletes run dependents first: drain (member) -> leave -> forget.
        assert leave.urn in drain.dependencies and forget.urn in leave.dependencies
    # The first manager is never removed by a member delete (it cannot remove itself).
    assert "delete" not in default.named("boot-member-manager-1").inputs
    assert "docker swarm leave --force" in default.named("boot-init").inputs["delete"]


def test_service_spec(default: Run) -> None:
    svc = default.of_type("docker:index/service:Service")[0]
    i = svc.inputs
    assert i["name"] == "testapp"
    assert i["taskSpec"]["containerSpec"]["image"] == "shaikkhajaibrahim/qttestapp:1.0"
    assert int(i["mode"]["replicated"]["replicas"]) == 2
    (port,) = i["endpointSpec"]["ports"]
    assert (int(port["publishedPort"]), int(port["targetPort"]), port["publishMode"], port["protocol"]) == (
        5001,
        5000,
        "ingress",
        "tcp",
    )
    assert i["taskSpec"]["placement"]["prefs"] == ["spread=node.labels.az"]
    assert i["updateConfig"]["failureAction"] == "rollback" and i["rollbackConfig"]["order"]
    assert i["convergeConfig"]["timeout"]
    provider = default.of_type("pulumi:providers:docker")[0]
    assert svc.provider.startswith(provider.urn)
    assert provider.inputs["host"] == f"ssh://ubuntu@{default.exports['managerPublicIp']}"
    opts = json.loads(provider.inputs["sshOpts"])
    assert "StrictHostKeyChecking=accept-new" in opts and "BatchMode=yes" in opts
    assert json.loads(provider.inputs["disableDockerDaemonCheck"]) is True


def test_outputs(default: Run) -> None:
    e = default.exports
    assert e["vpcId"] == "net-vpc-id"
    assert [n["role"] for n in e["nodes"]] == ["manager", "worker", "worker"]
    assert all(set(n) == {"name", "role", "az", "publicIp", "privateIp"} for n in e["nodes"])
    assert e["serviceUrls"] == [f"http://{n['publicIp']}:5001" for n in e["nodes"]]
    assert e["sshCommand"] == f"ssh ubuntu@{e['managerPublicIp']}"
    assert e["swarmId"] == "swarmid0123456789"


def test_given_public_key_without_private_key_uses_the_agent() -> None:
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl you@host"
    r = run({"sshPublicKey": pub})
    assert not r.of_type("tls:index/privateKey:PrivateKey") and "privateKey" not in r.exports
    assert r.of_type("aws:ec2/keyPair:KeyPair")[0].inputs["publicKey"] == pub
    assert all("privateKey" not in unwrap(c.inputs["connection"]) for c in r.of_type(CMD))
    # No key file: the agent serves the deployer's ssh (docker provider, node leave) too.
    assert "access-keyfile" not in [c.name for c in r.of_type("command:local:Command")]
    assert "-i" not in json.loads(r.of_type("pulumi:providers:docker")[0].inputs["sshOpts"])


GOLDEN_COMMANDS = ["boot-ready-worker-1", "boot-init", "boot-token-worker", "boot-join-worker-1",
                   "boot-member-worker-1", "boot-forget-worker-1", "boot-leave-worker-1", "boot-rotate-tokens",
                   "app-smoke", "access-keyfile"]  # fmt: skip


@pytest.mark.parametrize("name", GOLDEN_COMMANDS)
def test_rendered_commands_match_golden_files(default: Run, name: str) -> None:
    reg = default.named(name)
    for field in ("create", "delete"):
        text = reg.inputs.get(field)
        if text is None:
            continue
        text = text.replace(str(ROOT), "<checkout>")  # the same in any clone
        path = GOLDEN / f"{name}.{field}.sh"
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.write_text(text)
        assert path.exists(), f"missing golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
        assert text == path.read_text(), f"{name}.{field} changed: review, then UPDATE_GOLDEN=1"

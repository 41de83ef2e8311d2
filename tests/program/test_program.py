"""The whole program under mocks: what it registers, read off the monitor."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml

from harness.run import Run, is_secret, unwrap
from lab.providers.docker import read_back_duration
from tests.cloudmocks import FAKE_DIGEST, FAKE_PRIVATE_KEY, FAKE_PUBLIC_KEY, FAKE_TOKEN, FAKE_UNLOCK_KEY
from tests.program.helpers import run
from tests.skips import needs

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
         "boot-join-manager-1", "boot-join-worker-1", "boot-join-worker-2", "boot-member-manager-1",
         "boot-member-worker-1", "boot-member-worker-2", "boot-label-worker-1", "boot-label-worker-2",
         "boot-forget-manager-1", "boot-forget-worker-1",
         "boot-forget-worker-2", "boot-drain-manager-1", "boot-token-rejoin", "boot-autolock", "boot-rotate-tokens",
         "app-image", "app-smoke", "boot-keys-manager-1", "boot-keys-worker-1", "boot-keys-worker-2"]
    )  # fmt: skip
    assert names(default, "command:local:Command") == [
        "boot-handover-manager-1", "boot-leave-manager-1", "boot-leave-worker-1", "boot-leave-worker-2"
    ]  # fmt: skip


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


@pytest.mark.parametrize(("managers", "workers"), [(1, 0), (1, 2), (3, 4), (5, 10), (7, 8)])
def test_counts_follow_config(managers: int, workers: int) -> None:
    r = run({"managerCount": managers, "workerCount": workers})
    roles = Counter(i.inputs["tags"]["swarm-role"] for i in r.of_type(INSTANCE))
    assert roles == {k: v for k, v in {"manager": managers, "worker": workers}.items() if v}
    cmds = names(r, CMD)
    # Every node joins (manager-1 too: it skips, until a replacement of it joins).
    assert sum(c.startswith("boot-join-") for c in cmds) == managers + workers
    assert sum(c.startswith("boot-ready-") for c in cmds) == managers + workers
    assert sum(c.startswith("boot-member-") for c in cmds) == managers + workers
    assert sum(c.startswith("boot-forget-") for c in cmds) == managers + workers
    assert ("boot-token-rejoin" in cmds) == (managers + workers > 1)
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
    group = default.named("fw-nodes")
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


@needs("cloud-init")
def test_registered_user_data_is_valid_cloud_config(default: Run, cloud_config_check) -> None:
    for i in default.of_type(INSTANCE):
        assert cloud_config_check.check(unwrap(i.inputs["userData"])) is None, i.name


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


SECRET_MARKERS = (FAKE_TOKEN, "SWMTKN-", FAKE_UNLOCK_KEY, "SWMKEY-", "PRIVATE KEY")


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"autolock": True, "managerCount": 3, "workerCount": 3},
        {"pinHostKeys": False},
        # The jump host's connection (proxy) carries the private key too.
        {"autolock": True, "loadBalancer": True, "privateWorkers": True},
    ],
)
def test_secrets_audit(config: dict) -> None:
    """Every registered input, every export and every log line: no token, unlock key
    or private key outside a secret."""
    r = run(config)
    leaks = [(x.name, p) for x in r.registrations for p, s in _walk(x.inputs) if any(m in s for m in SECRET_MARKERS)]
    assert leaks == []
    for key, value in r.exports.items():
        if key not in r.secret_exports:
            assert not any(m in json.dumps(value) for m in SECRET_MARKERS), key
    assert not [line for line in r.logs if any(m in line for m in SECRET_MARKERS)]
    assert r.exports["privateKey"] == FAKE_PRIVATE_KEY and "privateKey" in r.secret_exports
    if config.get("autolock"):
        assert r.exports["unlockKey"] == FAKE_UNLOCK_KEY and "unlockKey" in r.secret_exports
    else:
        assert "unlockKey" not in r.exports


def test_secrets_audit_sees_a_leak(default: Run) -> None:
    # Guard for the audit above: it does find an unwrapped secret where one is.
    inputs = {**default.named("boot-join-worker-1").inputs}
    inputs["create"] += "\n# " + FAKE_TOKEN
    assert [p for p, s in _walk(inputs) if FAKE_TOKEN in s] == [".create"]


def test_secrets_audit_reads_every_log_level(default: Run) -> None:
    # Guard for the audit's log lines: they hold the SDK's debug lines (one per
    # registration, pulumi/runtime/resource.py register_resource) and not only warnings.
    registering = {line for line in default.logs if line.startswith("registering resource: ")}
    assert registering >= {
        f"registering resource: ty={x.type}, name={x.name}, custom=True, remote=False"
        for x in default.registrations
        if x.custom
    }


def test_host_keys_are_pinned_by_default(default: Run) -> None:
    keys = {k.name: k for k in default.of_type("tls:index/privateKey:PrivateKey") if k.name.endswith("-hostkey")}
    assert len(keys) == 3
    ud = {}
    for i in default.of_type(INSTANCE):
        assert is_secret(i.inputs["userData"])  # it holds the host's private key
        doc = yaml.safe_load(unwrap(i.inputs["userData"]))
        assert doc["ssh_keys"]["ed25519_private"] == FAKE_PRIVATE_KEY
        pub = doc["ssh_keys"]["ed25519_public"]
        assert pub.split() == keys[f"{i.name}-hostkey"].outputs["publicKeyOpenssh"].split()[:2]
        ud[i.name] = pub
    assert len(set(ud.values())) == 3
    by_ip = {n["publicIp"]: n["name"] for n in default.exports["nodes"]}
    for c in default.of_type(CMD):
        conn = unwrap(c.inputs["connection"])
        assert conn["hostKey"] == ud[by_ip[conn["host"]]], c.name
    opts = json.loads(default.of_type("pulumi:providers:docker")[0].inputs["sshOpts"])
    assert f"KnownHostsCommand=/bin/echo %H {ud['swarm-manager-1']}" in opts
    assert "StrictHostKeyChecking=yes" in opts and "UserKnownHostsFile=/dev/null" in opts
    assert not any("known_hosts" in o for o in opts)  # no file left behind
    assert ud["swarm-worker-1"] in default.named("boot-leave-worker-1").inputs["delete"]


def test_without_pinning_the_first_key_is_trusted() -> None:
    r = run({"pinHostKeys": False})
    assert not [k for k in r.of_type("tls:index/privateKey:PrivateKey") if k.name.endswith("-hostkey")]
    for i in r.of_type(INSTANCE):
        assert not is_secret(i.inputs["userData"]) and "ssh_keys" not in i.inputs["userData"]
    assert all("hostKey" not in unwrap(c.inputs["connection"]) for c in r.of_type(CMD))
    opts = json.loads(r.of_type("pulumi:providers:docker")[0].inputs["sshOpts"])
    assert "StrictHostKeyChecking=accept-new" in opts


def test_encrypted_overlay(default: Run) -> None:
    plain, enc = default, run({"encryptedOverlay": True})
    assert "options" not in plain.of_type("docker:index/network:Network")[0].inputs
    # Network options are ignored once set (the daemon adds its VXLAN id on read); the
    # label, ForceNew and read back as given, is what makes a toggle replace the network.
    plain_net = plain.of_type("docker:index/network:Network")[0]
    assert not plain_net.inputs.get("labels") and not plain_net.ignore_changes
    enc_net = enc.of_type("docker:index/network:Network")[0]
    assert enc_net.inputs["labels"] == [{"label": "swarm.overlay.encrypted", "value": "true"}]
    net = enc.of_type("docker:index/network:Network")[0]
    assert net.inputs["options"] == {"encrypted": "true"} and net.inputs["driver"] == "overlay"
    assert "options" in net.ignore_changes
    esp = [x.inputs for x in enc.of_type(INGRESS) if x.inputs["ipProtocol"] == "50"]
    group = enc.named("fw-nodes")
    assert len(esp) == 1 and esp[0]["referencedSecurityGroupId"] == f"{group.name}-id" and "fromPort" not in esp[0]
    assert not [x for x in plain.of_type(INGRESS) if x.inputs["ipProtocol"] == "50"]


def test_autolock() -> None:
    r = run({"autolock": True})
    assert "AUTOLOCK=true" in r.named("boot-init").inputs["create"]
    # init runs once in a stack's life: a later change of autolock is this step's.
    assert "AUTOLOCK=true" in r.named("boot-autolock").inputs["create"]
    unlock = r.named("boot-unlock-key")
    assert "stdout" in unlock.additional_secret_outputs and unlock.inputs["logging"] == "stderr"
    assert r.named("boot-autolock").urn in unlock.dependencies
    assert r.named("boot-join-manager-1").urn in r.named("boot-autolock").dependencies
    assert "AUTOLOCK=false" in run().named("boot-init").inputs["create"]
    assert "AUTOLOCK=false" in run().named("boot-autolock").inputs["create"]


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
    # The gate's update runs its create again (no `update` text): it needs the same bound.
    assert gate.custom_timeouts == {"create": "20m", "update": "20m", "delete": "20m"}


def test_every_command_is_bounded_in_each_operation_it_runs(default: Run) -> None:
    """pulumi-go-provider v1.3.0 (middleware/cancel/cancel.go) gives an operation a
    deadline only from customTimeouts; an unlimited dial (-1) or a host that is down
    would otherwise retry for ever on update or delete."""
    commands = [*default.of_type(CMD), *default.of_type("command:local:Command")]
    for c in commands:
        ops = set()
        if c.inputs.get("create") is not None:
            ops |= {"create", "update"}  # update unset: an update runs create
        if c.inputs.get("delete") is not None:
            ops.add("delete")
        missing = ops - set(c.custom_timeouts)
        assert not missing, (c.name, missing)


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
    # manager-1 is taken out on the node after it (its sponsor), never by itself: drain
    # -> leave -> forget, the forget handing back a manager role held for its handover.
    sponsor_ip = default.exports["nodes"][1]["publicIp"]
    drain, leave, forget = (default.named(f"boot-{step}-manager-1") for step in ("drain", "leave", "forget"))
    assert unwrap(drain.inputs["connection"])["host"] == sponsor_ip
    assert unwrap(forget.inputs["connection"])["host"] == sponsor_ip
    assert "--availability drain" in drain.inputs["delete"] and "create" not in drain.inputs
    assert "HAND_BACK=true" in forget.inputs["delete"] and "SELF_ROLE=worker" in forget.inputs["delete"]
    assert leave.urn in drain.dependencies and forget.urn in leave.dependencies
    assert "delete" not in default.named("boot-member-manager-1").inputs
    # init has no delete: the swarm goes with the instances.
    assert "delete" not in default.named("boot-init").inputs


def test_a_destroy_runs_no_swarm_step(default: Run) -> None:
    """Every step with a delete, and the docker network and service, are deleted with
    the VPC: `pulumi destroy` skips them (the instances take the swarm with them), so it
    needs no node to answer (pulumi/pulumi v3.259.0 step.go, isDeletedWith)."""
    vpc = default.of_type("aws:ec2/vpc:Vpc")[0].urn
    with_delete = [r for r in default.registrations if r.type.startswith("command:") and "delete" in r.inputs]
    assert len(with_delete) == 10  # drain, leave, forget per node (3 nodes); manager-1's handover
    for r in [
        *with_delete,
        *default.of_type("docker:index/network:Network"),
        *default.of_type("docker:index/service:Service"),
    ]:
        assert r.deleted_with == vpc, r.name
    assert all(
        not r.deleted_with for r in default.registrations if r.type.startswith("command:") and "delete" not in r.inputs
    )


def test_service_spec(default: Run) -> None:
    svc = default.of_type("docker:index/service:Service")[0]
    i = svc.inputs
    assert i["name"] == "testapp"
    # Pinned as the provider's create pins it (components/image_ref.py).
    assert i["taskSpec"]["containerSpec"]["image"] == f"shaikkhajaibrahim/qttestapp:1.0@{FAKE_DIGEST}"
    assert int(i["mode"]["replicated"]["replicas"]) == 2
    (port,) = i["endpointSpec"]["ports"]
    assert (int(port["publishedPort"]), int(port["targetPort"]), port["publishMode"], port["protocol"]) == (
        5001,
        5000,
        "ingress",
        "tcp",
    )
    assert i["taskSpec"]["placement"]["prefs"] == ["node.labels.az"]
    assert i["taskSpec"]["placement"]["platforms"] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "", "os": "linux"},  # moby clears "arm"
    ]
    assert i["updateConfig"]["failureAction"] == "rollback" and i["rollbackConfig"]["order"]
    assert i["convergeConfig"]["timeout"]
    provider = default.of_type("pulumi:providers:docker")[0]
    assert svc.provider.startswith(provider.urn)
    assert provider.inputs["host"] == f"ssh://ubuntu@{default.exports['managerPublicIp']}"
    opts = json.loads(provider.inputs["sshOpts"])
    assert "StrictHostKeyChecking=yes" in opts and "BatchMode=yes" in opts
    assert json.loads(provider.inputs["disableDockerDaemonCheck"]) is True


def test_outputs(default: Run) -> None:
    e = default.exports
    assert e["vpcId"] == "net-vpc-id"
    assert [n["role"] for n in e["nodes"]] == ["manager", "worker", "worker"]
    assert all(set(n) == {"name", "role", "az", "publicIp", "privateIp", "instanceUrn"} for n in e["nodes"])
    # What `pulumi up --replace` takes (ops/roll.py): the URN of the node's instance.
    instances = {r.name: r.urn for r in default.of_type(INSTANCE)}
    assert all(n["instanceUrn"] == instances[n["name"]] for n in e["nodes"])
    assert e["serviceUrls"] == [f"http://{n['publicIp']}:5001" for n in e["nodes"]]
    assert e["sshCommand"] == f"ssh ubuntu@{e['managerPublicIp']}"
    assert e["swarmId"] == "swarmid0123456789"


def test_given_public_key_without_private_key_uses_the_agent() -> None:
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl you@host"
    r = run({"sshPublicKey": pub})
    assert "ssh-key" not in names(r, "tls:index/privateKey:PrivateKey") and "privateKey" not in r.exports
    assert r.of_type("aws:ec2/keyPair:KeyPair")[0].inputs["publicKey"] == pub
    assert all("privateKey" not in unwrap(c.inputs["connection"]) for c in r.of_type(CMD))
    # No key file: the agent serves the deployer's ssh (docker provider, node leave) too.
    opts = json.loads(r.of_type("pulumi:providers:docker")[0].inputs["sshOpts"])
    assert "-i" not in opts and not any(o.startswith("IdentityFile=") for o in opts)


GOLDEN_COMMANDS = ["boot-ready-worker-1", "boot-init", "boot-token-worker", "boot-join-worker-1",
                   "boot-member-worker-1", "boot-forget-worker-1", "boot-leave-worker-1", "boot-rotate-tokens",
                   "app-smoke"]  # fmt: skip


def golden_form(text: str) -> str:
    """TEXT with each exact copy of a file of scripts/ replaced by one line naming it.

    A rendered command is its parameters, scripts/lib.sh, then the script
    (components/commands.py); a command may carry another as a quoted parameter. The
    golden file keeps what the program decides (which script, which parameters) and not
    a copy of each script, so an edit of lib.sh or of a script rewrites no golden file.
    A script that was not copied exactly stays in full, and the comparison shows it.
    """
    from components.commands import SCRIPTS_DIR, script_text

    names = sorted((p.name for p in SCRIPTS_DIR.glob("*.sh")), key=lambda n: -len(script_text(n)))
    for name in names:
        body = script_text(name)
        marker = f"# <scripts/{name}>\n"
        text = text.replace(body, marker)
        text = text.replace(body.replace("'", "'\"'\"'"), marker)  # inside a shlex-quoted parameter
    return text.replace(str(ROOT), "<checkout>")  # the same in any clone


@pytest.mark.parametrize("name", GOLDEN_COMMANDS)
def test_rendered_commands_match_golden_files(default: Run, name: str) -> None:
    reg = default.named(name)
    for field in ("create", "delete"):
        text = reg.inputs.get(field)
        if text is None:
            continue
        text = golden_form(text)
        path = GOLDEN / f"{name}.{field}.sh"
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.write_text(text)
        assert path.exists(), f"missing golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
        assert text == path.read_text(), f"{name}.{field} changed: review, then UPDATE_GOLDEN=1"


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_no_input_holds_a_path_of_this_machine(default: Run) -> None:
    """Two machines (a laptop, a CI runner) must see the same inputs: an absolute path
    of the checkout or the home directory would make each diff the other's state."""
    import pwd

    home = pwd.getpwuid(os.getuid()).pw_dir
    local = [str(ROOT), home, os.environ["SWARM_DEPLOYER_HOME"]]
    for reg in default.registrations:
        for text in _strings(unwrap(reg.inputs)):
            assert not any(p in text for p in local), (reg.name, [p for p in local if p in text])


def test_the_deployer_key_is_written_on_every_run_and_named_by_ssh_token(tmp_path, monkeypatch) -> None:
    """A fresh machine (a CI runner with only the stack's state) must have the key as soon
    as the program runs: the program writes it, not a resource that runs on create only."""
    from components.access import HOME_OVERRIDE_ENV

    monkeypatch.setenv(HOME_OVERRIDE_ENV, str(tmp_path))
    r = run({"sshPublicKey": FAKE_PUBLIC_KEY, "sshPrivateKey": FAKE_PRIVATE_KEY}, cached=False)
    key = tmp_path / ".ssh" / "pulumi-docker-swarm" / "dev" / "id"
    assert key.read_text() == FAKE_PRIVATE_KEY and (key.stat().st_mode & 0o777) == 0o600
    opts = json.loads(r.of_type("pulumi:providers:docker")[0].inputs["sshOpts"])
    assert "IdentityFile=%d/.ssh/pulumi-docker-swarm/dev/id" in opts
    assert opts[:2] == ["-F", "none"]  # the deployer's ~/.ssh/config changes nothing
    # `-i %d/...` would be dropped by ssh ("Identity file ... not accessible"): ssh stats
    # -i arguments before it expands tokens.
    assert not any(o.startswith("%d") for o in opts)
    leave = unwrap(r.named("boot-leave-worker-1").inputs["delete"])
    assert "IdentityFile=%d/.ssh/pulumi-docker-swarm/dev/id" in leave


def test_every_duration_of_the_service_is_in_the_providers_read_back_form(default: Run) -> None:
    """A duration the provider reads back in another form ("60s" -> "1m") changes the
    Service on every `up`. converge_config is never read back, so it may be any form."""
    i = unwrap(default.of_type("docker:index/service:Service")[0].inputs)
    durations = {
        "restart delay": i["taskSpec"]["restartPolicy"]["delay"],
        "restart window": i["taskSpec"]["restartPolicy"]["window"],
        "update delay": i["updateConfig"]["delay"],
        "update monitor": i["updateConfig"]["monitor"],
        "rollback delay": i["rollbackConfig"]["delay"],
        "rollback monitor": i["rollbackConfig"]["monitor"],
    }
    for what, text in durations.items():
        # The one model of the provider's shortDur (lab/providers/docker.py, tested there).
        assert text == read_back_duration(text), (what, text)


def test_placement_preferences_are_ones_swarmkit_honours(default: Run) -> None:
    """swarmkit manager/scheduler/nodeset.go skips any spread descriptor that does not
    start with node.labels. or engine.labels.; the provider passes the string verbatim."""
    for svc in default.of_type("docker:index/service:Service"):
        for pref in unwrap(svc.inputs)["taskSpec"]["placement"]["prefs"]:
            assert pref.lower().startswith(("node.labels.", "engine.labels.")), pref


def test_service_and_network_replace_delete_first(default: Run) -> None:
    """Both names are ForceNew and must be unique in the swarm; pulumi-docker sets
    DeleteBeforeReplace for containers only (provider/resources.go)."""
    for t in ("docker:index/service:Service", "docker:index/network:Network"):
        (res,) = default.of_type(t)
        assert res.delete_before_replace, t


def test_the_image_is_resolved_on_the_manager_once_per_configured_image(default: Run) -> None:
    step = default.named("app-image")
    assert unwrap(step.inputs["connection"])["host"] == default.exports["managerPublicIp"]
    assert "/distribution/$IMAGE/json" in step.inputs["create"]
    assert step.inputs["triggers"] == ["shaikkhajaibrahim/qttestapp:1.0"]


def test_every_per_node_step_follows_its_instance(default: Run) -> None:
    """A replaced instance is a new host: its join must be a new resource (an update would
    send the old, rotated-away token: ignore_changes sends the old value), and the old
    node's drain, leave and removal must run (they are deletes of the old resources)."""
    ids = {i.name: i.id for i in default.of_type(INSTANCE)}
    for node, iid in ids.items():
        short = node.removeprefix("swarm-")
        steps = [f"boot-{s}-{short}" for s in ("join", "member", "leave", "forget", "ready")]
        for step in (x for x in default.registrations if x.name in steps):
            assert iid in unwrap(step.inputs.get("triggers") or []), step.name


def test_the_ssh_key_is_rotated_over_ssh_not_by_new_instances() -> None:
    """A new key pair (keyName is ForceNew) must not replace nodes: the instances ignore
    keyName, and each node's authorized keys are exactly sshPublicKey plus
    sshAdditionalPublicKeys, written by a command on the node."""
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl new@host"
    r = run({"sshPublicKey": FAKE_PUBLIC_KEY, "sshPrivateKey": FAKE_PRIVATE_KEY, "sshAdditionalPublicKeys": [other]})
    for i in r.of_type(INSTANCE):
        assert "keyName" in i.ignore_changes
    for n in ("manager-1", "worker-1", "worker-2"):
        keys = r.named(f"boot-keys-{n}")
        text = keys.inputs["create"]
        assert "KEYS='" + " ".join(FAKE_PUBLIC_KEY.split()[:2]) + "\n" + " ".join(other.split()[:2]) + "'" in text
        instance = next(x for x in r.of_type(INSTANCE) if x.name == f"swarm-{n}")
        assert unwrap(keys.inputs["connection"])["host"] == instance.outputs["publicIp"]

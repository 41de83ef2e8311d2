"""Issue 15 under mocks: the load balancer (loadBalancer, certificateArn) and private
workers (privateWorkers, natGatewayPerZone), alone and together."""

from __future__ import annotations

import itertools
import shlex
from typing import Any

import pytest

from harness.graph import critical_path
from harness.run import Run, unwrap
from tests.program.helpers import run

CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
INSTANCE = "aws:ec2/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LB_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup", "aws:lb/listener:Listener")
ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
NAT = "aws:ec2/natGateway:NatGateway"
REMOTE = "command:remote:Command"


def combos() -> list[dict[str, Any]]:
    return [{"loadBalancer": lb, "privateWorkers": pw} for lb, pw in itertools.product((False, True), repeat=2)]


@pytest.fixture(scope="module")
def both() -> Run:
    return run({"loadBalancer": True, "privateWorkers": True})


def rules(r: Run, type_: str = INGRESS) -> set[tuple[str, str, int | None, str]]:
    """(group, protocol, port, peer) of every rule; a peer group by its name."""
    names = {f"{g.name}-id": g.name for g in r.of_type("aws:ec2/securityGroup:SecurityGroup")}
    out = set()
    for x in r.of_type(type_):
        i = unwrap(x.inputs)
        peer = names.get(i.get("referencedSecurityGroupId"), i.get("cidrIpv4"))
        port = int(i["fromPort"]) if i.get("fromPort") is not None else None
        out.add((names[i["securityGroupId"]], i["ipProtocol"], port, peer))
    return out


@pytest.mark.parametrize("config", combos(), ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_each_combination_has_exactly_its_resources(config: dict[str, Any]) -> None:
    r = run(config)
    types = [x.type for x in r.registrations]
    assert all((t in types) == config["loadBalancer"] for t in LB_TYPES)
    assert types.count(ATTACHMENT) == (3 if config["loadBalancer"] else 0)
    assert types.count(NAT) == (1 if config["privateWorkers"] else 0)
    assert types.count("aws:ec2/subnet:Subnet") == (6 if config["privateWorkers"] else 3)
    assert ("serviceEndpoint" in r.exports) == config["loadBalancer"]


def test_the_load_balancer_fronts_every_node_and_holds_the_app_cidrs() -> None:
    r = run({"loadBalancer": True, "appAllowedCidrs": ["203.0.113.0/24"]})
    nlb = unwrap(r.named("front-nlb").inputs)
    assert nlb["loadBalancerType"] == "network" and nlb["internal"] is False
    assert nlb["enableCrossZoneLoadBalancing"] is True
    assert nlb["securityGroups"] == ["fw-lb-id"]
    assert sorted(nlb["subnets"]) == sorted(f"{s.name}-id" for s in r.of_type("aws:ec2/subnet:Subnet"))
    tg = unwrap(r.named("front-nodes").inputs)
    assert (tg["port"], tg["protocol"], tg["targetType"]) == (5001, "TCP", "instance")
    assert tg["healthCheck"]["enabled"] is True and tg["healthCheck"]["port"] == "traffic-port"
    listener = unwrap(r.named("front-listener").inputs)
    assert (listener["port"], listener["protocol"]) == (5001, "TCP") and "certificateArn" not in listener
    assert listener["defaultActions"][0]["targetGroupArn"] == r.named("front-nodes").outputs["arn"]
    targets = sorted(unwrap(a.inputs)["targetId"] for a in r.of_type(ATTACHMENT))
    assert targets == sorted(unwrap(i.outputs)["id"] if "id" in i.outputs else f"i-{k}" for k, i in
                             enumerate(r.of_type(INSTANCE))) or len(targets) == 3  # fmt: skip
    got = rules(r)
    # The app CIDRs reach the listener; the nodes admit the port from the load balancer
    # and from each other only, no longer from any CIDR.
    assert ("fw-lb", "tcp", 5001, "203.0.113.0/24") in got
    assert {(g, p, peer) for g, _, p, peer in got if p == 5001} == {
        ("fw-lb", 5001, "203.0.113.0/24"), ("fw-nodes", 5001, "fw-lb"), ("fw-nodes", 5001, "fw-nodes")
    }  # fmt: skip
    assert ("fw-lb", "tcp", 5001, "fw-nodes") in rules(r, EGRESS)  # traffic and health checks
    endpoint = "http://front-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com:5001"
    assert unwrap(r.exports["serviceEndpoint"]) == endpoint
    assert unwrap(r.exports["serviceUrls"]) == [endpoint]
    smoke = unwrap(r.named("app-endpoint-smoke").inputs)
    assert f"ENDPOINT={endpoint}" in smoke["create"]
    # Asked once the service exists and every node is a target, beside the manager's check.
    deps = r.named("app-endpoint-smoke").dependencies
    assert r.named("app-service").urn in deps and {a.urn for a in r.of_type(ATTACHMENT)} <= set(deps)


def test_with_a_certificate_the_listener_is_tls_on_443() -> None:
    r = run({"loadBalancer": True, "certificateArn": CERT})
    listener = unwrap(r.named("front-listener").inputs)
    assert (listener["port"], listener["protocol"], listener["certificateArn"]) == (443, "TLS", CERT)
    assert listener["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-")
    assert unwrap(r.named("front-nodes").inputs)["port"] == 5001  # the targets: the mesh's port
    assert ("fw-lb", "tcp", 443, "0.0.0.0/0") in rules(r)
    assert unwrap(r.exports["serviceEndpoint"]) == "https://front-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"certificateArn": CERT}, "certificateArn = '[^']*': needs loadBalancer: true"),
        ({"natGatewayPerZone": True}, "natGatewayPerZone = True: needs privateWorkers: true"),
        ({"loadBalancer": True, "certificateArn": "arn:aws:acm:eu-west-1:1:cert"}, "must be an ACM certificate ARN"),
        ({"loadBalancer": True, "certificateArn": CERT.replace("eu-west-1", "us-east-1")},
         "is a certificate of us-east-1; a load balancer in eu-west-1 takes certificates of eu-west-1 only"),
    ],
)  # fmt: skip
def test_option_mistakes_are_refused_before_anything_is_created(config: dict[str, Any], says: str) -> None:
    with pytest.raises(Exception, match=says) as e:
        run(config)
    assert "invalid stack configuration" in str(e.value)


def test_private_workers_have_no_public_address_and_leave_through_a_nat(both: Run) -> None:
    instances = {i.name: unwrap(i.inputs) for i in both.of_type(INSTANCE)}
    private_subnets = {f"{s.name}-id" for s in both.of_type("aws:ec2/subnet:Subnet") if s.name.startswith("private-")}
    for name, i in instances.items():
        worker = "worker" in name
        assert (i["subnetId"] in private_subnets) == worker
        assert i.get("associatePublicIpAddress") is (False if worker else None)
        assert i["vpcSecurityGroupIds"] == (["fw-nodes-id", "fw-ssh-via-jump-id"] if worker else
                                            ["fw-nodes-id", "fw-ssh-id"])  # fmt: skip
    for s in both.of_type("aws:ec2/subnet:Subnet"):
        i = unwrap(s.inputs)
        assert i["mapPublicIpOnLaunch"] is (not s.name.startswith("private-"))
    assert sorted(unwrap(s.inputs)["cidrBlock"] for s in both.of_type("aws:ec2/subnet:Subnet")) == [
        "10.0.0.0/20", "10.0.128.0/20", "10.0.144.0/20", "10.0.16.0/20", "10.0.160.0/20", "10.0.32.0/20"
    ]  # fmt: skip
    (nat,) = both.of_type(NAT)
    assert unwrap(nat.inputs)["subnetId"] == "net-eu-west-1a-id"  # a public subnet
    tables = [t for t in both.of_type("aws:ec2/routeTable:RouteTable") if t.name.startswith("private-")]
    assert [unwrap(t.inputs)["routes"][0]["natGatewayId"] for t in tables] == [f"{nat.name}-id"]
    nodes = {n["name"]: n for n in unwrap(both.exports["nodes"])}
    assert nodes["swarm-worker-1"]["publicIp"] == "" and nodes["swarm-manager-1"]["publicIp"]
    # SSH: the managers from sshAllowedCidrs; private workers from the managers' group only.
    got = rules(both)
    assert {r for r in got if r[2] == 22} == {("fw-ssh", "tcp", 22, "198.51.100.7/32"),
                                              ("fw-ssh-via-jump", "tcp", 22, "fw-ssh")}  # fmt: skip
    # Instances boot once their way out exists (cloud-init installs Docker at first boot).
    worker = both.named("swarm-worker-1")
    assert nat.urn in worker.dependencies or any("private-" in d for d in worker.dependencies)


def test_a_nat_gateway_per_zone_routes_each_private_subnet_to_its_own() -> None:
    r = run({"privateWorkers": True, "natGatewayPerZone": True})
    nats = sorted(n.name for n in r.of_type(NAT))
    assert nats == ["private-nat-eu-west-1a", "private-nat-eu-west-1b", "private-nat-eu-west-1c"]
    for a in r.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation"):
        if a.name.startswith("private-"):
            zone = a.name.removeprefix("private-")
            assert unwrap(a.inputs)["routeTableId"] == f"private-{zone}-id"


def test_every_step_on_a_private_worker_goes_through_manager_1(both: Run) -> None:
    manager = both.named("swarm-manager-1")
    manager_ip = unwrap(manager.outputs)["publicIp"]
    manager_key = unwrap(both.named("swarm-manager-1-hostkey").outputs)["publicKeyOpenssh"].split()[:2]
    worker_ips = {unwrap(i.outputs)["privateIp"] for i in both.of_type(INSTANCE) if "worker" in i.name}
    on_workers = [c for c in both.of_type(REMOTE) if unwrap(c.inputs)["connection"]["host"] in worker_ips]
    names = {c.name for c in on_workers}
    assert {"boot-ready-worker-1", "boot-keys-worker-2", "boot-join-worker-1", "boot-token-rejoin"} <= names
    for c in on_workers:
        conn = unwrap(c.inputs)["connection"]
        proxy = conn["proxy"]
        assert proxy["host"] == manager_ip and proxy["hostKey"].split()[:2] == manager_key, c.name
        assert conn["hostKey"] and conn["hostKey"] != proxy["hostKey"]  # both hops pinned
        assert proxy["privateKey"] == conn["privateKey"]
    gate = unwrap(both.named("boot-ready-worker-1").inputs)["connection"]
    assert gate["dialErrorLimit"] == gate["proxy"]["dialErrorLimit"] == -1  # the jump host boots too
    # No command addresses a worker by a public address.
    for c in both.of_type(REMOTE):
        assert unwrap(c.inputs)["connection"]["host"], c.name
    # The deployer's own ssh (a worker's leave) jumps through manager-1 with its pinned key.
    leave = unwrap(both.named("boot-leave-worker-1").inputs)["delete"]
    lexer = shlex.shlex(leave.split("SSH_OPTS=", 1)[1], posix=True)
    lexer.whitespace_split = True
    opts = (lexer.get_token() or "").splitlines()
    proxy_command = next(o for o in opts if o.startswith("ProxyCommand="))
    assert f"-W %h:%p ubuntu@{manager_ip}" in proxy_command
    assert " ".join(manager_key) in proxy_command.replace("%%H", "%H")
    assert "NODE=ubuntu@10." in leave


def test_service_urls_are_where_clients_reach_the_service() -> None:
    plain = run({"privateWorkers": True})
    assert unwrap(plain.exports["serviceUrls"]) == ["http://203.0.113.1:5001"]  # the manager: workers have none
    default = run()
    assert len(unwrap(default.exports["serviceUrls"])) == 3


def test_the_critical_path_grows_by_at_most_two_with_both_options() -> None:
    """Measured on this commit: the longest chain of dependent resources."""
    off = len(critical_path(run().registrations))
    on = len(critical_path(run({"loadBalancer": True, "privateWorkers": True}).registrations))
    assert on <= off + 2, (off, on)


def test_every_stack_output_is_in_the_readme() -> None:
    """The README's Outputs table names every output any option makes."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("### Outputs") : readme.index("### Cost of the default stack")]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    made: set[str] = set()
    for config in ({}, {"autolock": True, "loadBalancer": True, "privateWorkers": True}):
        made |= set(run(config).exports)
    assert made - documented == set(), made - documented
    assert documented - made == set(), documented - made


def test_a_private_node_is_reached_with_new_connections_before_its_gate(both: Run) -> None:
    """pulumi-command's proxy retries a failed handshake on a closed channel: the gate of a
    node behind the jump host waits for the deployer's ssh to log in first (new
    connections), once per instance."""
    reach = both.named("boot-reach-worker-1")
    assert reach.type == "command:local:Command" and reach.ignore_changes == ["create"]
    assert "local-reach-node.sh" not in reach.inputs["create"] and "NODE=ubuntu@10." in unwrap(reach.inputs["create"])
    assert "ProxyCommand=" in unwrap(reach.inputs["create"])
    assert reach.urn in both.named("boot-ready-worker-1").dependencies
    assert not [r for r in both.registrations if r.name == "boot-reach-manager-1"]
    assert not [r for r in run().registrations if r.name.startswith("boot-reach-")]

"""Firewall: the cluster security group and its rules, one resource per rule."""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# The security groups, by key. Every node is in NODES (the swarm's own traffic, the
# service port, egress); SSH is in groups of its own, so that private workers admit it
# only from the managers: SSH from the deployer (managers, and workers that are public),
# SSH through the jump host (private workers), and the load balancer's group.
NODES, SSH, JUMP, LB = "nodes", "ssh", "ssh-via-jump", "lb"
GROUP_DESCRIPTIONS = {
    NODES: "Docker Swarm nodes",
    SSH: "SSH from the deployer (sshAllowedCidrs)",
    JUMP: "SSH from the managers only (private workers, reached through the jump host)",
    LB: "Network Load Balancer in front of the routing mesh",
}


@dataclass(frozen=True)
class Rule:
    """One rule of GROUP. Its peer is a CIDR (`peer`) or another group (`source`, a key)."""

    name: str
    protocol: str
    port: int | None  # None: the protocol has no ports (ESP)
    peer: str | None
    description: str
    group: str = NODES
    source: str | None = None  # with peer None: the group the traffic comes from (or goes to)


# Ports the swarm itself needs between members (cluster management, gossip, VXLAN
# data plane) and SSH: the service may not publish on any of them.
SSH_PORT = 22
SWARM_MGMT_PORT, GOSSIP_PORT, VXLAN_PORT = 2377, 7946, 4789
SWARM_PORTS = {SWARM_MGMT_PORT: "swarm management", GOSSIP_PORT: "swarm gossip", VXLAN_PORT: "VXLAN data plane"}
RESERVED_PORTS = {SSH_PORT: "SSH", **SWARM_PORTS}

# Swarm's own traffic: only between members, by referencing the group, never a CIDR.
SWARM_RULES = (
    Rule("swarm-mgmt", "tcp", SWARM_MGMT_PORT, None, "swarm cluster management (members only)", source=NODES),
    Rule("gossip-tcp", "tcp", GOSSIP_PORT, None, "swarm node gossip, tcp (members only)", source=NODES),
    Rule("gossip-udp", "udp", GOSSIP_PORT, None, "swarm node gossip, udp (members only)", source=NODES),
    Rule("vxlan", "udp", VXLAN_PORT, None, "overlay network VXLAN data plane (members only)", source=NODES),
)

# No IPv4 allocation is larger than a /8 (IANA's unit to the regional registries), so a
# shorter prefix is never one network's own addresses: it opens the port to strangers.
BROADEST_OWN_PREFIX = 8


def published_port_problems(port: int) -> list[tuple[int, str]]:
    """(value, rule) when the service would publish on a port the swarm or SSH needs."""
    if port in RESERVED_PORTS:
        return [(port, f"is the {RESERVED_PORTS[port]} port; pick a port not in {sorted(RESERVED_PORTS)}")]
    return []


def cidr_problems(values: list[str]) -> list[tuple[str, str]]:
    """(value, rule) for each CIDR of a list that cannot become one ingress rule."""
    found: list[tuple[str, str]] = []
    spelled: dict[str, str] = {}  # canonical form -> the spelling first given
    for v in values:
        try:
            net = ipaddress.ip_network(v.strip(), strict=True)
        except ValueError as exc:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f" (did you mean {ipaddress.ip_network(v.strip(), strict=False)}?)"
            found.append((v, f"must be a valid CIDR with no host bits set{hint}: {exc}"))
            continue
        if net.version != 4:
            # The VPC has no IPv6 (network.py): an IPv6 peer can never reach a node.
            found.append((v, "must be an IPv4 CIDR: the VPC and the nodes have no IPv6 address"))
            continue
        if str(net) in spelled:
            # Each CIDR becomes one rule resource named after it: a second spelling of the
            # same network would register two resources with one name, which the engine
            # refuses mid-deployment (duplicate URN).
            found.append((v, f"is the same network as {spelled[str(net)]!r}, listed before it: list each CIDR once"))
            continue
        spelled[str(net)] = v
    return found


def canonical_cidrs(values: list[str]) -> tuple[str, ...]:
    """The CIDRs of a list that passed cidr_problems, as the rules name them."""
    return tuple(str(ipaddress.ip_network(v.strip(), strict=True)) for v in values)


def world_exposure_problems(values: list[str]) -> list[tuple[object, str]]:
    """(value, rule) when the CIDRs of VALUES open a port to the whole internet, or to a
    block no one owns. Checked on the union, not on each CIDR: 0.0.0.0/1 plus 128.0.0.0/1
    is 0.0.0.0/0. Values that are not CIDRs are skipped (cidr_problems reports them).
    """
    nets = []
    for v in values:
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.ip_network(v.strip(), strict=True))
    found: list[tuple[object, str]] = []
    for world in (ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")):
        same = [n for n in nets if n.version == world.version]
        if world in ipaddress.collapse_addresses(same):  # type: ignore[arg-type]
            shown: object = str(same[0]) if len(same) == 1 else [str(n) for n in same]
            found.append((shown, "covers the whole internet"))
    if not found:
        found += [
            (str(n), f"is larger than a /{BROADEST_OWN_PREFIX}, the largest block anyone is allocated")
            for n in nets
            if n.version == 4 and n.prefixlen < BROADEST_OWN_PREFIX
        ]
    return found


def _slug(cidr: str) -> str:
    return cidr.replace("/", "-").replace(":", "x").replace(".", "-")


# IPsec ESP (IP protocol 50) carries an encrypted overlay network's traffic.
ESP_RULE = Rule("esp", "50", None, None, "encrypted overlay traffic, IPsec ESP (members only)", source=NODES)
# The listener of a TLS load balancer (certificateArn).
TLS_LISTENER_PORT = 443


def ingress_rules(
    ssh_cidrs: tuple[str, ...],
    app_cidrs: tuple[str, ...],
    app_port: int,
    encrypted_overlay: bool = False,
    *,
    load_balancer: bool = False,
    listener_port: int | None = None,
    private_workers: bool = False,
) -> list[Rule]:
    """Every ingress rule of every group. Pure, so tests can read the exact set.

    With LOAD_BALANCER the app CIDRs reach the load balancer's listener (LISTENER_PORT,
    the published port by default) and the nodes admit the published port only from the
    load balancer's group and from each other; without it, from the app CIDRs directly.
    """
    rules = list(SWARM_RULES)
    if encrypted_overlay:
        rules.append(ESP_RULE)
    # Members reach the published port too: the smoke test asks every node from a manager.
    rules.append(Rule("app-members", "tcp", app_port, None, f"service port {app_port} (members only)", source=NODES))
    rules += [Rule(f"ssh-{_slug(c)}", "tcp", SSH_PORT, c, f"SSH from {c}", group=SSH) for c in ssh_cidrs]
    if private_workers:
        rules.append(Rule("ssh-from-managers", "tcp", SSH_PORT, None, "SSH from the managers (jump host) only",
                          group=JUMP, source=SSH))  # fmt: skip
    if load_balancer:
        port = listener_port or app_port
        rules.append(Rule("app-lb", "tcp", app_port, None, f"service port {app_port} from the load balancer "
                          "(traffic and health checks)", source=LB))  # fmt: skip
        rules += [Rule(f"lb-{_slug(c)}", "tcp", port, c, f"listener port {port} from {c}", group=LB)
                  for c in app_cidrs]  # fmt: skip
    else:
        rules += [Rule(f"app-{_slug(c)}", "tcp", app_port, c, f"service port {app_port} from {c}") for c in app_cidrs]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        # Each rule is a resource named after it; the engine refuses two with one name.
        raise ValueError(f"two firewall rules share a name: {sorted({n for n in names if names.count(n) > 1})}")
    return rules


def egress_rules(app_port: int, load_balancer: bool = False) -> list[Rule]:
    """Every egress rule. Nodes reach the internet (images, packages; the VPC is
    IPv4-only); the load balancer reaches only the nodes' published port."""
    rules = [Rule("egress", "-1", None, "0.0.0.0/0", "all outbound traffic")]
    if load_balancer:
        rules.append(Rule("lb-to-nodes", "tcp", app_port, None, f"to the nodes' service port {app_port}",
                          group=LB, source=NODES))  # fmt: skip
    return rules


def groups_of(role: str, private_workers: bool) -> tuple[str, ...]:
    """The groups a node of ROLE is in."""
    if role == "worker" and private_workers:
        return (NODES, JUMP)
    return (NODES, SSH)


@dataclass(frozen=True)
class FirewallArgs:
    vpc_id: pulumi.Input[str]
    ssh_cidrs: tuple[str, ...]
    app_cidrs: tuple[str, ...]
    app_port: int
    tags: dict[str, str]
    encrypted_overlay: bool = False
    load_balancer: bool = False
    listener_port: int | None = None  # the load balancer's; None: the published port
    private_workers: bool = False


class Firewall(pulumi.ComponentResource):
    """The security groups and their rules, one resource per rule."""

    group_ids: dict[str, pulumi.Output[str]]  # by group key (NODES, SSH, JUMP, LB)
    egress: pulumi.Resource  # instances wait for it: a new group has no egress until then

    def __init__(self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:aws:Firewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ingress = ingress_rules(
            args.ssh_cidrs, args.app_cidrs, args.app_port, args.encrypted_overlay,
            load_balancer=args.load_balancer, listener_port=args.listener_port, private_workers=args.private_workers,
        )  # fmt: skip
        egress = egress_rules(args.app_port, args.load_balancer)
        wanted = [NODES, SSH] + ([JUMP] if args.private_workers else []) + ([LB] if args.load_balancer else [])
        groups = {
            key: aws.ec2.SecurityGroup(
                # The nodes' group keeps the name it had before the others existed.
                f"{name}-{key}" if key != NODES else f"{name}-nodes",
                vpc_id=args.vpc_id,
                description=GROUP_DESCRIPTIONS[key],
                tags={**args.tags, "Name": f"{name}-{key}"},
                opts=child,
            )
            for key in wanted
        }

        def fields(rule: Rule) -> dict[str, object]:
            return {
                "security_group_id": groups[rule.group].id,
                "ip_protocol": rule.protocol,
                "from_port": rule.port,
                "to_port": rule.port,
                "description": rule.description,
                "referenced_security_group_id": groups[rule.source].id if rule.source else None,
                "cidr_ipv4": rule.peer,  # IPv4 only, as the VPC (cidr_problems refuses IPv6)
            }

        for rule in ingress:
            aws.vpc.SecurityGroupIngressRule(f"{name}-{rule.name}", **fields(rule), opts=child)  # type: ignore[arg-type]
        made = {r.name: aws.vpc.SecurityGroupEgressRule(f"{name}-{r.name}", **fields(r), opts=child) for r in egress}  # type: ignore[arg-type]
        self.egress = made["egress"]
        self.group_ids = {key: g.id for key, g in groups.items()}
        self.register_outputs({"groupIds": self.group_ids})

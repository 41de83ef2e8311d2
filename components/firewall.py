"""Firewall: the cluster security group and its rules, one resource per rule."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class Rule:
    """One ingress rule. `peer` is a CIDR, or None for "members of the group itself"."""

    name: str
    protocol: str
    port: int | None  # None: the protocol has no ports (ESP)
    peer: str | None
    description: str


# Swarm's own traffic: only between members, by referencing the group, never a CIDR.
SWARM_RULES = (
    Rule("swarm-mgmt", "tcp", 2377, None, "swarm cluster management (members only)"),
    Rule("gossip-tcp", "tcp", 7946, None, "swarm node gossip, tcp (members only)"),
    Rule("gossip-udp", "udp", 7946, None, "swarm node gossip, udp (members only)"),
    Rule("vxlan", "udp", 4789, None, "overlay network VXLAN data plane (members only)"),
)


def _slug(cidr: str) -> str:
    return cidr.replace("/", "-").replace(":", "x").replace(".", "-")


# IPsec ESP (IP protocol 50) carries an encrypted overlay network's traffic.
ESP_RULE = Rule("esp", "50", None, None, "encrypted overlay traffic, IPsec ESP (members only)")


def ingress_rules(
    ssh_cidrs: tuple[str, ...], app_cidrs: tuple[str, ...], app_port: int, encrypted_overlay: bool = False
) -> list[Rule]:
    """Every ingress rule of the cluster group. Pure, so tests can read the exact set."""
    rules = list(SWARM_RULES)
    if encrypted_overlay:
        rules.append(ESP_RULE)
    # Members reach the published port too: the smoke test asks every node from a manager.
    rules.append(Rule("app-members", "tcp", app_port, None, f"service port {app_port} (members only)"))
    rules += [Rule(f"ssh-{_slug(c)}", "tcp", 22, c, f"SSH from {c}") for c in ssh_cidrs]
    rules += [Rule(f"app-{_slug(c)}", "tcp", app_port, c, f"service port {app_port} from {c}") for c in app_cidrs]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        # Each rule is a resource named after it; the engine refuses two with one name.
        raise ValueError(f"two firewall rules share a name: {sorted({n for n in names if names.count(n) > 1})}")
    return rules


@dataclass(frozen=True)
class FirewallArgs:
    vpc_id: pulumi.Input[str]
    ssh_cidrs: tuple[str, ...]
    app_cidrs: tuple[str, ...]
    app_port: int
    tags: dict[str, str]
    encrypted_overlay: bool = False


class Firewall(pulumi.ComponentResource):
    """A security group every node joins; members reach each other on the swarm ports."""

    group_id: pulumi.Output[str]
    egress: pulumi.Resource  # instances wait for it: a new group has no egress until then

    def __init__(self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:aws:Firewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            f"{name}-nodes",
            vpc_id=args.vpc_id,
            description="Docker Swarm nodes",
            tags={**args.tags, "Name": f"{name}-nodes"},
            opts=child,
        )
        for rule in ingress_rules(args.ssh_cidrs, args.app_cidrs, args.app_port, args.encrypted_overlay):
            v6 = rule.peer is not None and ipaddress.ip_network(rule.peer).version == 6
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{rule.name}",
                security_group_id=group.id,
                ip_protocol=rule.protocol,
                from_port=rule.port,
                to_port=rule.port,
                description=rule.description,
                referenced_security_group_id=group.id if rule.peer is None else None,
                cidr_ipv4=rule.peer if rule.peer is not None and not v6 else None,
                cidr_ipv6=rule.peer if v6 else None,
                opts=child,
            )
        # Nodes pull images and packages from the internet (the VPC is IPv4-only).
        self.egress = aws.vpc.SecurityGroupEgressRule(
            f"{name}-egress",
            security_group_id=group.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="all outbound traffic",
            opts=child,
        )
        self.group_id = group.id
        self.register_outputs({"groupId": group.id})

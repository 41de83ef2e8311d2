"""LoadBalancer: one stable endpoint in front of the routing mesh (loadBalancer).

An internet-facing Network Load Balancer in the public subnets, cross-zone, with its
own security group (components/firewall.py: appAllowedCidrs on the listener port, and
out only to the nodes' published port). Every node is a target on the published port,
since the mesh answers on all of them; a node joins and leaves the target group with
its instance (an attachment's target is ForceNew: a replaced node is a new attachment).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.firewall import TLS_LISTENER_PORT
from components.nodes import Node

# An ACM certificate's ARN, in any partition (aws, aws-cn, aws-us-gov).
_CERTIFICATE_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:acm:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:certificate/[0-9a-f-]{36}")
# TLS 1.3 and 1.2 only, ELB's recommended policy for TLS listeners.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# The health check: the published port answers TCP (the mesh forwards it to a task).
HEALTHY_THRESHOLD, UNHEALTHY_THRESHOLD, HEALTH_INTERVAL_S = 3, 3, 10
# Connections to a removed node drain for this long before it leaves the target group.
DEREGISTRATION_DELAY_S = 30


def certificate_arn_problems(value: str) -> list[tuple[str, str]]:
    """An ACM certificate ARN as ACM spells it, or empty."""
    if value and not _CERTIFICATE_ARN.fullmatch(value):
        return [(value, "must be an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<uuid>")]
    return []


def certificate_region_problems(value: str, region: str) -> list[str]:
    """A load balancer takes certificates of its own region only (ACM is regional)."""
    found = _CERTIFICATE_ARN.fullmatch(value) if value else None
    if found and region and found.group(1) != region:
        return [f"certificateArn = {value!r}: is a certificate of {found.group(1)}; a load balancer in "
                f"{region} takes certificates of {region} only (request or import it there)"]  # fmt: skip
    return []


def endpoint(dns_name: str, published_port: int, tls: bool) -> str:
    """The service's URL through the load balancer. Pure."""
    return f"https://{dns_name}" if tls else f"http://{dns_name}:{published_port}"


@dataclass(frozen=True)
class LoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # the public subnets, one per zone
    security_group_id: pulumi.Input[str]  # the load balancer's group (components/firewall.py)
    nodes: list[Node]
    published_port: int
    certificate_arn: str  # empty: a TCP listener on the published port
    tags: dict[str, str]


class LoadBalancer(pulumi.ComponentResource):
    """NLB, target group, listener, and one attachment per node."""

    endpoint: pulumi.Output[str]
    dns_name: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:aws:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tls = bool(args.certificate_arn)
        nlb = aws.lb.LoadBalancer(
            f"{name}-nlb",
            load_balancer_type="network",
            internal=False,
            subnets=list(args.subnet_ids),
            # An NLB created without security groups can never have one added (ELB API):
            # the group is there from the start, so appAllowedCidrs holds at the door.
            security_groups=[args.security_group_id],
            # Off by default for NLBs: a zone with fewer healthy nodes would get the same
            # share of clients as the others.
            enable_cross_zone_load_balancing=True,
            tags={**args.tags, "Name": f"{name}-nlb"},
            opts=child,
        )
        targets = aws.lb.TargetGroup(
            f"{name}-nodes",
            port=args.published_port,
            protocol="TCP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY_S,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="TCP",
                port="traffic-port",
                healthy_threshold=HEALTHY_THRESHOLD,
                unhealthy_threshold=UNHEALTHY_THRESHOLD,
                interval=HEALTH_INTERVAL_S,
            ),
            tags={**args.tags, "Name": f"{name}-nodes"},
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-listener",
            load_balancer_arn=nlb.arn,
            port=TLS_LISTENER_PORT if tls else args.published_port,
            protocol="TLS" if tls else "TCP",
            certificate_arn=args.certificate_arn or None,
            ssl_policy=TLS_POLICY if tls else None,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=targets.arn)],
            tags=args.tags,
            opts=child,
        )
        self.attachments: list[pulumi.Resource] = []
        for n in args.nodes:
            self.attachments.append(
                aws.lb.TargetGroupAttachment(
                    f"{name}-{n.short}",
                    target_group_arn=targets.arn,
                    target_id=n.instance_id,
                    port=args.published_port,
                    opts=child,
                )
            )
        self.dns_name = nlb.dns_name
        self.endpoint = nlb.dns_name.apply(lambda d: endpoint(d, args.published_port, tls))
        self.register_outputs({"serviceEndpoint": self.endpoint})

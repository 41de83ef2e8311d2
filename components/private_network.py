"""PrivateNetwork: a private subnet per zone, and NAT gateways for their egress
(privateWorkers). Instances there get no public address; they reach the internet
(packages, images) through a NAT gateway in a public subnet: one shared, in the first
zone, or one per zone (natGatewayPerZone), each private subnet routed to its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.network import PRIVATE_FIRST_SLOT, subnet_cidrs


def nat_zone_of(zone_index: int, per_zone: bool) -> int:
    """The index of the zone whose NAT gateway a private subnet routes to. Pure."""
    return zone_index if per_zone else 0


@dataclass(frozen=True)
class PrivateNetworkArgs:
    vpc_id: pulumi.Input[str]
    cidr: str  # the VPC's
    zones: list[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]  # where the NAT gateways go, by zone
    nat_per_zone: bool
    tags: dict[str, str]
    after: Sequence[pulumi.Resource] = ()  # the internet gateway: a NAT gateway needs it


class PrivateNetwork(pulumi.ComponentResource):
    """Private subnets, NAT gateways with their addresses, private route tables."""

    subnet_ids: list[pulumi.Output[str]]
    routes_ready: list[pulumi.Resource]  # instances wait for these: their only way out

    def __init__(self, name: str, args: PrivateNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:aws:PrivateNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        nat_zones = sorted({nat_zone_of(i, args.nat_per_zone) for i in range(len(args.zones))})
        tables: dict[int, aws.ec2.RouteTable] = {}
        gateways: list[pulumi.Resource] = []
        for i in nat_zones:
            zone = args.zones[i]
            address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={**args.tags, "Name": f"{name}-nat-{zone}"},
                                  opts=child)  # fmt: skip
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=address.allocation_id,
                subnet_id=args.public_subnet_ids[i],
                connectivity_type="public",
                tags={**args.tags, "Name": f"{name}-nat-{zone}"},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.after))),
            )
            gateways.append(nat)
            tables[i] = aws.ec2.RouteTable(
                f"{name}-{zone}",
                vpc_id=args.vpc_id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={**args.tags, "Name": f"{name}-{zone}"},
                opts=child,
            )
        self.subnet_ids = []
        self.routes_ready = [*gateways]
        cidrs = subnet_cidrs(args.cidr, len(args.zones), PRIVATE_FIRST_SLOT)
        for i, (zone, cidr) in enumerate(zip(args.zones, cidrs, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{name}-{zone}",
                vpc_id=args.vpc_id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,  # nothing here is on the internet
                tags={**args.tags, "Name": f"{name}-{zone}"},
                opts=child,
            )
            association = aws.ec2.RouteTableAssociation(
                f"{name}-{zone}",
                subnet_id=subnet.id,
                route_table_id=tables[nat_zone_of(i, args.nat_per_zone)].id,
                opts=child,
            )
            self.subnet_ids.append(subnet.id)
            self.routes_ready.append(association)
        self.register_outputs({"subnetIds": self.subnet_ids})

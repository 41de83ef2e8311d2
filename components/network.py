"""Network: a VPC with one public subnet per availability zone."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# Subnets are carved this many bits below the VPC prefix (16 slots): enough for
# the 6 AZs we allow and room to add private subnets later without renumbering.
SUBNET_EXTRA_BITS = 4
# AWS keeps 5 addresses of every subnet for itself.
AWS_RESERVED_PER_SUBNET = 5
# AWS allows VPCs from /16 to /28; ours stop at /24 so that each subnet (4 bits
# smaller) is still a valid subnet (/28 at most).
VPC_PREFIXES = (16, 24)


def vpc_cidr_problems(cidr: str) -> list[tuple[str, str]]:
    """(value, rule) for a VPC CIDR this network cannot be built in; [] if fine."""
    lo, hi = VPC_PREFIXES
    try:
        vpc = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        return [(cidr, f"must be a valid IPv4 CIDR from /{lo} to /{hi}: {exc}")]
    if vpc.version != 4 or not lo <= vpc.prefixlen <= hi:
        return [(cidr, f"must be an IPv4 CIDR from /{lo} to /{hi} (AWS allows no larger VPC)")]
    return []


def subnet_capacity_problems(cidr: str, nodes: int, zones: int) -> list[tuple[str, str]]:
    """(value, rule) when one subnet of CIDR cannot hold its share of NODES over ZONES."""
    prefix = ipaddress.ip_network(cidr).prefixlen
    per_subnet = 2 ** (32 - prefix - SUBNET_EXTRA_BITS) - AWS_RESERVED_PER_SUBNET
    need = -(-nodes // zones)
    if need <= per_subnet:
        return []
    return [
        (
            cidr,
            f"gives subnets of {per_subnet} usable addresses, but {need} nodes land in one "
            f"subnet (managerCount + workerCount over azCount={zones}); use a larger vpcCidr",
        )
    ]


# Private subnets (privateWorkers) start at this slot: the public ones hold slots 0-5
# (at most 6 zones), so either kind can grow by a zone without renumbering the other.
PRIVATE_FIRST_SLOT = 8


def subnet_cidrs(vpc_cidr: str, count: int, first: int = 0) -> list[str]:
    """`count` subnets of `vpc_cidr` from slot `first` on, each SUBNET_EXTRA_BITS bits smaller.

    Pure and deterministic: the same VPC and count always give the same subnets,
    so adding an AZ later appends a subnet instead of renumbering the others.
    """
    vpc = ipaddress.ip_network(vpc_cidr, strict=True)
    slots = 2**SUBNET_EXTRA_BITS
    if not 1 <= count <= slots - first:
        raise ValueError(f"count must be 1..{slots - first}, got {count}")
    carved = list(vpc.subnets(prefixlen_diff=SUBNET_EXTRA_BITS))
    return [str(c) for c in carved[first : first + count]]


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    zones: list[str]  # one public subnet per zone, in this order
    tags: dict[str, str]


class Network(pulumi.ComponentResource):
    """VPC, public subnets, internet gateway and the default route."""

    vpc_id: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**args.tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={**args.tags, "Name": f"{name}-igw"}, opts=child
        )
        routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={**args.tags, "Name": f"{name}-public"},
            opts=child,
        )
        self.subnet_ids = []
        # A subnet routes to the internet only once its association exists: instances
        # wait for it, or cloud-init's first apt call can race it.
        self.routes_ready: list[pulumi.Resource] = []
        for zone, cidr in zip(args.zones, subnet_cidrs(args.cidr, len(args.zones)), strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                # Nodes need public addresses: the deployer reaches them over SSH
                # and users reach the service on every node (routing mesh).
                map_public_ip_on_launch=True,
                tags={**args.tags, "Name": f"{name}-{zone}"},
                opts=child,
            )
            association = aws.ec2.RouteTableAssociation(
                f"{name}-{zone}", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
            self.subnet_ids.append(subnet.id)
            self.routes_ready.append(association)

        self.vpc = vpc  # the stack's root: deleted only with the whole stack
        self.igw = igw
        self.vpc_id = vpc.id
        self.register_outputs({"vpcId": vpc.id, "subnetIds": self.subnet_ids})

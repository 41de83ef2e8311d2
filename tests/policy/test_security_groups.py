"""Security group rules: swarm/SSH ports and all traffic from the world; descriptions."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules import (
    EGRESS_RULE,
    INGRESS_RULE,
    LEGACY_RULE,
    SECURITY_GROUP,
    check_no_world_all_traffic,
    check_no_world_swarm_ports,
    check_rule_description,
    is_world,
    normalize_protocol,
)
from tests.policy.helpers import Collect, resource_args


def vpc_rule(protocol: str, low: int | None, high: int | None, v4: str | None = None, v6: str | None = None) -> Any:
    props: dict[str, Any] = {"securityGroupId": "sg-1", "ipProtocol": protocol, "description": "test"}
    if low is not None:
        props["fromPort"] = float(low)  # the engine's numbers are floats
    if high is not None:
        props["toPort"] = float(high)
    if v4:
        props["cidrIpv4"] = v4
    if v6:
        props["cidrIpv6"] = v6
    return resource_args(INGRESS_RULE, props)


def legacy_rule(protocol: str, low: int, high: int, cidrs=(), v6=(), type_: str = "ingress") -> Any:
    props = {"type": type_, "protocol": protocol, "fromPort": low, "toPort": high, "securityGroupId": "sg-1"}
    if cidrs:
        props["cidrBlocks"] = list(cidrs)
    if v6:
        props["ipv6CidrBlocks"] = list(v6)
    return resource_args(LEGACY_RULE, props)


def group(*ingress: dict[str, Any]) -> Any:
    return resource_args(SECURITY_GROUP, {"description": "g", "ingress": list(ingress)})


def ports(args: Any) -> Collect:
    c = Collect()
    check_no_world_swarm_ports(args, c)
    return c


def all_traffic(args: Any) -> Collect:
    c = Collect()
    check_no_world_all_traffic(args, c)
    return c


@pytest.mark.parametrize("port", [22, 2377, 7946, 4789])
@pytest.mark.parametrize("protocol", ["tcp", "udp", "6", "17"])
def test_each_swarm_port_from_world_is_refused(port: int, protocol: str) -> None:
    found = ports(vpc_rule(protocol, port, port, v4="0.0.0.0/0"))
    assert len(found.messages) == 1 and str(port) in found.text() and "0.0.0.0/0" in found.text()


@pytest.mark.parametrize("port", [22, 2377, 7946, 4789])
def test_swarm_ports_from_ipv6_world_are_refused(port: int) -> None:
    assert ports(vpc_rule("tcp", port, port, v6="::/0"))
    assert ports(legacy_rule("udp", port, port, v6=["::/0"]))


def test_port_range_that_contains_a_swarm_port_is_refused() -> None:
    found = ports(vpc_rule("tcp", 2000, 3000, v4="0.0.0.0/0"))
    assert "2377" in found.text() and "22 " not in found.text()
    whole = ports(vpc_rule("tcp", 0, 65535, v4="0.0.0.0/0"))
    assert all(str(p) in whole.text() for p in (22, 2377, 7946, 4789))


def test_all_protocols_from_world_open_every_swarm_port() -> None:
    for protocol in ("-1", "all"):
        found = ports(vpc_rule(protocol, None, None, v4="0.0.0.0/0"))
        assert all(str(p) in found.text() for p in (22, 2377, 7946, 4789))
    assert ports(legacy_rule("-1", 0, 0, cidrs=["0.0.0.0/0"]))


def test_restricted_sources_and_other_ports_pass() -> None:
    assert not ports(vpc_rule("tcp", 22, 22, v4="198.51.100.7/32"))
    assert not ports(vpc_rule("tcp", 22, 22, v6="2001:db8::/32"))
    assert not ports(vpc_rule("tcp", 5001, 5001, v4="0.0.0.0/0"))  # the service's port
    assert not ports(vpc_rule("tcp", 443, 443, v6="::/0"))
    assert not ports(vpc_rule("tcp", 7947, 9000, v4="0.0.0.0/0"))  # just past 7946
    # Members only: a referenced group, no CIDR.
    assert not ports(resource_args(INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 2377.0, "toPort": 2377.0,
                                                  "referencedSecurityGroupId": "sg-1"}))  # fmt: skip


def test_icmp_and_portless_protocols_open_no_swarm_port() -> None:
    # ICMP's from/to are type and code, not ports; ESP (50) has no ports.
    assert not ports(vpc_rule("icmp", 22, 22, v4="0.0.0.0/0"))
    assert not ports(vpc_rule("50", None, None, v4="0.0.0.0/0"))


def test_legacy_rule_egress_is_not_ingress() -> None:
    assert not ports(legacy_rule("tcp", 22, 22, cidrs=["0.0.0.0/0"], type_="egress"))
    assert ports(legacy_rule("tcp", 22, 22, cidrs=["10.0.0.0/8", "0.0.0.0/0"]))


def test_inline_ingress_blocks_of_a_group() -> None:
    bad = group(
        {"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"], "description": "web"},
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"], "description": "ssh"},
    )
    found = ports(bad)
    assert len(found.messages) == 1 and "ingress[1]" in found.text()
    good = group({"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["198.51.100.0/24"]})
    assert not ports(good)
    assert not ports(resource_args(SECURITY_GROUP, {"description": "no inline rules"}))


def test_all_traffic_from_world_is_refused() -> None:
    assert all_traffic(vpc_rule("-1", None, None, v4="0.0.0.0/0"))
    assert all_traffic(vpc_rule("all", None, None, v6="::/0"))
    assert all_traffic(legacy_rule("-1", 0, 0, cidrs=["0.0.0.0/0"]))
    assert all_traffic(vpc_rule("tcp", 0, 65535, v4="0.0.0.0/0"))
    assert all_traffic(vpc_rule("udp", 1, 65535, v6="::/0"))
    assert all_traffic(group({"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}))


def test_all_traffic_from_members_or_named_cidrs_passes() -> None:
    assert not all_traffic(vpc_rule("-1", None, None, v4="10.0.0.0/16"))
    assert not all_traffic(vpc_rule("tcp", 1024, 65535, v4="0.0.0.0/0"))  # wide, but not everything
    assert not all_traffic(vpc_rule("tcp", 5001, 5001, v4="0.0.0.0/0"))
    # Egress to anywhere is how the nodes pull images: not ingress, not this rule.
    egress = resource_args(EGRESS_RULE, {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0", "description": "out"})
    assert not all_traffic(egress) and not ports(egress)


def test_helpers() -> None:
    assert [is_world(c) for c in ("0.0.0.0/0", "::/0", "0::0/0", " 0.0.0.0/0 ", "0.0.0.0/1", "bad", None)] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip
    assert [normalize_protocol(p) for p in ("-1", "ALL", "6", "6.0", "17", "tcp", "1", "58", "50", None)] == [
        "all", "all", "tcp", "tcp", "udp", "tcp", "icmp", "icmpv6", "50", "all",
    ]  # fmt: skip


def describe(args: Any) -> Collect:
    c = Collect()
    check_rule_description(args, c)
    return c


def test_rules_without_description_are_reported() -> None:
    assert describe(resource_args(INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0}))
    assert describe(resource_args(EGRESS_RULE, {"ipProtocol": "-1", "description": "  "}))
    assert describe(resource_args(LEGACY_RULE, {"type": "ingress", "protocol": "tcp"}))
    found = describe(
        group({"protocol": "tcp", "fromPort": 22, "toPort": 22, "description": "ssh"}, {"protocol": "udp"})
    )
    assert len(found.messages) == 1 and "ingress[1]" in found.text()


def test_rules_with_description_pass() -> None:
    assert not describe(vpc_rule("tcp", 22, 22, v4="198.51.100.7/32"))
    assert not describe(resource_args(EGRESS_RULE, {"ipProtocol": "-1", "description": "all outbound traffic"}))
    assert not describe(group({"protocol": "tcp", "description": "ssh"}))
    assert not describe(resource_args("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}))

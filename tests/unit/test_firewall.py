"""The exact ingress rule set of the cluster security group."""

from __future__ import annotations

from components.firewall import ingress_rules


def test_exact_rule_set() -> None:
    rules = ingress_rules(("198.51.100.7/32",), ("0.0.0.0/0",), 5001)
    got = {(r.protocol, r.port, r.peer) for r in rules}
    assert got == {
        ("tcp", 2377, None),
        ("tcp", 7946, None),
        ("udp", 7946, None),
        ("udp", 4789, None),
        ("tcp", 5001, None),
        ("tcp", 22, "198.51.100.7/32"),
        ("tcp", 5001, "0.0.0.0/0"),
    }
    assert all(r.description for r in rules)
    assert len({r.name for r in rules}) == len(rules)


def test_one_rule_per_cidr() -> None:
    rules = ingress_rules(("198.51.100.7/32", "198.51.100.64/26"), ("203.0.113.0/24", "192.0.2.0/24"), 8080)
    assert [r.peer for r in rules if r.port == 22] == ["198.51.100.7/32", "198.51.100.64/26"]
    assert [r.peer for r in rules if r.port == 8080 and r.peer] == ["203.0.113.0/24", "192.0.2.0/24"]


def test_swarm_ports_only_between_members() -> None:
    for r in ingress_rules(("198.51.100.7/32",), ("0.0.0.0/0",), 5001):
        if r.port in (2377, 7946, 4789):
            assert r.peer is None


def test_two_rules_with_one_name_are_refused() -> None:
    """The guard behind settings' duplicate check: rule names are resource names."""
    import pytest

    with pytest.raises(ValueError, match="share a name"):
        ingress_rules(("198.51.100.7/32", "198.51.100.7/32"), ("0.0.0.0/0",), 5001)


def test_a_union_of_cidrs_that_covers_the_internet_is_seen() -> None:
    from components.firewall import world_exposure_problems as exposure

    unions = (
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["0.0.0.0/0"],
        ["::/1", "8000::/1"],
        ["128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2"],
    )
    for cidrs in unions:
        assert [rule for _, rule in exposure(cidrs)] == ["covers the whole internet"], cidrs
    assert exposure(["0.0.0.0/1"]) == [("0.0.0.0/1", "is larger than a /8, the largest block anyone is allocated")]
    assert exposure(["10.0.0.0/8", "198.51.100.7/32", "not a cidr"]) == []


def test_cidr_lists_are_ipv4_canonical_and_each_once() -> None:
    from components.firewall import canonical_cidrs, cidr_problems

    assert cidr_problems(["198.51.100.0/24", " 203.0.113.7/32"]) == []
    assert canonical_cidrs(["198.51.100.0/255.255.255.0", " 203.0.113.7/32"]) == ("198.51.100.0/24", "203.0.113.7/32")
    assert [v for v, _ in cidr_problems(["2001:db8::/32", "10.0.0.0/8", "10.0.0.0/255.0.0.0", "10.0.0.1/8"])] == [
        "2001:db8::/32",
        "10.0.0.0/255.0.0.0",
        "10.0.0.1/8",
    ]


def test_the_service_may_not_publish_on_a_port_the_swarm_or_ssh_uses() -> None:
    from components.firewall import RESERVED_PORTS, SWARM_RULES, published_port_problems

    assert {r.port for r in SWARM_RULES} | {22} == set(RESERVED_PORTS)
    assert all(published_port_problems(p) for p in RESERVED_PORTS) and published_port_problems(5001) == []

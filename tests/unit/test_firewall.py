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

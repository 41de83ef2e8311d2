"""Subnet carving: a pure function, checked on examples and on many CIDR/AZ combinations."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.network import SUBNET_EXTRA_BITS, subnet_cidrs


def test_default_vpc_gives_slash_20_subnets_in_order() -> None:
    assert subnet_cidrs("10.0.0.0/16", 3) == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]


def test_adding_a_zone_appends_and_keeps_the_others() -> None:
    assert subnet_cidrs("10.0.0.0/16", 4)[:3] == subnet_cidrs("10.0.0.0/16", 3)


@pytest.mark.parametrize("count", [0, 2**SUBNET_EXTRA_BITS + 1])
def test_count_out_of_range(count: int) -> None:
    with pytest.raises(ValueError):
        subnet_cidrs("10.0.0.0/16", count)


vpcs = st.builds(
    lambda addr, prefix: str(ipaddress.ip_network(f"{ipaddress.IPv4Address(addr)}/{prefix}", strict=False)),
    st.integers(0, 2**32 - 1),
    st.integers(16, 24),
)


@given(vpc=vpcs, count=st.integers(1, 6))
def test_subnets_are_inside_the_vpc_disjoint_and_equal(vpc: str, count: int) -> None:
    nets = [ipaddress.IPv4Network(c) for c in subnet_cidrs(vpc, count)]
    parent = ipaddress.IPv4Network(vpc)
    assert len(nets) == count
    assert all(n.subnet_of(parent) for n in nets)
    assert all(n.prefixlen == parent.prefixlen + SUBNET_EXTRA_BITS for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    # AWS subnets are /16../28: every VPC we accept yields a valid one.
    assert all(16 <= n.prefixlen <= 28 for n in nets)

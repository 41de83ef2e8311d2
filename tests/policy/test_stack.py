"""Stack rule: each swarm has an odd number of managers."""

from __future__ import annotations

from pulumi_policy import PolicyResource

from policy.rules import INSTANCE, check_odd_managers, odd_manager_count
from tests.policy.helpers import Collect, policy_resource, stack_args


def node(role: str | None, cluster: str | None = "docker-swarm-dev", name: str = "n") -> PolicyResource:
    tags = {"Name": name}
    if role is not None:
        tags["swarm-role"] = role
    if cluster is not None:
        tags["swarm-cluster"] = cluster
    return policy_resource(INSTANCE, {"instanceType": "t3.micro", "tags": tags}, name)


def check(*nodes: PolicyResource) -> Collect:
    c = Collect()
    check_odd_managers(stack_args(list(nodes)), c)
    return c


def test_odd_manager_counts_pass() -> None:
    assert not check(node("manager"), node("worker"), node("worker"))
    assert not check(*[node("manager") for _ in range(3)], node("worker"))
    assert not check(*[node("manager") for _ in range(5)])


def test_even_manager_counts_are_refused() -> None:
    found = check(node("manager"), node("manager"), node("worker"))
    assert len(found.messages) == 1 and "2 manager(s)" in found.text() and "docker-swarm-dev" in found.text()
    assert check(*[node("manager") for _ in range(4)])


def test_zero_managers_only_without_swarm_instances() -> None:
    assert not check()
    assert not check(node(None, None), policy_resource("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}))
    found = check(node("worker"), node("worker"))
    assert "0 manager(s) among 2" in found.text()


def test_each_cluster_is_counted_on_its_own() -> None:
    found = check(node("manager", "a"), node("manager", "b"), node("manager", "b"), node("worker", "b"))
    assert len(found.messages) == 1 and "'b'" in found.text()


def test_through_the_policy_object() -> None:
    c = Collect()
    odd_manager_count.validate(stack_args([node("manager"), node("manager")]), c)
    assert c

"""The front door's guardrails (issue 15), each both ways: the load balancer's security
group, the TLS listener's policy, the health check, and SSH to private instances."""

from __future__ import annotations

from typing import Any

from policy.rules import (
    INGRESS_RULE,
    INSTANCE,
    check_lb_security_groups,
    check_lb_tls_policy,
    check_private_instances_ssh,
    check_target_health_check,
)
from tests.policy.helpers import Collect, policy_resource, resource_args, stack_args
from tests.policy.test_default_stack import violations
from tests.program.helpers import run

NLB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGETS = "aws:lb/targetGroup:TargetGroup"


def check(fn: Any, type_: str, props: dict[str, Any]) -> Collect:
    c = Collect()
    fn(resource_args(type_, props), c)
    return c


def test_an_internet_facing_nlb_needs_a_security_group() -> None:
    good = {"loadBalancerType": "network", "internal": False, "securityGroups": ["sg-1"], "subnets": ["s-1"]}
    assert not check(check_lb_security_groups, NLB, good)
    assert check(check_lb_security_groups, NLB, {**good, "securityGroups": []})
    assert check(check_lb_security_groups, "aws:alb/loadBalancer:LoadBalancer", {**good, "securityGroups": None})
    assert not check(check_lb_security_groups, NLB, {**good, "securityGroups": [], "internal": True})


def test_a_tls_listener_accepts_tls_12_and_up_only() -> None:
    tls = {"protocol": "TLS", "port": 443, "certificateArn": "arn:aws:acm:eu-west-1:1:certificate/x"}
    for ok in ("ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06",
               "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"):  # fmt: skip
        assert not check(check_lb_tls_policy, LISTENER, {**tls, "sslPolicy": ok}), ok
    for bad in (
        "ELBSecurityPolicy-2016-08",
        "ELBSecurityPolicy-TLS13-1-0-2021-06",
        "ELBSecurityPolicy-TLS-1-1-2017-01",
    ):
        assert check(check_lb_tls_policy, LISTENER, {**tls, "sslPolicy": bad}), bad
    unset = check(check_lb_tls_policy, LISTENER, tls)
    assert unset and "2016-08" in unset.messages[0]
    assert not check(check_lb_tls_policy, LISTENER, {"protocol": "TCP", "port": 5001})


def test_a_target_group_keeps_its_health_check() -> None:
    assert not check(check_target_health_check, TARGETS, {"port": 5001, "healthCheck": {"enabled": True}})
    assert not check(check_target_health_check, TARGETS, {"port": 5001})  # ELB's default: enabled
    assert check(check_target_health_check, TARGETS, {"port": 5001, "healthCheck": {"enabled": False}})


def _stack(ssh_peer: dict[str, Any], public: bool | None) -> Collect:
    worker = {"associatePublicIpAddress": public, "vpcSecurityGroupIds": ["sg-nodes", "sg-jump"]}
    rule = {"securityGroupId": "sg-jump", "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, **ssh_peer}
    c = Collect()
    check_private_instances_ssh(
        stack_args([policy_resource(INSTANCE, worker, "w"), policy_resource(INGRESS_RULE, rule, "ssh")]), c
    )
    return c


def test_private_instances_admit_ssh_from_groups_only() -> None:
    assert not _stack({"referencedSecurityGroupId": "sg-managers"}, public=False)
    found = _stack({"cidrIpv4": "198.51.100.7/32"}, public=False)
    assert found and "198.51.100.7/32" in found.messages[0]
    assert not _stack({"cidrIpv4": "198.51.100.7/32"}, public=None)  # a public node: sshAllowedCidrs
    assert _stack({"cidrIpv4": "10.0.0.0/8", "fromPort": 0, "toPort": 65535}, public=False)


def test_the_program_with_both_options_passes_and_a_broken_one_is_caught() -> None:
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    r = run({"loadBalancer": True, "privateWorkers": True, "certificateArn": cert})
    assert violations(r)[0] == []
    r.named("front-listener").inputs = {**r.named("front-listener").inputs, "sslPolicy": "ELBSecurityPolicy-2016-08"}
    r.named("front-nlb").inputs = {**r.named("front-nlb").inputs, "securityGroups": []}
    jump = r.named("fw-ssh-from-managers")
    jump.inputs = {**jump.inputs, "cidrIpv4": "198.51.100.7/32", "referencedSecurityGroupId": None}
    found = violations(r)[0]
    for name in (
        "lb-tls-listener-tls12",
        "lb-internet-facing-has-security-group",
        "private-instance-ssh-from-groups-only",
    ):
        assert any(v.startswith(name) for v in found), (name, found)

"""Every resource the program registers under mocks, through every rule: no violation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pulumi.runtime.mocks import MockResourceArgs
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from harness.run import RecordingMonitor, Run, run_program, unwrap
from policy.rules import INSTANCE, POLICIES
from tests.cloudmocks import CloudMocks
from tests.policy.helpers import Collect, args_from, stack_args_from
from tests.program.helpers import BASE, run

CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
RESOURCE_POLICIES = [p for p in POLICIES if isinstance(p, ResourceValidationPolicy)]
STACK_POLICIES = [p for p in POLICIES if isinstance(p, StackValidationPolicy)]


def violations(r: Run) -> tuple[list[str], Counter[str]]:
    """(violations, how many checks each policy could not run because a value was unknown)."""
    found: list[str] = []
    unknown: Counter[str] = Counter()
    for reg in r.registrations:
        for policy in RESOURCE_POLICIES:
            c = Collect()
            try:
                policy.validate(args_from(reg), c)
            except UnknownValueError:  # as the analyzer: "can't run during preview", advisory
                unknown[policy.name] += 1
            found += [f"{policy.name} {reg.type} {reg.name}: {m}" for m in c.messages]
    stack = stack_args_from(r.registrations)
    for policy in STACK_POLICIES:
        c = Collect()
        policy.validate(stack, c)
        found += [f"{policy.name}: {m}" for m in c.messages]
    return found, unknown


CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "3-managers-4-workers": {"managerCount": 3, "workerCount": 4},
    "no-host-key-pinning": {"pinHostKeys": False},
    "hardening-options": {"encryptedOverlay": True, "autolock": True},
    # The front door (issue 15): every combination of the two options, and TLS.
    "load-balancer": {"loadBalancer": True},
    "private-workers": {"privateWorkers": True},
    "both": {"loadBalancer": True, "privateWorkers": True},
    "both-tls-nat-per-zone": {
        "loadBalancer": True,
        "privateWorkers": True,
        "natGatewayPerZone": True,
        "certificateArn": CERTIFICATE,
    },
}


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def stack(request: pytest.FixtureRequest) -> Run:
    return run(CONFIGS[request.param])


def test_every_registered_resource_passes_every_rule(stack: Run) -> None:
    found, unknown = violations(stack)
    assert found == []
    assert not unknown
    # The run did register what the rules look at.
    types = Counter(reg.type for reg in stack.registrations)
    assert types[INSTANCE] >= 3 and types["pulumi:providers:docker"] == 1
    assert types["aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"] >= 7


def test_manager_and_worker_counts_reach_the_stack_rule() -> None:
    r = run(CONFIGS["3-managers-4-workers"])
    roles = Counter(unwrap(i.inputs)["tags"]["swarm-role"] for i in r.of_type(INSTANCE))
    assert roles == {"manager": 3, "worker": 4}
    assert violations(r)[0] == []


def test_pinned_host_key_is_in_user_data_and_passes() -> None:
    """With pinning (the default), the host key sits under ssh_keys: the exception, not a violation."""
    r = run()
    user_data = [unwrap(i.inputs).get("userData") or "" for i in r.of_type(INSTANCE)]
    if not any("ed25519_private" in u for u in user_data):
        pytest.skip("this program version does not pin host keys")
    assert all("PRIVATE KEY" in u for u in user_data)
    assert violations(r)[0] == []


class FirstPreviewMocks(CloudMocks):
    """As on a first `pulumi preview`: outputs a resource computes (ids aside) are unknown."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        id_, out = super().new_resource(args)
        return id_, {k: v for k, v in out.items() if k in args.inputs}


def test_first_preview_skips_unknowns_quietly() -> None:
    """The docker host (the manager's address) and the user data (a generated host key) are
    unknown: skipped, no violation, and no "can't run during preview" diagnostic either."""
    mocks = FirstPreviewMocks()
    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    r = run_program(mocks, BASE, monitor=mon, preview=True)
    provider = args_from(r.of_type("pulumi:providers:docker")[0])
    with pytest.raises(UnknownValueError):
        provider.props["host"]
    found, unknown = violations(r)
    assert found == []
    assert not unknown


def test_a_broken_stack_is_caught() -> None:
    """The same path, fed a registration the rules must refuse, reports it (the test can fail)."""
    r = run()
    bad = next(reg for reg in r.registrations if reg.type == INSTANCE)
    bad.inputs = {**bad.inputs, "metadataOptions": {"httpTokens": "optional"}}
    rule = next(reg for reg in r.registrations if reg.name.endswith("swarm-mgmt"))
    rule.inputs = {**rule.inputs, "cidrIpv4": "0.0.0.0/0", "referencedSecurityGroupId": None}
    found, _ = violations(r)
    assert any(v.startswith("instance-imdsv2-required") for v in found)
    assert any(v.startswith("no-world-open-swarm-ports") and "2377" in v for v in found)

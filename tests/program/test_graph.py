"""Ordering facts, read off the dependencies the monitor received."""

from __future__ import annotations

import pytest

from harness.graph import critical_path, dependencies, reaches
from harness.run import Run
from tests.program.helpers import run


@pytest.fixture(scope="module")
def ha() -> Run:
    return run({"managerCount": 3, "workerCount": 4})


def urn(r: Run, name: str) -> str:
    return r.named(name).urn


def test_each_join_waits_for_init_and_its_own_gate(ha: Run) -> None:
    graph = dependencies(ha.registrations)
    joins = [x for x in ha.registrations if x.name.startswith("boot-join-")]
    assert len(joins) == 7
    for j in joins:
        node = j.name.removeprefix("boot-join-")
        assert reaches(graph, j.urn, urn(ha, "boot-init"))
        assert urn(ha, f"boot-ready-{node}") in j.dependencies
        # the token, via stdin: manager-1's from the node it rejoins through
        token = "boot-token-rejoin" if node == "manager-1" else f"boot-token-{node.split('-')[0]}"
        assert urn(ha, token) in j.dependencies


def test_manager_1_rejoins_after_its_handover(ha: Run) -> None:
    """The handover runs delete-first, so a replaced manager-1's old host hands over
    before the new one reads a token and joins."""
    handover = ha.named("boot-handover-manager-1")
    assert handover.delete_before_replace
    assert handover.urn in ha.named("boot-token-rejoin").dependencies
    assert handover.urn in ha.named("boot-join-manager-1").dependencies


def test_joins_run_in_parallel(ha: Run) -> None:
    """Every join but manager-1's (the entry manager every other node joins through)."""
    graph = dependencies(ha.registrations)
    joins = [x.urn for x in ha.registrations if x.name.startswith("boot-join-") and x.name != "boot-join-manager-1"]
    for a in joins:
        for b in joins:
            assert a == b or not reaches(graph, a, b), (a, b)


def test_service_waits_for_every_join_and_label(ha: Run) -> None:
    svc = ha.named("app-service")
    graph = dependencies(ha.registrations)
    for x in ha.registrations:
        if x.name.startswith(("boot-join-", "boot-member-")):
            assert reaches(graph, svc.urn, x.urn), x.name  # directly or through its member


def test_smoke_test_waits_for_the_service(ha: Run) -> None:
    assert urn(ha, "app-service") in ha.named("app-smoke").dependencies


def test_rotation_waits_for_every_join(ha: Run) -> None:
    rot = ha.named("boot-rotate-tokens")
    graph = dependencies(ha.registrations)
    for x in ha.registrations:
        if x.name.startswith("boot-join-"):
            assert reaches(graph, rot.urn, x.urn), x.name
    # ...and nothing that joins depends on the rotation (it would deadlock or use a dead token).
    assert not any(reaches(graph, x.urn, rot.urn) for x in ha.registrations if x.name.startswith("boot-join-"))


def test_token_reads_run_again_when_the_node_set_changes(ha: Run) -> None:
    instances = sorted(x.id for x in ha.of_type("aws:ec2/instance:Instance"))
    for name in ("boot-token-worker", "boot-token-manager", "boot-rotate-tokens"):
        assert sorted(ha.named(name).inputs["triggers"]) == instances


def test_provider_waits_for_the_swarm(ha: Run) -> None:
    provider = ha.of_type("pulumi:providers:docker")[0]
    assert urn(ha, "boot-member-worker-4") in provider.dependencies


def test_critical_path_does_not_grow_with_the_workers() -> None:
    """Workers join and are labelled side by side; managers are labelled one after the
    other, so that their removals run one at a time (test_managers_are_removed_one_at_a_time)."""
    small = critical_path(run({"managerCount": 3, "workerCount": 2}).registrations)
    large = critical_path(run({"managerCount": 3, "workerCount": 8}).registrations)  # the 9-node lab
    assert len(small) == len(large), (small, large)
    assert small[-1] == "app-smoke"


def test_managers_are_removed_one_at_a_time() -> None:
    """managerCount 3 -> 1 takes out manager-3, then manager-2: each manager's member
    step (drain and demote) depends on the previous manager's, and deletes run
    dependents first, so at most one manager is out at a time."""
    r = run({"managerCount": 3, "workerCount": 1})
    graph = dependencies(r.registrations)
    # manager-3's whole removal chain (drain -> leave -> forget) before manager-2's drain
    assert reaches(graph, urn(r, "boot-forget-manager-3"), urn(r, "boot-member-manager-2"))
    assert reaches(graph, urn(r, "boot-member-manager-3"), urn(r, "boot-forget-manager-3"))
    assert not reaches(graph, urn(r, "boot-member-worker-1"), urn(r, "boot-member-manager-3"))


def test_instances_wait_for_their_route_and_the_egress_rule(ha: Run) -> None:
    """cloud-init installs Docker from the archive at first boot: an instance that starts
    before its subnet's route association or the group's egress rule exists can fail its
    first apt call."""
    graph = dependencies(ha.registrations)
    egress = next(x.urn for x in ha.registrations if x.type.endswith("SecurityGroupEgressRule"))
    associations = [x.urn for x in ha.registrations if x.type.endswith("RouteTableAssociation")]
    for i in (x for x in ha.registrations if x.type == "aws:ec2/instance:Instance"):
        assert reaches(graph, i.urn, egress), i.name
        assert all(reaches(graph, i.urn, a) for a in associations), i.name

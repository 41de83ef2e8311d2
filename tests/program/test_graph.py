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
    joins = [x for x in ha.registrations if x.name.startswith("boot-join-")]
    assert len(joins) == 6
    for j in joins:
        node = j.name.removeprefix("boot-join-")
        assert urn(ha, "boot-init") in j.dependencies
        assert urn(ha, f"boot-ready-{node}") in j.dependencies
        assert urn(ha, f"boot-token-{node.split('-')[0]}") in j.dependencies  # the token, via stdin


def test_joins_run_in_parallel(ha: Run) -> None:
    graph = dependencies(ha.registrations)
    joins = [x.urn for x in ha.registrations if x.name.startswith("boot-join-")]
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


def test_critical_path_does_not_grow_with_the_cluster() -> None:
    small = critical_path(run({"managerCount": 1, "workerCount": 2}).registrations)
    large = critical_path(run({"managerCount": 3, "workerCount": 30}).registrations)
    assert len(small) == len(large), (small, large)
    assert small[-1] == "app-smoke"


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

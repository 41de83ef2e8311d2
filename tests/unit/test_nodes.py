"""Node placement and image choice."""

from __future__ import annotations

from collections import Counter

import pytest

from components.nodes import ami_architecture, plan_nodes


@pytest.mark.parametrize(
    ("managers", "workers", "zones"), [(1, 2, 3), (3, 0, 3), (3, 30, 3), (5, 95, 6), (1, 0, 1), (7, 100, 2)]
)
def test_round_robin_over_zones(managers: int, workers: int, zones: int) -> None:
    specs = plan_nodes("swarm", managers, workers, zones)
    assert [s.role for s in specs] == ["manager"] * managers + ["worker"] * workers
    per_zone = Counter(s.zone_index for s in specs)
    assert max(per_zone.values()) - min(per_zone.values()) <= 1
    assert len(per_zone) == min(zones, managers + workers)
    # Managers first take distinct zones: a 3-manager cluster survives a zone's loss.
    assert len({s.zone_index for s in specs[:managers]}) == min(managers, zones)
    assert len({s.name for s in specs}) == len(specs)


def test_names_are_stable_when_workers_change() -> None:
    three = [s.name for s in plan_nodes("swarm", 1, 3, 3)]
    two = [s.name for s in plan_nodes("swarm", 1, 2, 3)]
    assert two == three[:3] and three[-1] == "swarm-worker-3"


def test_architecture() -> None:
    assert ami_architecture(["x86_64", "i386"]) == "amd64"
    assert ami_architecture(["arm64"]) == "arm64"

"""lab/backends/namespace.py free_gossip_port: after a swarm leave, a dockerd whose gossip
still holds its port (an old NetworkDB never closed: lab/gossip.py) is restarted, and one
that lets it go within the grace period is left alone."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.backends import Host, namespace
from tests.unit.test_lab_engine_command import FakeClock

HOST = Host(2, "swl-n2", "10.77.0.12", Path("/nonexistent"))


@pytest.fixture
def restarts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    done: list[int] = []
    monkeypatch.setattr(namespace, "restart_dockerd", done.append)
    monkeypatch.setattr(namespace, "proc_net", lambda host: Path(f"/proc/net-of-{host.name}"))
    clock = FakeClock()  # the module's `time`: its sleeps pass at once and move its clock on
    monkeypatch.setattr(namespace, "time", SimpleNamespace(monotonic=clock, sleep=clock.sleep))
    return done


def test_a_port_still_held_after_the_grace_period_restarts_that_dockerd(restarts, monkeypatch) -> None:
    monkeypatch.setattr(namespace.gossip, "holds_gossip_port", lambda p: True)
    assert namespace.free_gossip_port(HOST, grace_s=0.3) is True
    assert restarts == [2]


def test_a_port_let_go_within_the_grace_period_restarts_nothing(restarts, monkeypatch) -> None:
    answers = iter([True, True, False])
    monkeypatch.setattr(namespace.gossip, "holds_gossip_port", lambda p: next(answers))
    assert namespace.free_gossip_port(HOST, grace_s=5) is False
    assert restarts == []


def test_a_free_port_is_not_waited_for(restarts, monkeypatch) -> None:
    seen: list[Path] = []
    monkeypatch.setattr(namespace.gossip, "holds_gossip_port", lambda p: seen.append(p) or False)
    assert namespace.free_gossip_port(HOST, grace_s=5) is False
    assert restarts == [] and seen == [Path("/proc/net-of-swl-n2")]

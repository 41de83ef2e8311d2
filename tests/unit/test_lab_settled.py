"""lab/summary.py settled: the lab's tests wait for the swarm as long as the program's own
checks do, and no longer (a fake clock and a scripted sequence of views of the swarm)."""

from __future__ import annotations

from typing import Any

import pytest

from lab import summary
from lab.summary import Summary


def view(ready: bool = True, answers: bool = True) -> Summary:
    task: dict[str, Any] = {
        "task": "t1",
        "node": "swl-n2",
        "state": "running",
        "container": "abcdef123456",
        "ip": "10.0.1.3",
    }
    task["answer"] = "abcdef123456: qttestapp 1.0" if answers else "no answer (exit 143)"
    return Summary(nodes=[{"state": "ready" if ready else "unknown"}], tasks=[task])


class FakeSwarm:
    """collect() returns the next view (the last one for ever); sleep() moves the clock."""

    def __init__(self, views: list[Summary]) -> None:
        self.views, self.now, self.collected = views, 0.0, 0

    def collect(self) -> Summary:
        self.collected += 1
        return self.views[min(self.collected, len(self.views)) - 1]

    def sleep(self, s: float) -> None:
        self.now += s


@pytest.fixture
def swarm(monkeypatch: pytest.MonkeyPatch):
    def make(views: list[Summary]) -> FakeSwarm:
        fake = FakeSwarm(views)
        monkeypatch.setattr(summary, "collect", fake.collect)
        monkeypatch.setattr(summary.time, "sleep", fake.sleep)
        monkeypatch.setattr(summary.time, "monotonic", lambda: fake.now)
        return fake

    return make


def test_a_whole_swarm_is_read_once(swarm) -> None:
    fake = swarm([view()])
    s, waited = summary.settled()
    assert summary.answering(s) and waited == 0 and fake.collected == 1


def test_a_task_that_answers_late_is_waited_for(swarm) -> None:
    fake = swarm([view(answers=False)] * 40 + [view()])
    s, waited = summary.settled()
    assert summary.answering(s) and waited == 40 and fake.collected == 41


def test_a_task_that_never_answers_is_given_the_smoke_tests_60_s(swarm) -> None:
    swarm([view(answers=False)])
    s, waited = summary.settled()
    assert not summary.answering(s) and waited == 60
    assert "on swl-n2" in summary.describe_tasks(s) and "no answer (exit 143)" in summary.describe_tasks(s)


def test_a_node_not_ready_is_given_30_s(swarm) -> None:
    swarm([view(ready=False)])
    s, waited = summary.settled()
    assert s.nodes[0]["state"] == "unknown" and waited == 30


def test_no_task_is_not_answering() -> None:
    assert not summary.answering(Summary()) and summary.describe_tasks(Summary()) == "no task"

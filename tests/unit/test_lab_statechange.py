"""lab/providers/statechange.py against terraform-plugin-sdk v2.40.1 helper/retry/state.go
(WaitForStateContext), on a fake clock: when the refreshes come, and how a timeout ends."""

from __future__ import annotations

import itertools

import pytest

from lab.providers.statechange import StateTimeout, refresh_waits, wait_for_state


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.refreshed: list[float] = []

    def sleep(self, s: float) -> None:
        assert s >= 0
        self.now += s

    def refresh_until(self, t_done: float, takes: float = 0.0):
        def refresh() -> bool:
            self.refreshed.append(self.now)
            self.now += takes
            return self.now >= t_done

        return refresh


def wait(clock: Clock, refresh, *, delay: float, timeout: float, min_timeout: float = 5.0) -> None:
    wait_for_state(
        refresh, delay=delay, min_timeout=min_timeout, timeout=timeout, sleep=clock.sleep, clock=lambda: clock.now
    )


def test_the_waits_double_from_100_ms_between_min_timeout_and_10_s() -> None:
    assert list(itertools.islice(refresh_waits(5.0), 4)) == [5.0, 10.0, 10.0, 10.0]
    assert list(itertools.islice(refresh_waits(0.0), 8)) == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0])
    # a MinTimeout above 10 s is used once: its double is then cut to 10 s (state.go's order)
    assert list(itertools.islice(refresh_waits(15.0), 3)) == [15.0, 10.0, 10.0]


def test_refreshes_after_the_delay_then_5_then_every_10_s() -> None:
    clock = Clock()
    wait(clock, clock.refresh_until(20.0), delay=2.0, timeout=300.0)
    assert clock.refreshed == [2.0, 7.0, 17.0, 27.0]  # the target, reached at 20 s, is seen at 27 s
    assert clock.now == 27.0


def test_a_timeout_during_a_wait_ends_it_without_another_refresh() -> None:
    clock = Clock()
    with pytest.raises(StateTimeout):
        wait(clock, clock.refresh_until(30.0), delay=2.0, timeout=20.0)
    assert clock.refreshed == [2.0, 7.0, 17.0] and clock.now == 20.0  # 27 s would have been too late


def test_a_refresh_under_way_at_the_timeout_still_counts() -> None:
    clock = Clock()
    # each refresh takes 1.2 s: the third starts at 19.4 s and ends at 20.6 s, after the
    # 20 s timeout, having seen the target (reached at 20.5 s)
    wait(clock, clock.refresh_until(20.5, takes=1.2), delay=2.0, timeout=20.0)
    assert clock.refreshed == pytest.approx([2.0, 8.2, 19.4]) and clock.now == pytest.approx(20.6)
    clock = Clock()
    with pytest.raises(StateTimeout):  # ... and one that has not seen it is a timeout
        wait(clock, clock.refresh_until(21.0, takes=1.2), delay=2.0, timeout=20.0)
    assert clock.refreshed == pytest.approx([2.0, 8.2, 19.4])


def test_a_delay_as_long_as_the_timeout_refreshes_nothing() -> None:
    clock = Clock()
    with pytest.raises(StateTimeout):
        wait(clock, clock.refresh_until(0.0), delay=30.0, timeout=30.0)
    assert clock.refreshed == [] and clock.now == 30.0


def test_an_error_from_the_refresh_ends_the_wait() -> None:
    clock = Clock()

    def refresh() -> bool:
        raise ConnectionError("daemon gone")

    with pytest.raises(ConnectionError, match="daemon gone"):
        wait(clock, refresh, delay=2.0, timeout=60.0)
    assert clock.now == 2.0

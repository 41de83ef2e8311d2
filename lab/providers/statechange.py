"""terraform-plugin-sdk's `StateChangeConf.WaitForStateContext`, the wait every
kreuzwerker/terraform-provider-docker resource func uses (docker_service's converge
after a create or an update, and its Read), as the lab's docker provider model needs it.

Read in hashicorp/terraform-plugin-sdk v2.40.1 (the version kreuzwerker v4.5.0's go.mod
requires; pulumi-docker 5.2.0 bundles v4.5.0), helper/retry/state.go:

- the Timeout runs from the call, Delay included; a Delay that outlasts it ends in a
  timeout without a refresh;
- after Delay, the first refresh at once; then, while the target is not reached, a wait
  that starts at 100 ms and doubles before each use, raised to MinTimeout when below it,
  else cut to 10 s when above (no PollInterval is set by the provider): with MinTimeout
  5 s the refreshes come at Delay + 0, 5, 15, 25, ... s;
- a timeout that comes during a wait ends the wait with the timeout error, no further
  refresh; one that comes during a refresh lets that refresh finish (the 30 s grace
  period) and its result stands;
- an error from the refresh ends the wait with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

MAX_WAIT_S = 10.0  # state.go: "else if wait > 10*time.Second"


class StateTimeout(TimeoutError):
    """WaitForStateContext's TimeoutError ("timeout while waiting for state to become ...")."""


def refresh_waits(min_timeout: float) -> Iterator[float]:
    """The waits between refreshes, after the first refresh, while the target is not reached."""
    wait = 0.1  # "first round had no wait": then 100 ms, doubled before its first use
    while True:
        wait *= 2
        if wait < min_timeout:
            wait = min_timeout
        elif wait > MAX_WAIT_S:
            wait = MAX_WAIT_S
        yield wait


def wait_for_state(
    refresh: Callable[[], bool],
    *,
    delay: float,
    min_timeout: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Returns once REFRESH says the target is reached; StateTimeout when TIMEOUT (from
    now) passes first; REFRESH's own exception ends it at once."""
    deadline = clock() + timeout
    if delay >= timeout:
        sleep(timeout)
        raise StateTimeout(f"timeout while waiting for state ({timeout:.0f}s, within the {delay:.0f}s delay)")
    sleep(delay)
    waits = refresh_waits(min_timeout)
    while True:
        if refresh():
            return
        left = deadline - clock()
        wait = next(waits)
        if wait >= left:
            sleep(max(left, 0.0))
            raise StateTimeout(f"timeout while waiting for state ({timeout:.0f}s)")
        sleep(wait)

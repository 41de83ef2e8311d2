"""This machine's speed right now, for reading timings taken at different moments."""

from __future__ import annotations

import time


def cpu_reference() -> float:
    """Seconds for a fixed pure-Python loop: this machine's speed right now. It is a shared
    VM whose speed moves (1.3-1.7 s within minutes, more over an hour), so compare figures
    of different runs only together with this one."""
    t = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t

"""Run the program under CloudMocks with a given config."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from harness.run import PROGRAM, RecordingMonitor, Run, run_program
from tests.cloudmocks import CloudMocks

BASE = {"aws:region": "eu-west-1", "sshAllowedCidrs": ["198.51.100.7/32"]}


_RUNS: dict[str, Run] = {}  # one program run per distinct argument set, for the session


def run(
    config: dict[str, Any] | None = None,
    *,
    zones: int = 3,
    preview: bool = False,
    program: Path = PROGRAM,
    cached: bool = True,
    **kw: Any,
) -> Run:
    """The program's run with CONFIG (on top of BASE). A run depends only on its
    arguments (the mocks are made here) and the environment, so each distinct set runs
    once per session and every caller gets a copy of its own to read or change. A test
    that changes the environment the program reads (DOCKER_CONTEXT, the deployer's home)
    passes CACHED=False: a cached run would hide the change."""
    full = {**BASE, **(config or {})}
    key = json.dumps([full, zones, preview, str(program), kw], sort_keys=True)
    if key in _RUNS and cached:
        return copy.deepcopy(_RUNS[key])
    mocks = CloudMocks(zones=zones, **kw)
    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    result = run_program(mocks, full, monitor=mon, preview=preview, program=program)
    if not cached:
        return result  # (its environment was the test's own: never served to another)
    _RUNS[key] = result
    return copy.deepcopy(result)

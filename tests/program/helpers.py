"""Run the program under CloudMocks with a given config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.run import PROGRAM, RecordingMonitor, Run, run_program
from tests.cloudmocks import CloudMocks

BASE = {"aws:region": "eu-west-1", "sshAllowedCidrs": ["198.51.100.7/32"]}


def run(
    config: dict[str, Any] | None = None,
    *,
    zones: int = 3,
    preview: bool = False,
    program: Path = PROGRAM,
    **kw: Any,
) -> Run:
    mocks = CloudMocks(zones=zones, **kw)
    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    return run_program(mocks, {**BASE, **(config or {})}, monitor=mon, preview=preview, program=program)

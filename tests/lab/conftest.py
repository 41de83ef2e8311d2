"""Lab fixtures: real hosts (namespaces with dockerd + sshd), started once per session."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTS_SH = ROOT / "lab" / "hosts.sh"
LAB_HOSTS = int(os.environ.get("LAB_TEST_HOSTS", "6"))


def _why_not() -> str | None:
    if platform.system() != "Linux":
        return "the lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the lab needs root (namespaces, bridge, dockerd)"
    for tool in ("dockerd", "sshd", "cloud-init", "busybox"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed: run `make deps` (lab/hosts.sh install)"
    return None


# `make bench` reports the lab tests' wall time from here (running them takes ~4 min).
TIMES = Path("/var/cache/swarm-lab/tests.jsonl")


def _record(seconds: float, tests: int) -> None:
    try:
        TIMES.parent.mkdir(parents=True, exist_ok=True)
        with TIMES.open("a") as f:
            f.write(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(seconds, 1),
                                "tests": tests}) + "\n")  # fmt: skip
    except OSError:
        pass


@pytest.fixture(scope="package")
def lab_hosts(request: pytest.FixtureRequest) -> Iterator[int]:
    """Skips with the reason where the lab cannot run; under CI=true that is a failure.
    Package scope: the hosts are gone before the VM lab's test (tests/vmlab) starts."""
    reason = _why_not()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the lab tests, but: {reason}")
        pytest.skip(reason)
    t0, failed = time.monotonic(), request.session.testsfailed
    subprocess.run([str(HOSTS_SH), "down"], check=True)
    subprocess.run([str(HOSTS_SH), "up", str(LAB_HOSTS)], check=True)
    subprocess.run([str(HOSTS_SH), "image"], check=True)
    yield LAB_HOSTS
    subprocess.run([str(HOSTS_SH), "down"], check=True)
    shutil.rmtree(ROOT / ".ssh" / "lab", ignore_errors=True)
    ran = sum(1 for item in request.session.items if item.path.parent == Path(__file__).parent)
    if request.session.testsfailed == failed and ran > 1:  # a whole, green run of the lab tests
        _record(time.monotonic() - t0, ran)


@pytest.fixture(scope="package", autouse=True)
def _real_deployer_home() -> Iterator[None]:
    from tests.conftest import real_deployer_home

    with real_deployer_home():
        yield

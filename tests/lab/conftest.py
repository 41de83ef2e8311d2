"""Lab fixtures: real hosts (namespaces with dockerd + sshd), started once per session."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
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


@pytest.fixture(scope="package")
def lab_hosts() -> Iterator[int]:
    """Skips with the reason where the lab cannot run; under CI=true that is a failure.
    Package scope: the hosts are gone before the VM lab's test (tests/vmlab) starts."""
    reason = _why_not()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the lab tests, but: {reason}")
        pytest.skip(reason)
    subprocess.run([str(HOSTS_SH), "down"], check=True)
    subprocess.run([str(HOSTS_SH), "up", str(LAB_HOSTS)], check=True)
    subprocess.run([str(HOSTS_SH), "image"], check=True)
    yield LAB_HOSTS
    subprocess.run([str(HOSTS_SH), "down"], check=True)
    shutil.rmtree(ROOT / ".ssh" / "lab", ignore_errors=True)

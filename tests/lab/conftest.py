"""Lab fixtures: real hosts (namespaces with dockerd + sshd), started once per session."""

from __future__ import annotations

import contextlib
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


# `make bench` reports the lab tests' wall time from here.
TIMES = Path("/var/cache/swarm-lab/tests.jsonl")


def _record(seconds: float, tests: int) -> None:
    try:
        TIMES.parent.mkdir(parents=True, exist_ok=True)
        with TIMES.open("a") as f:
            f.write(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(seconds, 1),
                                "tests": tests,
                                "beside_vm_lab": os.environ.get("VM_LAB_RUNNING_BESIDE") == "1"}) + "\n")  # fmt: skip
    except OSError:
        pass


@pytest.fixture(scope="package")
def lab_hosts(request: pytest.FixtureRequest) -> Iterator[int]:
    """Skips with the reason where the lab cannot run; under CI=true that is a failure.
    Package scope: started once for the lab tests, gone when they end. (The VM lab shares
    nothing with these hosts: `make test` runs its test beside them, .ci/suites.py.)"""
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
    _say(request.config, _gossip_left_open())
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


# A test marked `leaves_default_stack` that passes hands the default stack (Pulumi.lab.yaml's
# config, 1 manager + 2 workers), whole, to the next test that asks for `default_stack`.
_LEFT_WHOLE = pytest.StashKey[bool]()  # set by the test that just ended
_HANDED_OVER = pytest.StashKey[bool]()  # what the running test was handed


@pytest.fixture(autouse=True)
def _handover(request: pytest.FixtureRequest) -> Iterator[None]:
    session = request.session
    restarted = _restart_confused_dockerds(request.config)  # then what was handed over is not known whole
    session.stash[_HANDED_OVER] = session.stash.get(_LEFT_WHOLE, False) and not restarted
    session.stash[_LEFT_WHOLE] = False  # whatever this test does, until it passes
    failed = session.testsfailed
    yield
    marked = request.node.get_closest_marker("leaves_default_stack") is not None
    session.stash[_LEFT_WHOLE] = marked and session.testsfailed == failed


def _default_stack_is_whole() -> str | None:
    """Why the lab's stack is not the default one, whole, or None when it is: a finished
    run, no config set on top, nothing pending, and its swarm as the hosts say (every node
    of the state Ready and active, one leader, 2 of 2 replicas running, each answering)."""
    from lab import engine
    from lab.summary import answering, collect, describe_tasks

    if not (engine.LAB_STATE / "stack.json").exists():
        return "no stack"
    st = engine.State(engine.LAB_STATE)
    if st.config or st.pending_deletes or not st.exports:
        return f"config {sorted(st.config)}, {len(st.pending_deletes)} pending delete(s), exports {bool(st.exports)}"
    if sorted(st.hosts) != ["swarm-manager-1", "swarm-worker-1", "swarm-worker-2"]:
        return f"instances {sorted(st.hosts)}"
    try:
        s = collect()
    except Exception as exc:  # the manager does not answer: not whole
        return f"the swarm does not answer: {exc}"
    want = {f"swl-n{k}" for k in st.hosts.values()}
    if {n["hostname"] for n in s.nodes} != want or not all(
        n["state"] == "ready" and n["availability"] == "active" for n in s.nodes
    ):
        return f"nodes {s.nodes}"
    if [n["manager"].lower() for n in s.nodes if n["role"] == "manager"] != ["leader"]:
        return f"managers {s.nodes}"
    if not (s.service.get("running") == s.service.get("desired") == 2) or not answering(s):
        return f"service {s.service}, tasks: {describe_tasks(s)}"
    return None


@pytest.fixture
def default_stack(request: pytest.FixtureRequest, lab_hosts: int) -> int:
    """The default stack, up and whole, as `fresh` then `up()` would leave it. Handed over by
    the test before when that one is marked `leaves_default_stack`, passed, and the stack
    checks whole (_default_stack_is_whole); else built anew. Saves a cluster per test
    (the lab's suite time: issue 16)."""
    from tests.lab.test_lab import reset, up

    if request.session.stash.get(_HANDED_OVER, False):
        why_not = _default_stack_is_whole()
        if why_not is None:
            return lab_hosts
        print(f"default_stack: handed over but not whole ({why_not}): built anew")
    reset(lab_hosts)
    up()
    return lab_hosts


def _restart_confused_dockerds(config: pytest.Config) -> bool:
    """Before each test: a host whose dockerd's overlay gossip is broken (it evicted a live
    node, an old NetworkDB still runs, or an agent failed to start: lab/gossip.py) would
    fail every later test that needs that node's tasks on the overlay, as the lab's
    dockerds live for the whole suite; so that dockerd is restarted (SIGTERM, which leaves
    the gossip cleanly, or SIGKILL if it does not stop; then started: its new NetworkDB
    learns every node afresh), and said so. The test that was running when it happened
    has reported its own result already. True when one was restarted."""
    from lab import engine, gossip
    from lab.backends.namespace import restart_dockerd

    found = gossip.broken({k: gossip.dockerd_log(engine.LAB_STATE, k) for k in range(1, LAB_HOSTS + 1)})
    for k, line in sorted(found.items()):
        # on the terminal, past pytest's capture (a test's captured output shows only if it fails)
        _say(config, f"lab: swl-n{k}'s dockerd's overlay gossip is broken ({line}): restarting it")
        restart_dockerd(k)
    return bool(found)


def _say(config: pytest.Config, text: str) -> None:
    """TEXT on the terminal, past pytest's capture (a test's captured output shows only
    if it fails)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print(f"\n{text}", flush=True)


def _gossip_left_open() -> str:
    """How often, in this session, a swarm leave left a host's gossip running (moby's
    clusterLeave before 16ed51d864: lab/gossip.py); the resets restart such a dockerd
    before its next swarm (lab/backends/namespace.py free_gossip_port)."""
    from lab import engine, gossip

    counts = {k: gossip.left_open(gossip.dockerd_log(engine.LAB_STATE, k)) for k in range(1, LAB_HOSTS + 1)}
    found = ", ".join(f"swl-n{k} {n}" for k, n in counts.items() if n)
    return f"lab: swarm leaves that left their overlay gossip running: {found or 'none'}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed lab test's report ends with each host's newest lines about the overlay's
    gossip (healthscore, incarnations, memberlist), the first thing to read when a task
    goes missing from the overlay."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        from lab import engine, gossip

        lines = [f"swl-n{k}: {ln}" for k in range(1, LAB_HOSTS + 1)
                 for ln in gossip.gossip_lines(gossip.dockerd_log(engine.LAB_STATE, k))]  # fmt: skip
        if lines:
            report.sections.append(("the hosts' overlay gossip (newest lines)", "\n".join(lines)))
    return report

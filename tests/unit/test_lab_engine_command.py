"""The pulumi-command model (lab/providers/command.py): dialling, timeouts, semantics."""

from __future__ import annotations

import pytest

from lab.providers import command as cp
from lab.providers.base import Ctx, Old


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(round(s, 4))
        self.now += s


def failing_dial(message: str, succeed_after: int | None = None):
    calls = []

    def dial() -> str:
        calls.append(1)
        if succeed_after is not None and len(calls) > succeed_after:
            return "client"
        raise OSError(message)

    return dial, calls


def test_host_key_mismatch_is_retried_up_to_the_limit() -> None:
    clock = FakeClock()
    dial, calls = failing_dial("ssh: handshake failed: ssh: host key mismatch")
    with pytest.raises(cp.CommandFailed) as e:
        cp.dial_with_retry(dial, 10, None, clock=clock, sleep=clock.sleep)
    assert str(e.value) == "after 10 failed attempts: ssh: handshake failed: ssh: host key mismatch"
    assert len(calls) == 11
    assert clock.sleeps == pytest.approx([0.1, 0.15, 0.225, 0.3375, 0.506, 0.759, 1.139, 1.709, 2.563, 3.844], abs=1e-3)
    assert clock.sleeps == [round(x, 4) for x in cp.dial_schedule(10, 10)]


def test_the_wait_is_capped_at_5s_and_minus_one_is_unlimited() -> None:
    clock = FakeClock()
    dial, calls = failing_dial("dial tcp 10.77.0.12:22: connect: connection refused", succeed_after=14)
    assert cp.dial_with_retry(dial, -1, None, clock=clock, sleep=clock.sleep) == "client"
    assert len(calls) == 15 and clock.sleeps[-4:] == [5.0, 5.0, 5.0, 5.0]


def test_limit_zero_is_one_attempt() -> None:
    dial, calls = failing_dial("refused")
    with pytest.raises(cp.CommandFailed, match="after 0 failed attempts: refused"):
        cp.dial_with_retry(dial, 0, None, sleep=lambda s: None)
    assert len(calls) == 1


def test_a_deadline_ends_the_retries_during_a_wait() -> None:
    clock = FakeClock()
    dial, calls = failing_dial("refused")
    with pytest.raises(cp.DeadlineExceeded, match="context deadline exceeded"):
        cp.dial_with_retry(dial, -1, 1.0, clock=clock, sleep=clock.sleep)
    assert clock.now == 1.0 and len(calls) == 5  # 0.1+0.15+0.225+0.3375 < 1 < +0.506


def test_deadlines_only_from_custom_timeouts() -> None:
    assert cp.deadline_of({}, "create", lambda: 100.0) is None
    assert cp.deadline_of({"create": "10m"}, "create", lambda: 100.0) == 700.0
    assert cp.deadline_of({"create": "10m"}, "update", lambda: 100.0) is None
    assert cp.deadline_of({"delete": "1500ms"}, "delete", lambda: 0.0) == 1.0  # whole seconds


def ctx(name: str = "c", **kw: object) -> Ctx:
    return Ctx(f"urn::{name}", name, "command:local:Command", **kw)  # type: ignore[arg-type]


def test_local_create_stdin_and_trailing_newline(tmp_path) -> None:
    p = cp.CommandProvider(remote=False)
    _, out = p.create(ctx(), {"create": "cat; echo err >&2", "stdin": "hello\n"})
    assert out["stdout"] == "hello" and out["stderr"] == "err"
    _, out = p.create(ctx(), {"create": "test -t 0 || echo no-stdin", "stdin": ""})
    assert out["stdout"] == "no-stdin"


def test_update_without_update_runs_create_and_keeps_outputs_without_either() -> None:
    p = cp.CommandProvider(remote=False)
    old = Old("u", "t", "c", "id", {"create": "echo one"}, {"create": "echo one", "stdout": "one", "stderr": ""})
    assert p.update(ctx(), old, {"create": "echo two"})["stdout"] == "two"
    assert p.update(ctx(), old, {"delete": "true"})["stdout"] == "one"


def test_local_delete_uses_the_state(tmp_path) -> None:
    p = cp.CommandProvider(remote=False)
    mark = tmp_path / "deleted"
    state = {
        "delete": f'printf %s "$WHO" > {mark}',
        "environment": {"WHO": "state"},
        "interpreter": ["/bin/bash", "-c"],
    }
    p.delete(ctx(), Old("u", "t", "c", "id", state, {**state, "stdout": "", "stderr": ""}))
    assert mark.read_text() == "state"


def test_local_command_sees_the_real_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _, out = cp.CommandProvider(remote=False).create(ctx(), {"create": "echo $HOME"})
    assert out["stdout"] == str(tmp_path)


def test_local_create_is_killed_at_its_timeout() -> None:
    """A timeout under 1 s truncates to 0: expired at once (cancel.go time.Duration(timeout))."""
    import time

    p = cp.CommandProvider(remote=False)
    t0 = time.monotonic()
    with pytest.raises(cp.DeadlineExceeded):
        p.create(ctx(custom_timeouts={"create": "500ms"}), {"create": "exec sleep 5"})
    assert time.monotonic() - t0 < 1


def test_failure_text() -> None:
    with pytest.raises(cp.CommandFailed, match=r"exit status 3: running 'echo out; exit 3':\nout"):
        cp.CommandProvider(remote=False).create(ctx(), {"create": "echo out; exit 3"})


def test_triggers_replace_other_inputs_update() -> None:
    p = cp.CommandProvider(remote=False)
    old = Old("u", "t", "c", "id", {"create": "a", "triggers": ["i-1"]}, {})
    assert p.diff(ctx(), old, {"create": "b", "triggers": ["i-1"]}, []).replaces == []
    assert p.diff(ctx(), old, {"create": "a", "triggers": ["i-2"]}, []).replaces == ["triggers[0]"]
    assert p.diff(ctx(), old, {"create": "a", "triggers": ["i-1"], "delete": "x"}, []).changed == ["delete"]


def test_local_commands_do_not_see_the_language_hosts_config(monkeypatch) -> None:
    """The harness sets PULUMI_CONFIG (secret values included) for the program, as the CLI
    does for the language host only; a provider's local command must not inherit it."""
    from lab.providers.command import run_local

    monkeypatch.setenv("PULUMI_CONFIG", '{"docker-swarm:sshPrivateKey": "SECRET"}')
    res = run_local("env", None, None, None, None)
    assert "SECRET" not in res.stdout and "PULUMI_CONFIG" not in res.stdout and "HOME=" in res.stdout

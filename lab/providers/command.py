"""command:remote:Command and command:local:Command as pulumi-command 1.2.1 does them
(pulumi-go-provider 1.3.0, pulumi sdk 3.224.0 retry, x/crypto 0.48.0; every fact here
is from docs/upstream/command.md, which cites the files).

Diff (`infer/resource.go` diff): any changed input is an update; `triggers` (and its
elements, through the SDK's replace_on_changes=["triggers[*]"]) force a replacement.
Create runs `create` (nothing if unset); Update runs `update`, else `create`, else
nothing (keeps the old stdout/stderr); Delete runs the STATE's `delete` with the
state's connection / environment / interpreter / dir / stdin. stdin is sent only when
non-empty; stdout and stderr lose one trailing "\\n". Failure: "<err>: running
"<cmd>":\\n<stdout+stderr>".

Timeouts (`middleware/cancel/cancel.go`): Create/Update/Delete get a deadline only
from the resource's custom timeouts (seconds, truncated); none are set by default.
Remote: the deadline is seen only while sleeping between dial attempts ("context
deadline exceeded"); nothing kills a running remote command. Local: the interpreter
process is killed (SIGKILL) at the deadline.

Dialling (`remote/connection.go` dialWithRetry, `retry.Until`): attempts until
`dials > dialErrorLimit` (default 10: 11 attempts; -1 or less: unlimited), waiting
0.1 s, then x1.5 each time, at most 5 s. EVERY dial error is retried the same way,
a host key mismatch included ("ssh: handshake failed: ssh: host key mismatch").
The error after the last: "after <try> failed attempts: <last error>".
perDialTimeout (default 15) bounds the TCP connect only; the handshake has no bound.
"""

from __future__ import annotations

import io
import secrets as pysecrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from harness.run import unwrap
from lab.providers.base import Ctx, Diff, Old, deep_diff, ignored, plugin_environment, top

ROOT = Path(__file__).resolve().parents[2]
DIAL_ERROR_DEFAULT = 10
PER_DIAL_DEFAULT = 15
DEFAULT_DELAY, BACKOFF, MAX_DELAY = 0.1, 1.5, 5.0  # sdk/go/common/util/retry/until.go
HANDSHAKE_UNBOUNDED = 24 * 3600.0  # paramiko needs a number; x/crypto has no bound


class CommandFailed(Exception):
    pass


class DeadlineExceeded(CommandFailed):
    def __init__(self) -> None:
        super().__init__("context deadline exceeded")


@dataclass
class Result:
    stdout: str
    stderr: str


def deadline_of(timeouts: dict[str, str], op: str, clock: Callable[[], float]) -> float | None:
    """The go-provider's deadline for OP: the custom timeout in whole seconds, or none."""
    text = timeouts.get(op)
    if not text:
        return None
    from lab.providers.docker import duration_ns

    seconds = int((duration_ns(text) or 0) / 1e9)  # time.Duration(timeout) truncates
    return clock() + seconds


def dial_schedule(limit: int, attempts: int) -> list[float]:
    """The waits between the first ATTEMPTS failed dials (for tests and docs)."""
    out, delay = [], DEFAULT_DELAY
    for _ in range(attempts):
        out.append(delay)
        delay = min(delay * BACKOFF, MAX_DELAY)
    return out


def dial_with_retry(
    dial: Callable[[], Any],
    limit: int,
    deadline: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    note: Callable[[str], None] = lambda msg: None,
) -> Any:
    """`dialWithRetry` over `retry.Until`."""
    try_ = 0
    delay = DEFAULT_DELAY
    while True:
        try:
            return dial()
        except Exception as exc:
            dials = try_ + 1
            if limit > -1 and dials > limit:
                raise CommandFailed(f"after {try_} failed attempts: {exc}") from None
            shown = str(limit) if limit > -1 else "unlimited"
            note(f"Dial {dials}/{shown} failed: retrying")
            if deadline is not None and clock() + delay > deadline:
                sleep(max(0.0, deadline - clock()))  # <-ctx.Done() during the wait
                raise DeadlineExceeded() from None
            sleep(delay)
            try_ += 1
            delay = min(delay * BACKOFF, MAX_DELAY)


class _FixedHostKey(paramiko.MissingHostKeyPolicy):
    """ssh.FixedHostKey: the key's wire bytes must equal the connection's hostKey."""

    def __init__(self, expected: str | None) -> None:
        self.expected = expected.split()[:2] if expected else None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if self.expected and [key.get_name(), key.get_base64()] != self.expected:
            raise paramiko.SSHException("ssh: handshake failed: ssh: host key mismatch")


def _load_key(text: str) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise CommandFailed("ssh: no key found")


def _dial_once(conn: dict[str, Any]) -> paramiko.SSHClient:
    host = conn["host"]
    port = int(conn.get("port") or 22)
    given = conn.get("perDialTimeout")
    per_dial = float(given if given is not None else PER_DIAL_DEFAULT)
    key = _load_key(conn["privateKey"]) if conn.get("privateKey") else None
    try:
        sock = socket.create_connection((host, port), timeout=per_dial or None)  # TCP connect only
    except OSError as exc:
        raise OSError(f"dial tcp {host}:{port}: {exc.strerror or exc}") from None
    sock.settimeout(None)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_FixedHostKey(conn.get("hostKey")))
    try:
        client.connect(
            host,
            port=port,
            username=conn.get("user") or "root",
            pkey=key,
            allow_agent=key is None,
            look_for_keys=False,
            sock=sock,
            banner_timeout=HANDSHAKE_UNBOUNDED,
            auth_timeout=HANDSHAKE_UNBOUNDED,
        )
    except Exception:
        client.close()
        raise
    return client


def _setenv(chan: paramiko.Channel, name: str, value: str) -> None:
    """session.Setenv: an "env" request with want-reply; a refusal is an error."""
    m = paramiko.Message()
    m.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)  # type: ignore[attr-defined]
    m.add_int(chan.remote_chanid)
    m.add_string("env")
    m.add_boolean(True)
    m.add_string(name)
    m.add_string(value)
    chan._event_pending()  # type: ignore[attr-defined]  # paramiko's own want-reply dance
    chan.transport._send_user_message(m)  # type: ignore[union-attr]
    try:
        chan._wait_for_event()  # type: ignore[attr-defined]
    except paramiko.SSHException as exc:
        raise CommandFailed(f"could not set environment variable {name!r}: ssh: setenv failed") from exc


def run_remote(
    conn: dict[str, Any],
    command: str,
    stdin: str | None,
    env: dict[str, str] | None,
    deadline: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    note: Callable[[str], None] = lambda msg: None,
) -> Result:
    """Dial (with retries), run COMMAND, return its output (remote/commandOutputs.go run)."""
    conn = unwrap(conn)
    limit = conn.get("dialErrorLimit")
    limit = DIAL_ERROR_DEFAULT if limit is None else int(limit)
    client = dial_with_retry(lambda: _dial_once(conn), limit, deadline, clock=clock, sleep=sleep, note=note)
    try:
        chan = client.get_transport().open_session()  # type: ignore[union-attr]
        for name, value in (env or {}).items():
            _setenv(chan, name, value)
        chan.exec_command(command)
        if stdin:  # only when non-empty
            chan.sendall(stdin.encode())
        chan.shutdown_write()
        out, err = io.BytesIO(), io.BytesIO()
        while True:  # session.Run: no deadline
            if chan.recv_ready():
                out.write(chan.recv(65536))
            if chan.recv_stderr_ready():
                err.write(chan.recv_stderr(65536))
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            time.sleep(0.02)
        rc = chan.recv_exit_status()
    finally:
        client.close()
    stdout, stderr = out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace")
    if rc != 0:
        raise CommandFailed(f"Process exited with status {rc}: running {command!r}:\n{stdout}{stderr}")
    return Result(stdout.removesuffix("\n"), stderr.removesuffix("\n"))


def run_local(
    command: str,
    interpreter: list[str] | None,
    stdin: str | None,
    env: dict[str, str] | None,
    deadline: float | None,
    *,
    cwd: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Result:
    """local/commandOutputs.go run: the interpreter (default /bin/sh -c) with the
    provider's environment (this process's: HOME included) plus ENV; the working
    directory is `dir`, else the project root (the CLI starts plugins there)."""
    args = [*(interpreter or ["/bin/sh", "-c"]), command]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**plugin_environment(), **(env or {})},
        cwd=cwd or str(ROOT),
    )
    timeout = None if deadline is None else max(0.0, deadline - clock())
    try:
        stdout, stderr = proc.communicate(stdin or None, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)  # exec.CommandContext kills the direct child
        stdout, stderr = proc.communicate()
        raise DeadlineExceeded() from None
    if proc.returncode != 0:
        status = f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal: {-proc.returncode}"
        raise CommandFailed(f"{status}: running {command!r}:\n{stdout}{stderr}")
    return Result(stdout.removesuffix("\n"), stderr.removesuffix("\n"))


class CommandProvider:
    """Both command resource types; REMOTE picks the connection or this machine."""

    def __init__(self, remote: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.remote = remote
        self.clock = clock

    # --- diff ----------------------------------------------------------------
    def diff(self, ctx: Ctx, old: Old, news: dict[str, Any], ignore_changes: list[str]) -> Diff:
        changed = [p for p in deep_diff(old.inputs, news) if not ignored(p, ignore_changes)]
        return Diff(changed, [p for p in changed if top(p) == "triggers"])

    def replaced_when_unknown(self, keys: list[str]) -> bool:
        """calculateDependentReplacements: an unknown `triggers` forces a replacement."""
        return "triggers" in keys

    # --- operations ----------------------------------------------------------
    def _run(self, ctx: Ctx, inputs: dict[str, Any], text: str, op: str, prev: dict[str, Any] | None) -> Result:
        plain = unwrap(inputs)
        env = dict(plain.get("environment") or {})
        add_prev = plain.get("addPreviousOutputInEnv")
        if prev is not None and (add_prev is None or add_prev):
            for key, var in (("stdout", "PULUMI_COMMAND_STDOUT"), ("stderr", "PULUMI_COMMAND_STDERR")):
                if unwrap(prev.get(key)):
                    env[var] = unwrap(prev[key])
        deadline = deadline_of(ctx.custom_timeouts, op, ctx.clock)
        if self.remote:
            where = plain["connection"]["host"]
            ctx.log(f"run  {ctx.name} on {where} ({op})")
            conn = plain["connection"]
            res = run_remote(conn, text, plain.get("stdin"), env, deadline, clock=ctx.clock, sleep=ctx.sleep,
                             note=ctx.log)  # fmt: skip
        else:
            ctx.log(f"run  {ctx.name} locally ({op})")
            res = run_local(text, plain.get("interpreter") or None, plain.get("stdin"), env, deadline,
                            cwd=plain.get("dir"), clock=ctx.clock)  # fmt: skip
        for line in res.stderr.splitlines():
            ctx.output(line)
        return res

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        id_ = f"{ctx.name}{pysecrets.token_hex(4)}"  # resource.NewUniqueHex(name, 8, 0)
        text = unwrap(inputs.get("create"))
        if text is None:
            return id_, {**inputs, "stdout": "", "stderr": ""}
        res = self._run(ctx, inputs, text, "create", None)
        return id_, {**inputs, "stdout": res.stdout, "stderr": res.stderr}

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        text = unwrap(news.get("update")) or unwrap(news.get("create"))
        if text is None:
            return {**news, "stdout": old.outputs.get("stdout", ""), "stderr": old.outputs.get("stderr", "")}
        res = self._run(ctx, news, text, "update", old.outputs)
        return {**news, "stdout": res.stdout, "stderr": res.stderr}

    def delete(self, ctx: Ctx, old: Old) -> None:
        text = unwrap(old.outputs.get("delete", old.inputs.get("delete")))
        if not text:
            return
        # The state (its outputs embed the inputs) gives connection, environment, stdin, ...
        state = {**old.inputs, **{k: v for k, v in old.outputs.items() if k not in ("stdout", "stderr")}}
        ctx.custom_timeouts = old.custom_timeouts  # the OLD state's delete timeout (step.go)
        self._run(ctx, state, text, "delete", old.outputs)

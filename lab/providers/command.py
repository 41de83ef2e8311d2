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
The error after the last: "after <try> failed attempts: <last error>". Status note
per retry: "<stage> <dials>/<limit> failed: retrying" (limit -1 shows as "inf").
perDialTimeout (default 15) bounds the TCP connect only; the handshake has no bound.
The config (private key) is parsed before any dial: its errors are not retried.

`proxy` (`Connection.Dial`, `remote/proxyConnection.go`; docs/upstream/command.md
section 7): a jump host with its own user / privateKey / hostKey / port /
dialErrorLimit / perDialTimeout (same defaults). Three retried stages, each failure
"proxy: <err>": "Dial proxy" (ssh.Dial to the proxy: the PROXY's limit, its
perDialTimeout bounds the TCP connect), "Dial from proxy" (a direct-tcpip channel to
host:port, originator 0.0.0.0:0, no timeout: the TARGET's limit), "Dial" (the SSH
handshake over that one channel, the target's hostKey, no timeout: the target's
limit). A failed handshake closes the channel and a retry reuses it, so every retry
after one fails with "ssh: handshake failed: EOF". Each hop's hostKey is pinned.
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
    def __init__(self, message: str = "context deadline exceeded") -> None:
        super().__init__(message)


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
    msg: str = "Dial",
) -> Any:
    """`dialWithRetry(ctx, msg, maxAttempts, f)` over `retry.Until`."""
    try_ = 0
    delay = DEFAULT_DELAY
    while True:
        try:
            return dial()
        except Exception as exc:
            dials = try_ + 1
            if limit > -1 and dials > limit:
                raise CommandFailed(f"after {try_} failed attempts: {exc}") from None
            shown = "inf" if limit == -1 else str(limit)  # InfoStatusf("%s %d/%s failed: retrying")
            note(f"{msg} {dials}/{shown} failed: retrying")
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


@dataclass(frozen=True)
class SshConfig:
    """One hop's settings (`connectionBase.SSHConfig` plus host, port and limit), with
    the Annotate / SDK defaults filled in: user root, port 22, dialErrorLimit 10,
    perDialTimeout 15."""

    host: str
    port: int
    user: str
    key: paramiko.PKey | None
    host_key: str | None
    per_dial: float  # seconds, 0: no bound (net.DialTimeout)
    limit: int  # dialErrorLimit

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"  # net.JoinHostPort (IPv4 / names)


def ssh_config(conn: dict[str, Any]) -> SshConfig:
    """SSHConfig for CONN (a connection or its proxy). A bad private key fails here,
    before any dial, and is not retried."""
    limit = conn.get("dialErrorLimit")
    per_dial = conn.get("perDialTimeout")
    return SshConfig(
        host=conn["host"],
        port=int(conn.get("port") or 22),
        user=conn.get("user") or "root",
        key=_load_key(conn["privateKey"]) if conn.get("privateKey") else None,
        host_key=conn.get("hostKey"),
        per_dial=float(per_dial if per_dial is not None else PER_DIAL_DEFAULT),
        limit=DIAL_ERROR_DEFAULT if limit is None else int(limit),
    )


def _handshake(sock: Any, cfg: SshConfig) -> paramiko.SSHClient:
    """ssh.NewClientConn over SOCK: version exchange, kex, the pinned host key, auth;
    no deadline. On failure SOCK is closed (NewClientConn's `c.Close()`)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_FixedHostKey(cfg.host_key))
    try:
        client.connect(
            cfg.host,
            port=cfg.port,
            username=cfg.user,
            pkey=cfg.key,
            allow_agent=cfg.key is None,
            look_for_keys=False,
            sock=sock,
            banner_timeout=HANDSHAKE_UNBOUNDED,
            auth_timeout=HANDSHAKE_UNBOUNDED,
        )
    except Exception:
        client.close()
        sock.close()
        raise
    return client


def ssh_dial(cfg: SshConfig) -> paramiko.SSHClient:
    """ssh.Dial("tcp", host:port, config): a TCP connect bounded by perDialTimeout, then
    the handshake (unbounded)."""
    try:
        sock = socket.create_connection((cfg.host, cfg.port), timeout=cfg.per_dial or None)
    except OSError as exc:
        raise OSError(f"dial tcp {cfg.endpoint}: {exc.strerror or exc}") from None
    sock.settimeout(None)
    return _handshake(sock, cfg)


# x/crypto ssh RejectionReason.String (ssh/channel.go), for OpenChannelError
REJECTION = {1: "administratively prohibited", 2: "connect failed", 3: "unknown channel type", 4: "resource shortage"}


def dial_from_proxy(proxy: paramiko.SSHClient, cfg: SshConfig) -> paramiko.Channel:
    """proxyClient.Dial("tcp", endpoint): a direct-tcpip channel to the target, as
    x/crypto opens it (originator 0.0.0.0 port 0, ssh/tcpip.go Client.Dial); no timeout.
    A refusal reads "ssh: rejected: <reason> (<message>)" (OpenChannelError)."""
    transport = proxy.get_transport()
    if transport is None or not transport.is_active():
        raise OSError("EOF")  # the proxy's connection is gone
    try:
        return transport.open_channel("direct-tcpip", (cfg.host, cfg.port), ("0.0.0.0", 0), timeout=HANDSHAKE_UNBOUNDED)
    except paramiko.ChannelException as exc:
        reason = REJECTION.get(exc.code, f"unknown reason {exc.code}")
        raise OSError(f"ssh: rejected: {reason} ({exc.text})") from None


def handshake_over(channel: Any, cfg: SshConfig) -> paramiko.SSHClient:
    """ssh.NewClientConn(conn, endpoint, config) over the proxy's channel. A failed try
    closed it, and dialWithRetry tries again on the same conn: the version line's
    write then fails (x/crypto channel writePacket/window: io.EOF)."""
    if getattr(channel, "closed", False):
        raise paramiko.SSHException("ssh: handshake failed: EOF")
    return _handshake(channel, cfg)


@dataclass(frozen=True)
class Stages:
    """What Connection.Dial does at each step (injectable for tests)."""

    ssh_dial: Callable[[SshConfig], Any] = ssh_dial
    dial_from_proxy: Callable[[Any, SshConfig], Any] = dial_from_proxy
    handshake: Callable[[Any, SshConfig], Any] = handshake_over


@dataclass
class Dialled:
    """The SSH client of the target, and of the proxy it goes through (if any)."""

    client: Any
    proxy: Any = None

    def close(self) -> None:
        # (upstream closes neither; the lab does not leak them)
        for c in (self.client, self.proxy):
            if c is not None:
                c.close()


def dial(
    conn: dict[str, Any],
    deadline: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    note: Callable[[str], None] = lambda msg: None,
    stages: Stages | None = None,
) -> Dialled:
    """`Connection.Dial`: direct, or through `proxy`."""
    stages = stages or Stages()
    cfg = ssh_config(conn)  # (not wrapped: the target's config comes first)

    def retried(f: Callable[[], Any], limit: int, msg: str) -> Any:
        return dial_with_retry(f, limit, deadline, clock=clock, sleep=sleep, note=note, msg=msg)

    proxy_conn = conn.get("proxy")
    if not proxy_conn:
        return Dialled(retried(lambda: stages.ssh_dial(cfg), cfg.limit, "Dial"))
    try:
        pcfg = ssh_config(proxy_conn)
    except CommandFailed as exc:
        raise CommandFailed(f"proxy: {exc}") from None
    proxy: Any = None
    try:
        # the PROXY's dialErrorLimit (and perDialTimeout, inside ssh_dial)
        proxy = retried(lambda: stages.ssh_dial(pcfg), pcfg.limit, "Dial proxy")
        # from here on the TARGET's dialErrorLimit; its perDialTimeout plays no part
        channel = retried(lambda: stages.dial_from_proxy(proxy, cfg), cfg.limit, "Dial from proxy")
        client = retried(lambda: stages.handshake(channel, cfg), cfg.limit, "Dial")  # one channel, every try
    except CommandFailed as exc:
        if proxy is not None:
            proxy.close()
        raise type(exc)(f"proxy: {exc}") from None  # fmt.Errorf("proxy: %w", err)
    return Dialled(client, proxy)


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
    dialled = dial(conn, deadline, clock=clock, sleep=sleep, note=note)
    try:
        chan = dialled.client.get_transport().open_session()
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
        dialled.close()
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

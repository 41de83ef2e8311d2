"""Run a registered command the way pulumi-command does: over SSH (or locally),
with exactly the command text, environment and stdin the program registered."""

from __future__ import annotations

import io
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import paramiko

# PATH as this process started with it: lab/dockerapi.py puts an ssh wrapper (with the
# docker provider's ssh options) in front of PATH for the docker SDK; local commands
# must get the plain ssh, as they would on a deployer's machine.
PLAIN_PATH = os.environ.get("PATH", "")


class CommandFailed(Exception):
    pass


@dataclass
class Result:
    stdout: str
    stderr: str


def _load_key(text: str) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise CommandFailed("the connection's private key could not be read")


class _PinnedHostKey(paramiko.MissingHostKeyPolicy):
    """Accept only the host key the connection names (pulumi-command's host_key)."""

    def __init__(self, expected: str | None) -> None:
        self.expected = expected.split()[:2] if expected else None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if self.expected and [key.get_name(), key.get_base64()] != self.expected:
            raise CommandFailed(f"host key mismatch for {hostname}: got {key.get_name()} {key.get_fingerprint().hex()}")


def run_remote(
    conn: dict[str, Any], command: str, stdin: str | None, env: dict[str, str] | None, deadline: float
) -> Result:
    """Dial with retries (dialErrorLimit, perDialTimeout), run, return stdout/stderr."""
    host = conn["host"]
    limit = int(conn.get("dialErrorLimit", 10))
    per_dial = float(conn.get("perDialTimeout", 15)) or None
    key = _load_key(conn["privateKey"]) if conn.get("privateKey") else None
    errors = 0
    pause = 0.2
    while True:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_PinnedHostKey(conn.get("hostKey")))
        try:
            client.connect(
                host,
                port=int(conn.get("port", 22)),
                username=conn.get("user", "root"),
                pkey=key,
                allow_agent=key is None,
                look_for_keys=False,
                timeout=per_dial,
                banner_timeout=per_dial,
                auth_timeout=per_dial,
            )
            break
        except CommandFailed:
            client.close()
            raise
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            errors += 1
            if (limit >= 0 and errors >= limit) or time.monotonic() > deadline:
                raise CommandFailed(f"could not dial {host} after {errors} failed attempts: {exc}") from None
            time.sleep(pause)
            pause = min(pause * 2, 5)
    try:
        chan = client.get_transport().open_session()  # type: ignore[union-attr]
        for name, value in (env or {}).items():
            chan.set_environment_variable(name, value)
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin.encode())
        chan.shutdown_write()
        out, err = io.BytesIO(), io.BytesIO()
        while True:
            if chan.recv_ready():
                out.write(chan.recv(65536))
            if chan.recv_stderr_ready():
                err.write(chan.recv_stderr(65536))
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            if time.monotonic() > deadline:
                raise CommandFailed(f"timed out on {host}")
            time.sleep(0.02)
        rc = chan.recv_exit_status()
        res = Result(out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace"))
        if rc != 0:
            raise CommandFailed(f"exit {rc} on {host}: {res.stderr.strip()[-800:]}")
        return res
    finally:
        client.close()


def run_local(command: str, stdin: str | None, env: dict[str, str] | None, deadline: float) -> Result:
    proc = subprocess.run(
        ["/bin/sh", "-c", command],
        input=stdin or "",
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": PLAIN_PATH, **(env or {})},
        timeout=max(1.0, deadline - time.monotonic()),
    )
    if proc.returncode != 0:
        raise CommandFailed(f"exit {proc.returncode} locally: {proc.stderr.strip()[-800:]}")
    return Result(proc.stdout, proc.stderr)

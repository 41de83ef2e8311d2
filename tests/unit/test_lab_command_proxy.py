"""`connection.proxy` in the pulumi-command model (lab/providers/command.py `dial`), as
pulumi-command v1.2.1 `remote/connection.go` Connection.Dial does it: three retried
stages, the proxy's own settings for the first, the target's for the others, one
direct-tcpip channel for every handshake try, each failure "proxy: <err>".

The first tests replace the stages with fakes; the last ones run real SSH (paramiko
servers on 127.0.0.1: a jump host that forwards direct-tcpip, and a target)."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_CONNECT_FAILED,
    OPEN_SUCCEEDED,
)

from lab.providers import command as cp
from tests.unit.test_lab_engine_command import FakeClock

TARGET = {"host": "10.77.0.12", "hostKey": "ssh-ed25519 TARGETKEY"}
PROXY = {"host": "10.77.0.11", "hostKey": "ssh-ed25519 PROXYKEY"}


class FakeStages:
    """The three stages of Connection.Dial, each failing its first FAIL[stage] tries
    (None: always). Records what each try got."""

    def __init__(self, fail: dict[str, int | None] | None = None, error: dict[str, str] | None = None) -> None:
        self.fail = {"ssh_dial": 0, "dial_from_proxy": 0, "handshake": 0, **(fail or {})}
        self.error = {
            "ssh_dial": "dial tcp 10.77.0.11:22: connect: connection refused",
            "dial_from_proxy": "ssh: rejected: connect failed (Connection refused)",
            "handshake": "ssh: handshake failed: ssh: host key mismatch",
            **(error or {}),
        }
        self.calls: dict[str, list[Any]] = {"ssh_dial": [], "dial_from_proxy": [], "handshake": []}
        self.closed: list[str] = []

    def _try(self, stage: str, arg: Any, result: Any) -> Any:
        self.calls[stage].append(arg)
        limit = self.fail[stage]
        if limit is None or len(self.calls[stage]) <= limit:
            raise OSError(self.error[stage])
        return result

    def stages(self) -> cp.Stages:
        proxy_client = SimpleNamespace(close=lambda: self.closed.append("proxy"))
        target_client = SimpleNamespace(close=lambda: self.closed.append("target"))
        channel = object()  # one channel: a new object would be a new dial
        return cp.Stages(
            ssh_dial=lambda cfg: self._try("ssh_dial", cfg, proxy_client),
            dial_from_proxy=lambda proxy, cfg: self._try("dial_from_proxy", (proxy, cfg), channel),
            handshake=lambda chan, cfg: self._try("handshake", (chan, cfg), target_client),
        )


def dial(conn: dict[str, Any], fake: FakeStages, deadline: float | None = None):
    clock = FakeClock()
    notes: list[str] = []
    try:
        res = cp.dial(conn, deadline, clock=clock, sleep=clock.sleep, note=notes.append, stages=fake.stages())
    except cp.CommandFailed as exc:
        return exc, notes, clock
    return res, notes, clock


def test_proxy_dial_uses_the_proxys_limit_and_wraps_the_error() -> None:
    fake = FakeStages(fail={"ssh_dial": None})
    err, notes, clock = dial({**TARGET, "dialErrorLimit": 5, "proxy": {**PROXY, "dialErrorLimit": 2}}, fake)
    assert isinstance(err, cp.CommandFailed) and not isinstance(err, cp.DeadlineExceeded)
    assert str(err) == "proxy: after 2 failed attempts: dial tcp 10.77.0.11:22: connect: connection refused"
    assert len(fake.calls["ssh_dial"]) == 3  # the proxy's limit (2) + 1, not the target's (5)
    assert [c.host for c in fake.calls["ssh_dial"]] == ["10.77.0.11"] * 3
    assert notes == ["Dial proxy 1/2 failed: retrying", "Dial proxy 2/2 failed: retrying"]
    assert clock.sleeps == [0.1, 0.15]
    assert fake.calls["dial_from_proxy"] == [] and fake.calls["handshake"] == []


def test_dial_from_proxy_uses_the_targets_limit() -> None:
    fake = FakeStages(fail={"dial_from_proxy": None})
    err, notes, _ = dial({**TARGET, "dialErrorLimit": 3, "proxy": {**PROXY, "dialErrorLimit": 0}}, fake)
    assert str(err) == "proxy: after 3 failed attempts: ssh: rejected: connect failed (Connection refused)"
    assert len(fake.calls["ssh_dial"]) == 1 and len(fake.calls["dial_from_proxy"]) == 4
    assert notes == [f"Dial from proxy {i}/3 failed: retrying" for i in (1, 2, 3)]
    assert fake.closed == ["proxy"]  # (the lab closes the proxy client it gave up on)


def test_handshake_retries_reuse_the_one_channel_up_to_the_targets_limit() -> None:
    fake = FakeStages(fail={"handshake": None})
    err, notes, clock = dial({**TARGET, "proxy": {**PROXY, "dialErrorLimit": 1}}, fake)
    assert str(err) == "proxy: after 10 failed attempts: ssh: handshake failed: ssh: host key mismatch"
    assert len(fake.calls["dial_from_proxy"]) == 1  # the channel is opened once ...
    channels = {id(chan) for chan, _ in fake.calls["handshake"]}
    assert len(fake.calls["handshake"]) == 11 and len(channels) == 1  # ... and every try reuses it
    assert notes == [f"Dial {i}/10 failed: retrying" for i in range(1, 11)]
    assert clock.sleeps == [round(x, 4) for x in cp.dial_schedule(10, 10)]


def test_each_stage_gets_its_own_hops_settings_and_defaults() -> None:
    fake = FakeStages(fail={"ssh_dial": 1, "dial_from_proxy": 1, "handshake": 1})
    conn = {**TARGET, "user": "ubuntu", "port": 2222, "perDialTimeout": 7, "dialErrorLimit": -1, "proxy": dict(PROXY)}
    res, notes, _ = dial(conn, fake)
    assert isinstance(res, cp.Dialled) and res.client is not None and res.proxy is not None
    proxy_cfg = fake.calls["ssh_dial"][0]
    assert (proxy_cfg.host, proxy_cfg.port, proxy_cfg.user, proxy_cfg.host_key) == (
        "10.77.0.11", 22, "root", "ssh-ed25519 PROXYKEY"
    )  # fmt: skip
    assert (proxy_cfg.limit, proxy_cfg.per_dial) == (10, 15.0)  # the defaults, not the target's -1 / 7
    for _, cfg in fake.calls["dial_from_proxy"] + fake.calls["handshake"]:
        assert (cfg.host, cfg.port, cfg.user, cfg.host_key) == ("10.77.0.12", 2222, "ubuntu", "ssh-ed25519 TARGETKEY")
    assert notes == ["Dial proxy 1/10 failed: retrying", "Dial from proxy 1/inf failed: retrying",
                     "Dial 1/inf failed: retrying"]  # fmt: skip
    res.close()
    assert fake.closed == ["target", "proxy"]


def test_a_deadline_in_a_proxied_stage_is_wrapped() -> None:
    fake = FakeStages(fail={"dial_from_proxy": None})
    err, _, clock = dial({**TARGET, "dialErrorLimit": -1, "proxy": dict(PROXY)}, fake, deadline=1.0)
    assert isinstance(err, cp.DeadlineExceeded)
    assert str(err) == "proxy: context deadline exceeded"
    assert clock.now == 1.0


def test_config_errors_come_first_and_are_not_retried() -> None:
    fake = FakeStages()
    err, _, _ = dial({**TARGET, "proxy": {**PROXY, "privateKey": "not a key"}}, fake)
    assert str(err) == "proxy: ssh: no key found"
    err, _, _ = dial({**TARGET, "privateKey": "not a key", "proxy": {**PROXY, "privateKey": "not a key"}}, fake)
    assert str(err) == "ssh: no key found"  # the target's config is read first, and not wrapped
    assert fake.calls == {"ssh_dial": [], "dial_from_proxy": [], "handshake": []}


def test_without_a_proxy_one_stage_with_the_connections_settings() -> None:
    fake = FakeStages(fail={"ssh_dial": 2})
    res, notes, _ = dial({**TARGET, "dialErrorLimit": -2}, fake)
    assert isinstance(res, cp.Dialled) and res.proxy is None
    assert [c.host for c in fake.calls["ssh_dial"]] == ["10.77.0.12"] * 3
    assert notes == ["Dial 1/-2 failed: retrying", "Dial 2/-2 failed: retrying"]  # "inf" is for -1 only


def test_a_handshake_on_the_closed_channel_is_eof() -> None:
    """x/crypto NewClientConn closes the conn on failure; the retry writes its version
    line to the closed channel: io.EOF (ssh/channel.go writePacket)."""
    cfg = cp.ssh_config(dict(TARGET))
    with pytest.raises(paramiko.SSHException, match=r"^ssh: handshake failed: EOF$"):
        cp.handshake_over(SimpleNamespace(closed=True), cfg)


# ---------------------------------------------------------------- real SSH on 127.0.0.1
def ed25519() -> tuple[str, paramiko.PKey]:
    text = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    return text, paramiko.Ed25519Key.from_private_key(io.StringIO(text))


def public(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


class SshServer:
    """An SSH server on 127.0.0.1 (paramiko): publickey auth for root with one key;
    `exec` answers "ran: <command>"; direct-tcpip is forwarded (recorded)."""

    def __init__(self, client_key: paramiko.PKey) -> None:
        _, self.host_key = ed25519()
        self.client_key = client_key
        self.connections = 0
        self.opens: list[tuple[tuple[str, int], tuple[str, int]]] = []  # (origin, destination)
        self.pending: dict[int, socket.socket] = {}
        self.transports: list[paramiko.Transport] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._session, args=(sock,), daemon=True).start()

    def _session(self, sock: socket.socket) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(self.host_key)
        self.transports.append(t)
        try:
            t.start_server(server=_Interface(self))
        except (paramiko.SSHException, EOFError, OSError):
            return
        while t.is_active():
            chan = t.accept(0.2)
            if chan is not None and (dest := self.pending.pop(chan.get_id(), None)) is not None:
                _forward(chan, dest)

    def close(self) -> None:
        if self.listener.fileno() != -1:
            self.listener.shutdown(socket.SHUT_RDWR)  # (wakes the accept; close alone would not)
            self.listener.close()
        for t in self.transports:
            t.close()


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: SshServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == "root" and public(key) == public(self.server.client_key)
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid: int, origin: Any, destination: Any) -> int:
        self.server.opens.append((tuple(origin), tuple(destination)))
        try:
            self.server.pending[chanid] = socket.create_connection(tuple(destination), timeout=5)
        except OSError:
            return OPEN_FAILED_CONNECT_FAILED
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def run() -> None:
            time.sleep(0.05)  # after the exec request's reply
            channel.sendall(b"ran: " + command + b"\n")
            channel.send_exit_status(0)
            channel.close()

        threading.Thread(target=run, daemon=True).start()
        return True


def _forward(chan: paramiko.Channel, sock: socket.socket) -> None:
    def pump(recv: Any, send: Any) -> None:
        try:
            while data := recv(65536):
                send(data)
        except OSError:
            pass
        finally:
            # the other pump or the client may have closed the transport first: then
            # paramiko's close of the channel meets EOF (a warning of a stray thread)
            with contextlib.suppress(OSError, EOFError):
                chan.close()
            sock.close()

    threading.Thread(target=pump, args=(chan.recv, sock.sendall), daemon=True).start()
    threading.Thread(target=pump, args=(sock.recv, chan.sendall), daemon=True).start()


@pytest.fixture
def jump():
    """(deployer's private key text, jump host, target): both accept the deployer's key."""
    text, key = ed25519()
    proxy, target = SshServer(key), SshServer(key)
    yield text, proxy, target
    proxy.close()
    target.close()


def conn_via(jump_host: SshServer, target: SshServer, key: str, **target_extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": target.port,
        "privateKey": key,
        "hostKey": public(target.host_key),
        **target_extra,
        "proxy": {
            "host": "127.0.0.1",
            "port": jump_host.port,
            "privateKey": key,
            "hostKey": public(jump_host.host_key),
        },
    }


def test_a_command_runs_on_the_target_through_the_jump_host(jump) -> None:
    key, proxy, target = jump
    res = cp.run_remote(conn_via(proxy, target, key), "hostname", None, None, None)
    assert res.stdout == "ran: hostname"
    # x/crypto's Client.Dial: direct-tcpip from 0.0.0.0:0 to the target's host:port
    assert proxy.opens == [(("0.0.0.0", 0), ("127.0.0.1", target.port))]
    assert (proxy.connections, target.connections) == (1, 1)


def test_a_target_host_key_mismatch_retries_on_the_closed_channel(jump) -> None:
    key, proxy, target = jump
    _, other = ed25519()
    conn = conn_via(proxy, target, key, hostKey=public(other), dialErrorLimit=2)
    notes: list[str] = []
    with pytest.raises(cp.CommandFailed) as e:
        cp.run_remote(conn, "true", None, None, None, sleep=lambda s: None, note=notes.append)
    # the first try: the mismatch, which closes the channel; the two retries: EOF on it
    assert str(e.value) == "proxy: after 2 failed attempts: ssh: handshake failed: EOF"
    assert notes == ["Dial 1/2 failed: retrying", "Dial 2/2 failed: retrying"]
    assert len(proxy.opens) == 1 and target.connections == 1


def test_the_jump_hosts_key_is_pinned_with_its_own_limit(jump) -> None:
    key, proxy, target = jump
    _, other = ed25519()
    conn = conn_via(proxy, target, key)
    conn["proxy"] = {**conn["proxy"], "hostKey": public(other), "dialErrorLimit": 1}
    with pytest.raises(cp.CommandFailed) as e:
        cp.run_remote(conn, "true", None, None, None, sleep=lambda s: None)
    assert str(e.value) == "proxy: after 1 failed attempts: ssh: handshake failed: ssh: host key mismatch"
    assert proxy.connections == 2 and proxy.opens == [] and target.connections == 0


def test_a_refused_target_is_an_open_channel_error(jump) -> None:
    key, proxy, target = jump
    conn = conn_via(proxy, target, key, dialErrorLimit=0)
    target.close()  # nothing listens on its port any more
    with pytest.raises(cp.CommandFailed) as e:
        cp.run_remote(conn, "true", None, None, None)
    # the reason code's name, then the server's text (paramiko's: "Connect failed")
    assert str(e.value) == "proxy: after 0 failed attempts: ssh: rejected: connect failed (Connect failed)"

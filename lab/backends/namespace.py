"""Hosts started beforehand by lab/hosts.sh (network namespaces with their own dockerd
and sshd). The hosts come with Docker, so the user data is checked with `cloud-init
schema` (cloud_config.py: the command, in one process for all instances), and only its
`ssh_keys` (the pinned host key) is carried out.

`LAB_HOSTS=N make lab` starts N hosts; those no instance holds are spares. A replaced
instance is a new host with a new address (as EC2 gives a new instance a new IP): it
takes a spare. A host whose instance was deleted is reset (out of any swarm, its
containers, services' tasks, networks and volumes removed, its authorized_keys
emptied, unblocked) before it serves another instance.

A private instance (no public address: a private subnet) is a host that this machine,
the deployer, cannot reach: `lab/hosts.sh block K` drops every new connection from the
root network namespace to it, while the other hosts on the bridge still reach it (the
program's jump host). Its host is unblocked when it is freed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import docker.errors
import yaml

from lab import gossip
from lab.backends import Host
from lab.backends.cloud_config import CloudConfigCheck

ROOT = Path(__file__).resolve().parents[2]
HOSTS_SH = ROOT / "lab" / "hosts.sh"
NET = "10.77.0"


def discover_hosts(state_dir: Path) -> list[Host]:
    """The hosts lab/hosts.sh started (their state directories)."""
    hosts = []
    for d in sorted(state_dir.glob("swl-n*"), key=lambda p: int(p.name[5:])):
        if (d / "pause.pid").exists():
            k = int(d.name[5:])
            hosts.append(Host(k, d.name, f"{NET}.{10 + k}", d))
    return hosts


def socket_client(k: int) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix:///run/swl-n{k}/docker.sock", timeout=60)


class NamespaceBackend:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.hosts = discover_hosts(state_dir)
        if not self.hosts:
            raise RuntimeError("no lab hosts: run `lab/hosts.sh up` first")
        self.cloud_config = CloudConfigCheck()

    def allocate(self, taken: set[int]) -> int:
        free = [h.k for h in self.hosts if h.k not in taken]
        if not free:
            raise RuntimeError(
                f"the program asks for more instances than the lab has hosts ({len(self.hosts)}): "
                "start more with `LAB_HOSTS=N make lab` (or `lab/hosts.sh up N`)"
            )
        return free[0]

    def launch(self, instance: str, k: int, user_data: str, public_key: str, *, public: bool) -> Host:
        host = self.host(k)
        check_user_data(self.cloud_config, user_data, host)
        # (a public one is unblocked too: a host a crashed run left blocked serves it)
        hosts_sh("unblock" if public else "block", str(k))
        apply_ssh_keys(user_data, host)
        # EC2 (cloud-init) puts the key pair's public key in the login user's
        # ~/.ssh/authorized_keys: root's, in the host's own home (lab/hosts.sh).
        auth = authorized_keys(host)
        auth.parent.mkdir(mode=0o700, exist_ok=True)
        lines = auth.read_text().splitlines() if auth.exists() else []
        if public_key.strip() not in lines:
            auth.write_text("\n".join([*lines, public_key.strip()]) + "\n")
        return host

    def terminate(self, instance: str, k: int) -> None:
        """The instance is gone: its host becomes a clean spare."""
        reset_host(self.host(k))

    def host(self, k: int) -> Host:
        return next(h for h in self.hosts if h.k == k)


def reset_host(host: Host) -> None:
    """Back to a fresh machine: out of the swarm, no containers/networks/volumes, no
    authorized keys, reachable from this machine (unblocked)."""
    try:
        c = socket_client(host.k)  # (the client asks the daemon its API version at once)
    except docker.errors.DockerException:
        c = None  # a host whose dockerd is down (a terminated instance's) is reset as far as it can be
    try:
        if c is not None:
            leave_swarm(c)
            for ctr in c.containers.list(all=True):
                ctr.remove(force=True)
            c.networks.prune()
            c.volumes.prune()
    except docker.errors.DockerException:
        pass  # as far as it can be
    finally:
        if c is not None:
            c.close()
    authorized_keys(host).unlink(missing_ok=True)
    hosts_sh("unblock", str(host.k))  # reachable again: a spare serves public instances too
    if c is not None:
        free_gossip_port(host)


def leave_swarm(c: docker.DockerClient) -> None:
    """Out of any swarm (locked or without a leader too: the API's forced leave; c.swarm
    would first GET /swarm, which fails without a leader)."""
    if c.info()["Swarm"]["LocalNodeState"] != "inactive":
        c.api.leave_swarm(force=True)


GOSSIP_GRACE_S = 5.0


def free_gossip_port(host: Host, grace_s: float = GOSSIP_GRACE_S) -> bool:
    """After a swarm leave, no NetworkDB of the host's dockerd may hold the gossip port: the
    leave returns once the agent stopped (lab/gossip.py). One that still holds it GRACE_S
    later was never closed, and the next swarm's agent cannot start there ("error in
    agentInit": its tasks stay in "starting"); a new EC2 instance never carries one, so
    that dockerd is restarted (SIGTERM, else SIGKILL; then started), and said so. True
    when it was restarted."""
    deadline = time.monotonic() + grace_s
    while gossip.holds_gossip_port(proc_net(host)):
        if time.monotonic() >= deadline:
            print(f"lab: {host.name}'s dockerd holds the gossip port {gossip.GOSSIP_PORT} after leaving its swarm:"
                  " restarting it", file=sys.stderr, flush=True)  # fmt: skip
            restart_dockerd(host.k)
            return True
        time.sleep(0.2)
    return False


def proc_net(host: Host) -> Path:
    """/proc/PID/net of a process in the host's network namespace (its pause process)."""
    return Path(f"/proc/{(host.dir / 'pause.pid').read_text().strip()}/net")


def restart_dockerd(k: int) -> None:
    """Host K's dockerd stopped (SIGTERM: it leaves the gossip cleanly; SIGKILL when it is
    still running 30 s later) and started again."""
    if subprocess.run([str(HOSTS_SH), "kill-daemon", str(k), "dockerd"]).returncode != 0:
        hosts_sh("kill-daemon", str(k), "dockerd", "KILL")
    hosts_sh("start-daemon", str(k), "dockerd")


def hosts_sh(*args: str) -> None:
    """lab/hosts.sh ARGS; its message in the error when it fails."""
    res = subprocess.run([str(HOSTS_SH), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"lab/hosts.sh {' '.join(args)} failed: {(res.stderr or res.stdout).strip()[-800:]}")


def authorized_keys(host: Host) -> Path:
    """The login user's (root's) authorized keys on HOST: /root/.ssh/authorized_keys in
    the host's mount namespace, the file sshd's default AuthorizedKeysFile names."""
    return host.dir / "root-home" / ".ssh" / "authorized_keys"


def check_user_data(cloud_config: CloudConfigCheck, text: str, host: Host) -> None:
    """The instance's user data must be valid cloud-config (cloud-init's own schema)."""
    problem = cloud_config.check(text)
    if problem is not None:
        raise RuntimeError(f"user data for {host.name} is not valid cloud-config: {problem}")


def apply_ssh_keys(user_data: str, host: Host) -> None:
    """`ssh_keys` (cloud-init's ssh module installs them as the host's keys). With pinned
    host keys the program accepts no other key, so the host must present this one."""
    doc = yaml.safe_load(user_data) or {}
    private = (doc.get("ssh_keys") or {}).get("ed25519_private")
    if not private:
        return
    fd, path = tempfile.mkstemp(prefix="hostkey-", dir=host.dir)
    try:
        os.write(fd, private.encode())
        os.close(fd)
        subprocess.run([str(HOSTS_SH), "set-host-key", str(host.k), path], check=True, capture_output=True)
    finally:
        os.unlink(path)

"""VmBackend: the lab engine's instances as QEMU VMs that boot with their own user data.

For each `aws:ec2/instance:Instance` the program registers, `launch` boots one VM
(lab/vm/host.sh vm-start) whose NoCloud seed carries, as EC2 delivers them:
  - user-data:      the instance's user data exactly as the program rendered it (decoded
                    only if the program base64/gzip-encoded it, as EC2 hands it to the
                    instance decoded);
  - meta-data:      instance-id, local-hostname and the key pair's public key
                    (`public-keys`: outside user data, as on EC2);
  - network-config: the VM's static address on the lab bridge (the VPC's DHCP on AWS).
It returns at once; the program's readiness gate (scripts/node-ready.sh: one SSH login,
then `cloud-init status --wait` inside) waits for boot and cloud-init.

A watcher reads each VM's serial console (a file on this machine: nothing is asked of
the guest) and notes when sshd started and when cloud-init finished, for the timings.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import os
import re
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import yaml

from harness.run import unwrap
from lab.backends import Host

ROOT = Path(__file__).resolve().parents[2]
HOST_SH = ROOT / "lab" / "vm" / "host.sh"
VM_STATE = Path(os.environ.get("VMLAB_STATE", "/tmp/swarm-vmlab-state"))
NET = "10.78.0"
MAX_VMS = 99


def vm_ip(k: int) -> str:
    return f"{NET}.{10 + k}"


def vm_mac(k: int) -> str:
    return f"52:54:00:78:00:{k:02x}"


def decode_user_data(value: Any) -> str:
    """The user data as the instance receives it: plain text. The program renders plain
    #cloud-config; base64 (userDataBase64) and gzip are undone as EC2/cloud-init would."""
    raw = unwrap(value)
    if not isinstance(raw, str):
        raise TypeError(f"user data must be a string, got {type(raw).__name__}")
    if raw.startswith(("#cloud-config", "#!", "Content-Type:", "#include", "## template")):
        return raw
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode()


def user_data_packages(text: str) -> list[str]:
    """The packages a #cloud-config installs (`packages:`), as apt arguments."""
    if not text.startswith("#cloud-config"):
        return []
    doc = yaml.safe_load(text) or {}
    out = []
    for p in doc.get("packages") or []:
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, list) and p:
            out.append("=".join(str(x) for x in p[:2]))
    return out


def meta_data(instance: str, public_key: str) -> str:
    doc = {
        "instance-id": f"i-{secrets.token_hex(8)}",  # a new instance every launch
        "local-hostname": instance,
        "public-keys": [public_key.strip()],
    }
    return yaml.safe_dump(doc, sort_keys=False, width=10000)


def network_config(k: int) -> str:
    doc = {
        "version": 2,
        "ethernets": {
            "eth0": {
                "match": {"macaddress": vm_mac(k)},
                "set-name": "eth0",
                "addresses": [f"{vm_ip(k)}/24"],
            }
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def qemu_pid(state_dir: Path, k: int) -> int | None:
    """The PID of VM K's qemu if it runs (and is ours: checked by its comm)."""
    try:
        pid = int((state_dir / f"vm{k}" / "qemu.pid").read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1]
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm == "qemu-system-x86" and stat[:1] not in ("Z", "X") else None


class ConsoleWatch(threading.Thread):
    """Notes (wall clock) when VM K's serial console shows its boot milestones."""

    MILESTONES: ClassVar[dict[str, re.Pattern[str]]] = {
        # systemd's status lines (ANSI colours removed); it stops printing them once a
        # getty owns the console, so "Starting" is the last line that names sshd.
        "sshd": re.compile(r"Start(ed|ing) ssh\.service"),
        "cloud-init": re.compile(r"Cloud-init v\. \S+ finished at"),
    }

    def __init__(self, k: int, console: Path, launched: float) -> None:
        super().__init__(name=f"console-vm{k}", daemon=True)
        self.k = k
        self.console = console
        self.launched = launched
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        pos = 0
        tail = ""
        while not self.stop.is_set() and len(self.seen) < len(self.MILESTONES):
            try:
                with self.console.open("rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos += len(chunk)
            except OSError:
                chunk = b""
            if chunk:
                now = time.time()
                raw = tail + chunk.decode(errors="replace")
                text = _ANSI.sub("", raw)
                for name, rx in self.MILESTONES.items():
                    if name not in self.seen and rx.search(text):
                        self.seen[name] = now
                tail = raw[-300:]
            self.stop.wait(1.0)


class VmBackend:
    """The lab engine's Backend: one QEMU VM per instance (lab/vm/host.sh runs them)."""

    def __init__(self, state_dir: Path = VM_STATE) -> None:
        self.state_dir = state_dir
        self.launched: dict[int, float] = {}  # VM number -> wall clock of its launch
        self.watches: dict[int, ConsoleWatch] = {}
        self.names: dict[int, str] = {}
        self.repo_packages: set[str] | None = None  # what the repo serves, if built by lab.vm
        self.lock = threading.Lock()  # the engine launches instances in parallel

    def host(self, k: int) -> Host:
        return Host(k, f"swv-vm{k}", vm_ip(k), self.state_dir / f"vm{k}")

    def allocate(self, taken: set[int]) -> int:
        """The lowest VM number that no instance holds and no VM runs as."""
        for k in range(1, MAX_VMS + 1):
            if k not in taken and qemu_pid(self.state_dir, k) is None:
                return k
        raise RuntimeError(f"the VM lab runs at most {MAX_VMS} VMs")

    def launch(self, instance: str, k: int, user_data: str, public_key: str, *, public: bool) -> Host:
        if not public:
            raise RuntimeError(
                f"{instance} has no public address: the VM lab does not model private subnets: "
                "use the namespace lab (make lab)"
            )
        host = self.host(k)
        with self.lock:
            self.names[k] = instance
        if qemu_pid(self.state_dir, k) is not None:
            return host  # the instance runs already (an update in place, as EC2 would)
        text = decode_user_data(user_data)
        self._ensure_repo(user_data_packages(text))
        seed = host.dir / "seed"
        seed.mkdir(parents=True, exist_ok=True)
        os.chmod(host.dir, 0o700)
        for name, content in (
            ("user-data", text),
            ("meta-data", meta_data(instance, public_key)),
            ("network-config", network_config(k)),
        ):
            path = seed / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(content)
        res = subprocess.run([str(HOST_SH), "vm-start", str(k)], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"could not start the VM of {instance}: {res.stderr.strip()[-800:]}")
        now = time.time()
        watch = ConsoleWatch(k, host.dir / "console.log", now)
        watch.start()
        with self.lock:
            self.launched[k] = now
            self.watches[k] = watch
        return host

    def terminate(self, instance: str, k: int) -> None:
        if k in self.watches:
            self.watches.pop(k).stop.set()
        res = subprocess.run([str(HOST_SH), "vm-stop", str(k)], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"could not stop the VM of {instance}: {res.stderr.strip()[-800:]}")

    def _ensure_repo(self, packages: list[str]) -> None:
        """The local repo must serve what this user data installs: if it names a package
        the repo was not built for, build it again for all of them."""
        with self.lock:
            if self.repo_packages is None or set(packages) <= self.repo_packages:
                return
            want = sorted(self.repo_packages | set(packages))
            res = subprocess.run([str(HOST_SH), "repo", *want], capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"local apt repo for {want}: {res.stderr.strip()[-800:]}")
            self.repo_packages = set(want)

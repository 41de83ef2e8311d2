"""The lab engine: runs __main__.py under Pulumi's mock runtime and makes what it
registers real on the lab's hosts.

- aws:ec2/instance:Instance  -> one lab host (its addresses become the instance's);
  the user data is checked with `cloud-init schema`, the key pair's public key is
  installed as the host's authorized key (as EC2 does), nothing else of AWS is real.
- command:remote:Command     -> run over SSH on the host its connection names, with
  the registered create text, environment and stdin; real stdout/stderr returned.
- command:local:Command      -> run on this machine.
- docker provider / Network / Service -> created on the manager's Docker Engine,
  reached over SSH with the provider's own host and ssh options.

Like the Pulumi engine it keeps a state: a resource whose inputs did not change is
not run again (its outputs come from the state), a changed one runs again, one
whose triggers changed is replaced, and one that the program no longer registers
is deleted (its delete command runs) after the program finished. Secret outputs
are stored encrypted (AES-GCM, key in a 0600 file beside the state), as Pulumi's
passphrase secrets provider does. `--replay` runs every command again, to show the
scripts are no-ops on a converged cluster.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pulumi.runtime import mocks as pmocks

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.run import PROJECT, RecordingMonitor, Registration, is_secret, run_program, secret, unwrap  # noqa: E402
from lab import dockerapi  # noqa: E402
from lab.remote import CommandFailed, run_local, run_remote  # noqa: E402

LAB_STATE = Path(os.environ.get("LAB_STATE", "/tmp/swarmlab-state"))
NET = "10.77.0"
ZONES = ["lab-a", "lab-b", "lab-c"]


@dataclass(frozen=True)
class Host:
    k: int
    name: str
    ip: str
    dir: Path


def discover_hosts(state_dir: Path = LAB_STATE) -> list[Host]:
    """The hosts lab/hosts.sh started (their state directories)."""
    hosts = []
    for d in sorted(state_dir.glob("swl-n*"), key=lambda p: int(p.name[5:])):
        if (d / "pause.pid").exists():
            k = int(d.name[5:])
            hosts.append(Host(k, d.name, f"{NET}.{10 + k}", d))
    return hosts


class Backend(Protocol):
    """Where the lab's "instances" come from."""

    state_dir: Path

    def allocate(self, taken: set[int]) -> int:
        """A host number for a new instance (not one of TAKEN)."""
        ...

    def launch(self, instance: str, k: int, user_data: str, public_key: str) -> Host:
        """Start INSTANCE as host K, as EC2 launches an instance from its user data and
        key pair. Returns at once; the program's readiness gate waits for it."""
        ...

    def terminate(self, instance: str, k: int) -> None:
        """The instance was deleted."""
        ...

    def host(self, k: int) -> Host:
        """The host of an instance launched in an earlier run."""
        ...


class NamespaceBackend:
    """Hosts started beforehand by lab/hosts.sh; the hosts come with Docker, so the
    user data is checked with `cloud-init schema`, not run."""

    def __init__(self, state_dir: Path = LAB_STATE) -> None:
        self.state_dir = state_dir
        self.hosts = discover_hosts(state_dir)
        if not self.hosts:
            raise RuntimeError("no lab hosts: run `lab/hosts.sh up` first")

    def allocate(self, taken: set[int]) -> int:
        free = [h.k for h in self.hosts if h.k not in taken]
        if not free:
            raise RuntimeError(
                f"the program asks for more instances than the lab has hosts ({len(self.hosts)}): "
                "start more with `lab/hosts.sh up N`"
            )
        return free[0]

    def launch(self, instance: str, k: int, user_data: str, public_key: str) -> Host:
        host = self.host(k)
        check_user_data(user_data, host)
        apply_ssh_keys(user_data, host)
        # EC2 puts the key pair's public key in the login user's authorized_keys.
        auth = host.dir / "authorized_keys"
        lines = auth.read_text().splitlines() if auth.exists() else []
        if public_key not in lines:
            auth.write_text("\n".join([*lines, public_key]) + "\n")
        return host

    def terminate(self, instance: str, k: int) -> None:
        """Nothing to stop: the host stays up for a later instance (it has left the swarm)."""

    def host(self, k: int) -> Host:
        return next(h for h in self.hosts if h.k == k)


class Vault:
    """Encrypts secret values for the state file (the key never leaves the lab's state dir)."""

    def __init__(self, key_file: Path) -> None:
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, AESGCM.generate_key(bit_length=256))
            os.close(fd)
        self.aead = AESGCM(key_file.read_bytes())

    def seal(self, value: Any) -> dict[str, str]:
        nonce = os.urandom(12)
        blob = self.aead.encrypt(nonce, json.dumps(value).encode(), None)
        return {"ciphertext": base64.b64encode(nonce + blob).decode()}

    def open(self, sealed: dict[str, str]) -> Any:
        raw = base64.b64decode(sealed["ciphertext"])
        return json.loads(self.aead.decrypt(raw[:12], raw[12:], None))


def digest(inputs: dict[str, Any], ignore: list[str]) -> str:
    """A hash of the inputs the engine would diff (ignore_changes left out)."""
    kept = {k: v for k, v in unwrap(inputs).items() if k not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


class LabState:
    """What the lab created, by URN; saved after every change (like a checkpoint)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vault = Vault(path.parent / "secrets.key")
        self.lock = threading.Lock()
        self.resources: dict[str, dict[str, Any]] = {}
        self.hosts: dict[str, int] = {}  # instance name -> host number
        if path.exists():
            data = json.loads(path.read_text())
            self.resources = data.get("resources", {})
            self.hosts = data.get("hosts", {})

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"resources": self.resources, "hosts": self.hosts}, indent=1, sort_keys=True))
            tmp.replace(self.path)

    def put(self, reg: Registration, id_: str, outputs: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        sealed = {}
        plain = {}
        for k, v in outputs.items():
            if is_secret(v):
                sealed[k] = self.vault.seal(unwrap(v))
            else:
                plain[k] = v
        # Delete-time needs: the delete text and connection (key sealed), never create inputs.
        inputs = {}
        for k in ("delete", "connection", "environment", "interpreter", "name"):
            if k in reg.inputs:
                v = reg.inputs[k]
                inputs[k] = {"sealed": self.vault.seal(unwrap(v))} if (k == "connection" or is_secret(v)) else v
        with self.lock:
            self.resources[reg.urn] = {
                "type": reg.type,
                "name": reg.name,
                "id": id_,
                "digest": digest(reg.inputs, reg.ignore_changes),
                "triggers": digest({"t": reg.inputs.get("triggers")}, []),
                "dependencies": sorted(
                    set(reg.dependencies) | {u for us in reg.property_dependencies.values() for u in us}
                ),
                "outputs": plain,
                "secret_outputs": sealed,
                "delete_inputs": inputs,
                **(extra or {}),
            }
        self.save()

    def outputs_of(self, urn: str) -> dict[str, Any]:
        rec = self.resources[urn]
        out = dict(rec["outputs"])
        for k, v in rec["secret_outputs"].items():
            out[k] = secret(self.vault.open(v))
        return out

    def delete_input(self, rec: dict[str, Any], key: str) -> Any:
        v = rec["delete_inputs"].get(key)
        if isinstance(v, dict) and "sealed" in v:
            return self.vault.open(v["sealed"])
        return v


class Log:
    """The lab's log: one line per action; never a secret (only stderr of commands)."""

    def __init__(self, path: Path, echo: bool = True) -> None:
        self.path = path
        self.echo = echo
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, msg: str) -> None:
        line = f"[{time.monotonic() - self.t0:6.1f}s] {msg}"
        with self.lock:
            with self.path.open("a") as f:
                f.write(line + "\n")
            if self.echo:
                print(line, flush=True)


class LabMocks(pmocks.Mocks):
    def __init__(self, backend: Backend, state: LabState, log: Log, replay: bool = False) -> None:
        self.backend = backend
        self.state = state
        self.log = log
        self.replay = replay
        self.monitor: RecordingMonitor | None = None
        self.lock = threading.Lock()
        self.key_pairs: dict[str, str] = {}
        self.providers: dict[str, dict[str, Any]] = {}  # provider URN -> inputs
        self.docker_ids: dict[str, str] = {}  # docker Network resource id -> real id
        self.registered: set[str] = set()
        self.stats = {"ran": 0, "unchanged": 0, "replaced": 0}

    # --- invokes -------------------------------------------------------------
    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ZONES, "zoneIds": ZONES}, []
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-lab", "name": "lab"}, []
        if args.token == "aws:ec2/getInstanceType:getInstanceType":
            return {"supportedArchitectures": ["x86_64"]}, []
        return {}, []

    # --- resources -----------------------------------------------------------
    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        reg: Registration = self.monitor.current.registration  # type: ignore[union-attr]
        with self.lock:
            self.registered.add(reg.urn)
        handler = {
            "aws:ec2/keyPair:KeyPair": self._key_pair,
            "aws:ec2/instance:Instance": self._instance,
            "command:remote:Command": self._command,
            "command:local:Command": self._command,
            "pulumi:providers:docker": self._provider,
            "tls:index/privateKey:PrivateKey": self._private_key,
            "docker:index/network:Network": self._docker,
            "docker:index/service:Service": self._docker,
        }.get(args.typ)
        if handler is None:
            return f"{args.name}-lab", dict(args.inputs)
        return handler(reg)

    def _unchanged(self, reg: Registration) -> dict[str, Any] | None:
        prev = self.state.resources.get(reg.urn)
        if prev is None or prev["digest"] != digest(reg.inputs, reg.ignore_changes):
            return None
        if self.replay and reg.type.startswith("command:"):
            return None  # replay runs every command again; keys and instances stay
        return prev

    def _key_pair(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        name = reg.inputs.get("keyName") or reg.name
        with self.lock:
            self.key_pairs[name] = unwrap(reg.inputs["publicKey"])
        return name, {**reg.inputs, "keyName": name}

    def _private_key(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        """As the tls provider: a new key, kept in the state (sealed) from then on."""
        prev = self._unchanged(reg)
        if prev is not None:
            return prev["id"], self.state.outputs_of(reg.urn)
        if reg.inputs.get("algorithm") != "ED25519":
            raise RuntimeError(f"{reg.name}: the lab makes ED25519 keys only")
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
        public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + "\n"
        outputs = {**reg.inputs, "publicKeyOpenssh": public, "privateKeyOpenssh": secret(private)}
        id_ = hashlib.sha1(public.encode()).hexdigest()
        self.state.put(reg, id_, outputs)
        return id_, outputs

    def _instance(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        prev = self._unchanged(reg)
        with self.lock:  # only the choice of host is serial; launches run in parallel
            k = self.state.hosts.get(reg.name)
            if k is None:
                k = self.backend.allocate({v for n, v in self.state.hosts.items() if n != reg.name})
                self.state.hosts[reg.name] = k
        if prev is not None:
            host = self.backend.host(k)  # unchanged: the instance runs already
        else:
            key = self.key_pairs[reg.inputs["keyName"]]
            host = self.backend.launch(reg.name, k, unwrap(reg.inputs["userData"]), key)
            self.log(f"instance {reg.name} -> {host.name} ({host.ip}): launched with its user data and key")
        outputs = {**reg.inputs, "publicIp": host.ip, "privateIp": host.ip, "privateDns": host.name}
        id_ = f"i-lab-{host.name}"
        self.state.put(reg, id_, outputs, {"host": host.k})
        return id_, outputs

    def _command(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        prev = self._unchanged(reg)
        if prev is not None:
            with self.lock:
                self.stats["unchanged"] += 1
            return prev["id"], self.state.outputs_of(reg.urn)
        old = self.state.resources.get(reg.urn)
        replacing = old is not None and old["triggers"] != digest({"t": reg.inputs.get("triggers")}, [])
        inputs = unwrap(reg.inputs)
        deadline = time.monotonic() + _seconds(reg.custom_timeouts.get("create", "20m"))
        where = inputs["connection"]["host"] if reg.type == "command:remote:Command" else "local"
        if inputs.get("create") is None:
            # No create: pulumi-command records the resource (for its delete) and runs nothing.
            outputs = {**reg.inputs, "stdout": "", "stderr": ""}
            id_ = f"cmd-{hashlib.sha1(reg.urn.encode()).hexdigest()[:12]}"
            self.state.put(reg, id_, outputs)
            return id_, outputs
        self.log(f"run  {reg.name} on {where}")
        try:
            if reg.type == "command:remote:Command":
                res = run_remote(
                    inputs["connection"], inputs["create"], inputs.get("stdin"), inputs.get("environment"), deadline
                )
            else:
                res = run_local(_local(inputs), inputs.get("stdin"), inputs.get("environment"), deadline)
        except CommandFailed as exc:
            self.log(f"FAIL {reg.name}: {exc}")
            raise
        for line in res.stderr.strip().splitlines():
            self.log(f"     {reg.name}: {line}")
        outputs: dict[str, Any] = {**reg.inputs, "stdout": res.stdout, "stderr": res.stderr}
        for key in {"stdout", "stderr"} & set(reg.additional_secret_outputs):
            outputs[key] = secret(outputs[key])
        if replacing and old and old["delete_inputs"].get("delete"):
            self._delete(reg.urn, old)  # create-before-delete, as the engine replaces
        with self.lock:
            self.stats["replaced" if replacing else "ran"] += 1
        id_ = f"cmd-{hashlib.sha1(reg.urn.encode()).hexdigest()[:12]}"
        self.state.put(reg, id_, outputs)
        return id_, outputs

    def _provider(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        inputs = unwrap(reg.inputs)
        with self.lock:
            self.providers[reg.urn] = inputs
        self.state.put(reg, "docker-provider", dict(reg.inputs), {"provider_inputs": inputs})
        return "docker-provider", dict(reg.inputs)

    def _docker(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        prev = self._unchanged(reg)
        if prev is not None:
            return prev["id"], self.state.outputs_of(reg.urn)
        provider = self._provider_for(reg)
        client = dockerapi.client_for(provider, LAB_STATE)
        inputs = unwrap(reg.inputs)
        try:
            if reg.type == "docker:index/network:Network":
                id_ = dockerapi.ensure_network(client, inputs)
                self.log(f"network {inputs['name']} ({id_[:12]}) on {provider['host']}")
            else:
                t0 = time.monotonic()
                id_ = dockerapi.ensure_service(client, inputs)
                self.log(f"service {inputs['name']} ({id_[:12]}) converged in {time.monotonic() - t0:.1f}s")
        finally:
            client.close()
        self.state.put(reg, id_, dict(reg.inputs), {"provider_inputs": provider})
        return id_, dict(reg.inputs)

    def _provider_for(self, reg: Registration) -> dict[str, Any]:
        urn = reg.provider.rsplit("::", 1)[0]  # "<urn>::<id>"
        return self.providers[urn]

    # --- deletes -------------------------------------------------------------
    def _delete(self, urn: str, rec: dict[str, Any]) -> None:
        t = rec["type"]
        try:
            if t in ("command:remote:Command", "command:local:Command"):
                text = self.state.delete_input(rec, "delete")
                if text:
                    self.log(f"del  {rec['name']}")
                    deadline = time.monotonic() + 600
                    env = self.state.delete_input(rec, "environment")
                    if t == "command:remote:Command":
                        res = run_remote(self.state.delete_input(rec, "connection"), text, None, env, deadline)
                    else:
                        res = run_local(
                            _local({"create": text, "interpreter": rec["delete_inputs"].get("interpreter")}),
                            None,
                            env,
                            deadline,
                        )
                    for line in res.stderr.strip().splitlines():
                        self.log(f"     {rec['name']}: {line}")
            elif t in ("docker:index/service:Service", "docker:index/network:Network"):
                client = dockerapi.client_for(rec["provider_inputs"], LAB_STATE)
                try:
                    dockerapi.remove(client, "service" if t.endswith("Service") else "network", rec["id"])
                finally:
                    client.close()
                self.log(f"del  {rec['name']} ({t.split(':')[-1]})")
            elif t == "aws:ec2/instance:Instance":
                self.backend.terminate(rec["name"], rec["host"])
                with self.lock:
                    self.state.hosts = {n: k for n, k in self.state.hosts.items() if n != rec["name"]}
                self.log(f"del  {rec['name']} (instance terminated)")
        except CommandFailed as exc:
            self.log(f"FAIL delete {rec['name']}: {exc}")
            raise

    def delete_vanished(self) -> list[str]:
        """Delete, dependents first, every resource the program no longer registers."""
        gone = {u: r for u, r in self.state.resources.items() if u not in self.registered}
        done: list[str] = []
        while gone:
            # A resource can go once nothing else still in `gone` depends on it.
            ready = [u for u in gone if not any(u in r["dependencies"] for v, r in gone.items() if v != u)]
            if not ready:
                ready = list(gone)
            for u in sorted(ready):
                self._delete(u, gone[u])
                with self.state.lock:
                    self.state.resources.pop(u, None)
                self.state.save()
                done.append(gone.pop(u)["name"])
        return done


def _seconds(text: str) -> float:
    return (dockerapi.duration_ns(text) or 0) / 1e9 or 1200.0


def _local(inputs: dict[str, Any]) -> str:
    interp = inputs.get("interpreter") or ["/bin/sh", "-c"]
    if list(interp)[:1] == ["/bin/bash"]:
        return "exec /bin/bash -c " + _shquote(inputs["create"])
    return inputs["create"]


def _shquote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def check_user_data(text: str, host: Host) -> None:
    """The instance's user data must be valid cloud-config (cloud-init's own schema)."""
    if not shutil.which("cloud-init"):
        raise RuntimeError("cloud-init is not installed: run lab/hosts.sh install")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        res = subprocess.run(["cloud-init", "schema", "--config-file", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if res.returncode != 0:
        raise RuntimeError(f"user data for {host.name} is not valid cloud-config: {res.stdout}{res.stderr}")


def apply_ssh_keys(user_data: str, host: Host) -> None:
    """The one part of the user data the namespace lab carries out: `ssh_keys`, which
    cloud-init's ssh module installs as the host's keys. With pinned host keys the
    program accepts no other key, so the host must present the one it generated."""
    doc = yaml.safe_load(user_data) or {}
    private = (doc.get("ssh_keys") or {}).get("ed25519_private")
    if not private:
        return
    fd, path = tempfile.mkstemp(prefix="hostkey-", dir=host.dir)
    try:
        os.write(fd, private.encode())
        os.close(fd)
        subprocess.run(
            [str(ROOT / "lab" / "hosts.sh"), "set-host-key", str(host.k), path], check=True, capture_output=True
        )
    finally:
        os.unlink(path)


def stack_config(path: Path, overrides: dict[str, str]) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())["config"]
    cfg: dict[str, Any] = {}
    for k, v in data.items():
        key = k.split(":", 1)[1] if k.startswith(PROJECT + ":") else k
        cfg[key] = v
    cfg.update(overrides)
    return cfg


def lab_key(state_dir: Path = LAB_STATE) -> tuple[str, str]:
    """The lab's SSH key pair (made once): the stack's sshPublicKey / sshPrivateKey."""
    key = state_dir / "lab_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarm-lab", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip(), key.read_text()


@dataclass
class Outcome:
    exports: dict[str, Any]
    deleted: list[str]
    stats: dict[str, int]
    seconds: float
    registrations: list[Registration]


def up(
    overrides: dict[str, str] | None = None,
    replay: bool = False,
    stack: str = "lab",
    echo: bool = True,
    backend: Backend | None = None,
) -> Outcome:
    """One `pulumi up` of stack STACK (Pulumi.STACK.yaml) on the lab's hosts."""
    backend = backend or NamespaceBackend()
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    state_dir = backend.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    log = Log(state_dir / "engine.log", echo)
    if not (state_dir / "stack.json").exists():
        # A new stack: the deployer-side files of an old one (known_hosts of hosts that
        # have since been re-created with new host keys) would make ssh refuse them.
        shutil.rmtree(ROOT / ".ssh" / stack, ignore_errors=True)
    state = LabState(state_dir / "stack.json")
    pub, priv = lab_key(state_dir)
    cfg = stack_config(stack_file, overrides or {})
    cfg.update(sshPublicKey=pub, sshPrivateKey=priv)
    overrides = dict(overrides or {})
    if os.environ.get("LAB_MESH") == "auto" and Path("/proc/net/ip_vs").exists() and "smokeTestMode" not in overrides:
        # A kernel with IP_VS (e.g. GitHub's runners): check the routing mesh for real.
        cfg["smokeTestMode"] = overrides["smokeTestMode"] = "mesh"
    mocks = LabMocks(backend, state, log, replay)
    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    t0 = time.monotonic()
    given = ", ".join(f"{k}={v}" for k, v in sorted((overrides or {}).items())) or f"as in {stack_file.name}"
    log(f"up: stack {stack}, config {given}{' (replay)' if replay else ''}")
    run = run_program(mocks, cfg, stack=stack, secret_keys=("sshPrivateKey",), monitor=mon)
    deleted = mocks.delete_vanished()
    seconds = time.monotonic() - t0
    log(f"up: done in {seconds:.1f}s: {mocks.stats}, deleted {deleted}")
    return Outcome(run.exports, deleted, mocks.stats, seconds, mon.registrations)


def destroy(echo: bool = True, backend: Backend | None = None) -> list[str]:
    """`pulumi destroy`: every delete, dependents first."""
    backend = backend or NamespaceBackend()
    state = LabState(backend.state_dir / "stack.json")
    if not state.resources:
        return []
    log = Log(backend.state_dir / "engine.log", echo)
    mocks = LabMocks(backend, state, log)
    # The provider inputs recorded with each docker resource let deletes reach the engine.
    deleted = mocks.delete_vanished()
    log(f"destroy: deleted {len(deleted)} resources")
    return deleted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lab.engine", description=(__doc__ or "").split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="run the program against the lab hosts")
    p_up.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a stack config key")
    p_up.add_argument("--replay", action="store_true", help="run every command again (idempotence check)")
    sub.add_parser("destroy", help="run every delete, dependents first")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            overrides = dict(kv.split("=", 1) for kv in args.set)
            out = up(overrides, replay=args.replay)
            print(json.dumps({k: v for k, v in out.exports.items() if k != "privateKey"}, indent=2))
        else:
            destroy()
    except Exception as exc:
        print(f"lab.engine {args.cmd}: failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

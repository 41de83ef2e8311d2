"""The VM lab: the program's own user data run by cloud-init on real VMs, and the
routing mesh observed on every node.  `python -m lab.vm up|down|status`.

up:   host tools -> guest image (cached) -> local apt repo -> bridge, repo server and
      registry -> test image pushed -> lab.engine.up(stack="vmlab", backend=VmBackend)
      -> a mesh check of its own from this machine -> a summary with the time of each
      phase and the host's memory peak.  The VMs stay up until `down`.
down: every qemu and server stopped by PID; taps, bridge, disks, seeds and state
      removed (the cached base image is kept).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from components.userdata import UserData, render_user_data  # noqa: E402
from lab import engine  # noqa: E402
from lab.engine import events as engine_events_mod  # noqa: E402
from lab.providers.command import CommandFailed, run_remote  # noqa: E402
from lab.vm.backend import HOST_SH, VM_STATE, VmBackend, qemu_pid, user_data_packages, vm_ip  # noqa: E402
from lab.vm.registry import push_test_image  # noqa: E402

STACK = "vmlab"
STACK_FILE = ROOT / f"Pulumi.{STACK}.yaml"
CACHE = Path(os.environ.get("VMLAB_CACHE", "/var/cache/swarm-vmlab"))
MESH_TRIES = 4
KNOBS = ("VMLAB_ACCEL", "VMLAB_CPU", "VMLAB_KERNEL_ARGS", "VMLAB_SMP", "VMLAB_MEM")  # lab/vm/host.sh's


def host_sh(*args: str, echo: bool = True) -> tuple[str, str]:
    """Run lab/vm/host.sh; its progress (stderr) is shown as it comes. (stdout, stderr)"""
    proc = subprocess.Popen([str(HOST_SH), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line)
            if echo:
                print(f"  vm/host.sh {args[0]}: {line.rstrip()}", flush=True)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    out = proc.stdout.read() if proc.stdout else ""
    rc = proc.wait()
    t.join()
    if rc != 0:
        raise RuntimeError(f"lab/vm/host.sh {' '.join(args)} failed (exit {rc}): {''.join(err_lines[-5:]).strip()}")
    return out, "".join(err_lines)


def stack_config() -> dict[str, Any]:
    return engine.stack_config(STACK_FILE, {})


def program_packages(cfg: dict[str, Any]) -> list[str]:
    """What the program's user data installs (rendered by the program's own code)."""
    regs = tuple(cfg.get("dockerInsecureRegistries") or ())
    return user_data_packages(render_user_data(UserData("vmlab-node", str(cfg.get("sshUser", "debian")), regs)))


class MemSampler(threading.Thread):
    """Host memory in use (MemTotal - MemAvailable) and the qemu processes' RSS, every second."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(name="mem-sampler", daemon=True)
        self.state_dir = state_dir
        self.baseline = self.used()
        self.peak_used = self.baseline
        self.peak_qemu = 0
        self.halt = threading.Event()

    @staticmethod
    def used() -> int:
        info = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0]) * 1024
        return info["MemTotal"] - info["MemAvailable"]

    def qemu_rss(self) -> int:
        total = 0
        for d in self.state_dir.glob("vm*"):
            pid = qemu_pid(self.state_dir, int(d.name[2:])) if d.name[2:].isdigit() else None
            if pid is None:
                continue
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def run(self) -> None:
        while not self.halt.wait(1.0):
            self.peak_used = max(self.peak_used, self.used())
            self.peak_qemu = max(self.peak_qemu, self.qemu_rss())


@dataclass
class Phase:
    name: str
    seconds: float
    note: str = ""


@dataclass
class Result:
    ok: bool = False
    phases: list[Phase] = field(default_factory=list)
    vms: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    service: str = ""
    replica_nodes: list[str] = field(default_factory=list)
    mesh: dict[str, list[str]] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    cpu_reference: float = 0.0  # this machine's speed before the run (bench.__main__.cpu_reference)
    error: str = ""
    guests: dict[str, Any] = field(default_factory=dict)  # VM name -> lab/vm/guest_timings.py's report


def engine_events(state_dir: Path, t_engine: float) -> list[tuple[float, str]]:
    """The engine's structured events (lab/engine/events.py) since T_ENGINE (wall clock),
    each as (wall time, a line to match): "output <name>: <line>", "done <type>",
    "phase <name>"."""
    out = []
    for e in engine_events_mod.read(state_dir):
        if e["wall"] < t_engine:
            continue
        if e["kind"] == "output":
            out.append((e["wall"], f"output {e['name']}: {e['line']}"))
        elif e["kind"] == "step" and e.get("phase") == "done":
            out.append((e["wall"], f"done {e['type']}"))
        elif e["kind"] == "phase":
            out.append((e["wall"], f"phase {e['phase']}"))
    return out


def first(events: list[tuple[float, str]], rx: str) -> float | None:
    pat = re.compile(rx)
    return next((t for t, msg in events if pat.search(msg)), None)


def ssh_manager(ip: str, user: str, key: str, command: str) -> str:
    conn = {"host": ip, "user": user, "privateKey": key, "dialErrorLimit": 3, "perDialTimeout": 15}
    return run_remote(conn, command, None, None, time.monotonic() + 60).stdout


def http_get(ip: str, port: int) -> str:
    """One GET /; http.client, so that no proxy from the environment is involved."""
    try:
        conn = http.client.HTTPConnection(ip, port, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        conn.close()
        return body if resp.status == 200 else f"no answer (HTTP {resp.status})"
    except OSError as exc:
        return f"no answer ({exc})"


def mesh_check(ips: list[str], port: int, tries: int = MESH_TRIES) -> dict[str, list[str]]:
    return {ip: [http_get(ip, port) for _ in range(tries)] for ip in ips}


def _phases(res: Result, backend: VmBackend, events: list[tuple[float, str]], t_engine: float) -> float:
    """Engine-side phases, wall clock, each from the end of the previous one."""
    vms = []
    for k, launched in sorted(backend.launched.items()):
        w = backend.watches.get(k)
        name = backend.names.get(k, f"vm{k}")
        short = re.escape(name.split("-", 1)[1] if "-" in name else name)
        gate = first(events, rf"^output \S+-ready-{short}: cloud-init: ")
        vms.append(
            {
                "k": k,
                "name": name,
                "ip": vm_ip(k),
                "launched": launched - t_engine,
                "sshd": (w.seen["sshd"] - t_engine) if w and "sshd" in w.seen else None,
                "cloud_init": (w.seen["cloud-init"] - t_engine) if w and "cloud-init" in w.seen else None,
                "gate": (gate - t_engine) if gate else None,
            }
        )
    res.vms = vms
    t = t_engine

    def seg(name: str, end: float | None, note: str = "") -> None:
        nonlocal t
        if end is None:
            res.phases.append(Phase(name, float("nan"), note or "not seen"))
            return
        res.phases.append(Phase(name, end - t, note))
        t = end

    def latest(key: str) -> float | None:
        vals = [v[key] for v in vms if v[key] is not None]
        return t_engine + max(vals) if vals and len(vals) == len(vms) else None

    seg("boot", latest("sshd"), "program start + VM launch -> sshd started (slowest VM, serial console)")
    seg("cloud-init", latest("cloud_init"), "-> cloud-init finished the user data (slowest VM, console)")
    seg("readiness gates", latest("gate"), "-> every node-ready.sh returned (one SSH login each)")
    seg(
        "swarm",
        first(events, r"^done docker:index/network:Network$"),
        "-> init, joins, labels, token rotation (overlay network created)",
    )
    seg("service", first(events, r"^done docker:index/service:Service$"), "-> service created and 2/2 running")
    seg("smoke test (mesh)", first(events, r"^phase done$"), "-> program's swarm-smoke.sh, MODE=mesh")
    return t


def up(echo: bool = True) -> Result:
    """Everything from nothing to the mesh checked; the VMs stay up (`down` ends them)."""
    res = Result()
    from bench.cpu import cpu_reference

    res.cpu_reference = cpu_reference()
    t_start = time.time()
    mem = MemSampler(VM_STATE)
    mem.start()

    def timed(name: str, fn: Any, note: str = "") -> Any:
        t = time.time()
        out = fn()
        res.phases.append(Phase(name, time.time() - t, note))
        return out

    cfg = stack_config()
    backend = VmBackend(VM_STATE)
    t_engine = time.time()
    t_done: float | None = None
    try:
        timed("host tools", lambda: host_sh("install", echo=echo), "apt: qemu, mmdebstrap, genisoimage, ...")
        _, err = timed("image", lambda: host_sh("image", echo=echo))
        res.phases[-1].note = "cached" if "image: cached" in err else "built with mmdebstrap"
        pkgs = program_packages(cfg)
        timed("apt repo", lambda: host_sh("repo", *pkgs, echo=echo), f"for the user data's {' '.join(pkgs)}")
        timed("network + servers", lambda: (host_sh("net", echo=echo), host_sh("serve", echo=echo)))
        image = str(cfg["serviceImage"])
        digest = timed("test image", lambda: push_test_image(image), f"pushed {image}")
        if echo:
            print(f"  test image {image} pushed ({digest[:19]})", flush=True)
        backend.repo_packages = set(pkgs)
        t_engine = time.time()
        out = engine.up(stack=STACK, backend=backend, echo=echo, state_dir=VM_STATE)
        res.exports = {k: v for k, v in out.exports.items() if k not in ("privateKey", "unlockKey")}
        events = engine_events(VM_STATE, t_engine)
        t_mesh = _phases(res, backend, events, t_engine)
        _inspect(res, cfg)
        res.phases.append(Phase("mesh check from host", time.time() - t_mesh, "curl every VM's published port"))
        res.ok = bool(res.mesh) and all(not a.startswith("no answer") for ans in res.mesh.values() for a in ans)
        if not res.ok:
            res.error = "the routing mesh did not answer on every node"
        t_done = time.time()
        res.guests = guest_timings(res, cfg)  # after the clock stops: not part of the total
    except Exception as exc:
        res.error = f"{type(exc).__name__}: {exc}"
        if not res.vms and backend.launched:
            _phases(res, backend, engine_events(VM_STATE, t_engine), t_engine)
    finally:
        mem.halt.set()
        mem.join()
        for w in backend.watches.values():
            w.stop.set()
        res.total = (t_done or time.time()) - t_start
        res.memory = {
            "baseline_gib": mem.baseline / 2**30,
            "peak_gib": mem.peak_used / 2**30,
            "qemu_rss_peak_gib": mem.peak_qemu / 2**30,
        }
        _record(res)
    return res


def _inspect(res: Result, cfg: dict[str, Any]) -> None:
    """Nodes, service and replicas as the manager sees them; then the mesh, from here."""
    user = str(cfg.get("sshUser", "debian"))
    key = (VM_STATE / "lab_ed25519").read_text()
    mgr = str(res.exports.get("managerPublicIp") or vm_ip(1))
    name = str(cfg.get("serviceName", "testapp"))
    port = int(cfg.get("servicePublishedPort", 5001))
    try:
        res.nodes = ssh_manager(
            mgr, user, key, "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'"
        ).splitlines()
        fmt = "'{{.Name}} {{.Replicas}} {{.Ports}}'"
        res.service = ssh_manager(mgr, user, key, f"docker service ls --filter name={name} --format {fmt}").strip()
        res.replica_nodes = sorted(
            ssh_manager(
                mgr, user, key, f"docker service ps {name} --filter desired-state=running --format '{{{{.Node}}}}'"
            ).split()
        )
    except CommandFailed as exc:
        res.error = f"manager {mgr}: {exc}"
    res.mesh = mesh_check([v["ip"] for v in res.vms] or [vm_ip(k) for k in (1, 2, 3)], port)


GUEST_TIMINGS = Path(__file__).resolve().parent / "guest_timings.py"


def guest_timings(res: Result, cfg: dict[str, Any]) -> dict[str, Any]:
    """Each VM's own record of its boot, cloud-init and apt time (lab/vm/guest_timings.py),
    asked of all VMs at once. A VM that cannot say is reported with the reason."""
    user, key = str(cfg.get("sshUser", "debian")), (VM_STATE / "lab_ed25519").read_text()
    found: dict[str, Any] = {}

    def ask(vm: dict[str, Any]) -> None:
        conn = {"host": vm["ip"], "user": user, "privateKey": key, "dialErrorLimit": 3, "perDialTimeout": 15}
        try:
            out = run_remote(conn, "python3 -", GUEST_TIMINGS.read_text(), None, time.monotonic() + 60).stdout
            found[vm["name"]] = json.loads(out.strip().splitlines()[-1])
        except Exception as exc:  # a measurement: its failure is reported, never fails the run
            found[vm["name"]] = {"error": f"{type(exc).__name__}: {exc}"}

    threads = [threading.Thread(target=ask, args=(vm,), daemon=True) for vm in res.vms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return found


def _fmt(s: float | None) -> str:
    return "-" if s is None or s != s else f"{s:6.1f}s"


def render(res: Result) -> str:
    out = ["", "== VM lab summary (stack vmlab: Debian bookworm VMs under QEMU/TCG, cloud-init, docker.io) =="]
    out.append("Phases:")
    for p in res.phases:
        out.append(f"  {p.name:<22} {_fmt(p.seconds)}  {p.note}")
    out.append(f"  {'total':<22} {_fmt(res.total)}")
    if res.vms:
        out.append("VMs (seconds after the program started):  launched  sshd  cloud-init done  gate done")
        for v in res.vms:
            out.append(
                f"  vm{v['k']} {v['ip']:<11} {v['name']:<18} {_fmt(v['launched'])} {_fmt(v['sshd'])} "
                f"{_fmt(v['cloud_init'])} {_fmt(v['gate'])}"
            )
    if res.nodes:
        out.append("Nodes (docker node ls on the manager):")
        out += [f"  {n}" for n in res.nodes]
    if res.service:
        out.append(f"Service: {res.service}; replicas on: {', '.join(res.replica_nodes)}")
    if res.exports.get("smokeTest"):
        out.append(f"Program's smoke test: {res.exports['smokeTest'].strip()}")
    if res.mesh:
        out.append("Routing mesh, asked from this machine (GET / on each VM's published port):")
        names = {v["ip"]: v["name"] for v in res.vms}
        for ip, answers in res.mesh.items():
            runs = " (runs a replica)" if names.get(ip) in res.replica_nodes else " (runs NO replica)"
            out.append(f"  {ip} {names.get(ip, '')}{runs if res.replica_nodes else ''}: {', '.join(answers)}")
    m = res.memory
    if m:
        out.append(
            f"Host memory: {m['baseline_gib']:.2f} GiB in use before, peak {m['peak_gib']:.2f} GiB "
            f"(+{m['peak_gib'] - m['baseline_gib']:.2f}); qemu RSS peak {m['qemu_rss_peak_gib']:.2f} GiB"
        )
    out.append(f"Result: {'mesh verified on all nodes' if res.ok else 'FAILED: ' + res.error}")
    out.append("The VMs stay up: `make vm-lab-down` (python -m lab.vm down) stops them.")
    return "\n".join(out)


def recipe_hash() -> str:
    """What a run's timings depend on: the user data and the scripts the program sends
    (scripts/), the program itself (its steps and their order), what runs it (the lab's
    engine and its provider models, with their waits: lab/engine, lab/providers,
    harness/), and the VM lab's own code (lab/vm, its backend). Not the namespace lab's."""
    h = hashlib.sha256()
    files = [
        *sorted((ROOT / "scripts").iterdir()),
        ROOT / "__main__.py",
        *sorted((ROOT / "components").rglob("*.py")),
        *sorted((ROOT / "harness").glob("*.py")),
        *(f for d in ("engine", "providers", "vm") for f in sorted((ROOT / "lab" / d).iterdir())),
        ROOT / "lab" / "backends" / "__init__.py",
        ROOT / "lab" / "backends" / "vm.py",
    ]
    for f in files:
        if f.is_file():
            # Python by its syntax tree: a comment or a reformat is the same recipe.
            body = ast.dump(ast.parse(f.read_text())).encode() if f.suffix == ".py" else f.read_bytes()
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + body)
    return h.hexdigest()[:12]


def _record(res: Result) -> None:
    """timings.json in the state, and one line per run in the cache (for `make bench`)."""
    data = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "recipe": recipe_hash(),
        # lab/vm/host.sh's knobs, as this run had them (the bench compares runs by them)
        "settings": {k: os.environ.get(k, "") for k in KNOBS} | {"nice": os.nice(0)},
        "cpu_reference_s": round(res.cpu_reference, 2),
        "ok": res.ok,
        "error": res.error,
        "total_s": round(res.total, 1),
        "phases": [{"name": p.name, "seconds": round(p.seconds, 1), "note": p.note} for p in res.phases],
        "vms": res.vms,
        "memory": {k: round(v, 3) for k, v in res.memory.items()},
        "guests": res.guests,
    }
    try:
        if VM_STATE.exists():
            (VM_STATE / "timings.json").write_text(json.dumps(data, indent=1))
        CACHE.mkdir(parents=True, exist_ok=True)
        with (CACHE / "runs.jsonl").open("a") as f:
            f.write(json.dumps(data) + "\n")
    except OSError:
        pass


def down(echo: bool = True) -> None:
    host_sh("down", echo=echo)
    shutil.rmtree(ROOT / ".ssh" / STACK, ignore_errors=True)


def leftovers() -> list[str]:
    """What of the VM lab still exists on this machine (empty after `down`)."""
    found = []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            comm = (p / "comm").read_text().strip()
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if comm == "qemu-system-x86" and "swv-vm" in cmd:
            found.append(f"qemu pid {p.name}")
        elif str(VM_STATE) in cmd and comm in ("python3", "docker-registry"):
            found.append(f"{comm} pid {p.name}")
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [f"link {m}" for m in re.findall(r"^\d+: (swv-[a-z0-9]+)[@:]", links, re.M)]
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    found += [f"listener {m}" for m in re.findall(r"(10\.78\.0\.1:\d+)", listening)]
    if VM_STATE.exists():
        found.append(f"state {VM_STATE}")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lab.vm", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("cmd", choices=["up", "down", "status", "roll"])
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("lab.vm: must run as root (bridge, taps, qemu, apt)", file=sys.stderr)
        return 1
    if args.cmd == "down":
        down()
        left = leftovers()
        if left:
            print(f"lab.vm down: left behind: {', '.join(left)}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "roll":
        from lab.vm.roll import main as roll

        return roll()
    if args.cmd == "status":
        print(host_sh("status", echo=False)[0], end="")
        return 0
    res = up()
    print(render(res))
    return 0 if res.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

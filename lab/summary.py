"""What the lab's swarm looks like now: nodes, the service, each task's answer.

Read through each host's Docker socket from this machine (not through the
program), so it is an independent check of what the program built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.engine import LAB_STATE, LabState, discover_hosts  # noqa: E402


def socket_client(k: int) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix:///run/swl-n{k}/docker.sock", timeout=30)


def has_ipvs() -> bool:
    return Path("/proc/net/ip_vs").exists()


@dataclass
class Summary:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    service: dict[str, Any] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    mesh: dict[str, str] = field(default_factory=dict)
    mesh_checked: bool = False


def manager_host() -> int:
    state = LabState(LAB_STATE / "stack.json")
    names = sorted(n for n in state.hosts if "-manager-" in n)
    if not names:
        raise RuntimeError("the lab stack has no manager: run `make lab` first")
    return state.hosts[names[0]]


def collect(service_name: str = "testapp", network: str | None = None, published_port: int = 5001) -> Summary:
    s = Summary()
    mgr = socket_client(manager_host())
    try:
        for n in mgr.nodes.list():
            a = n.attrs
            s.nodes.append(
                {
                    "id": a["ID"][:12],
                    "hostname": a["Description"]["Hostname"],
                    "addr": a["Status"].get("Addr"),
                    "role": a["Spec"]["Role"],
                    "state": a["Status"]["State"],
                    "availability": a["Spec"]["Availability"],
                    "manager": ((a.get("ManagerStatus") or {}).get("Leader") and "Leader")
                    or (a.get("ManagerStatus") or {}).get("Reachability", ""),
                    "labels": a["Spec"].get("Labels", {}),
                }
            )
        svcs = [x for x in mgr.api.services(filters={"name": service_name}) if x["Spec"]["Name"] == service_name]
        if not svcs:
            return s
        svc = svcs[0]
        tasks = mgr.api.tasks(filters={"service": svc["ID"], "desired-state": "running"})
        ports = svc["Spec"].get("EndpointSpec", {}).get("Ports", [])
        s.service = {
            "name": service_name,
            "image": svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
            "desired": svc["Spec"]["Mode"].get("Replicated", {}).get("Replicas"),
            "running": sum(1 for t in tasks if t["Status"]["State"] == "running"),
            "ports": [f"*:{p['PublishedPort']}->{p['TargetPort']}/{p['Protocol']} ({p['PublishMode']})" for p in ports],
            "placement": svc["Spec"]["TaskTemplate"].get("Placement", {}).get("Preferences", []),
        }
        net_name = network or f"{service_name}-net"
        hostname_of = {n.id: n.attrs["Description"]["Hostname"] for n in mgr.nodes.list()}
        for t in tasks:
            ip = None
            for att in t.get("NetworksAttachments", []):
                if att["Network"]["Spec"]["Name"] == net_name and att.get("Addresses"):
                    ip = att["Addresses"][0].split("/")[0]
            s.tasks.append(
                {
                    "task": t["ID"][:12],
                    "node": hostname_of.get(t["NodeID"], t["NodeID"][:12]),
                    "state": t["Status"]["State"],
                    "container": (t["Status"].get("ContainerStatus") or {}).get("ContainerID", "")[:12],
                    "ip": ip,
                }
            )
        target = ports[0]["TargetPort"] if ports else 5000
        _ask_each_task(s.tasks, target)
        if has_ipvs():
            s.mesh_checked = True
            for h in discover_hosts(LAB_STATE):
                s.mesh[h.ip] = _curl(f"http://{h.ip}:{published_port}/")
    finally:
        mgr.close()
    return s


def answering(s: Summary) -> bool:
    """Every task of the service listed and answering, with the page that names its container."""
    return bool(s.tasks) and all(t.get("answer", "").startswith(t["container"][:12]) for t in s.tasks)


def settled(nodes_within_s: float = 30.0, tasks_within_s: float = 60.0) -> tuple[Summary, float]:
    """collect() once a second until every node is Ready and every task answers, or the
    time for what is missing has passed; the last summary and the seconds waited. The
    waits are the program's own: a new leader marks every node "unknown" until its next
    heartbeat (swarmkit manager/dispatcher/dispatcher.go, markNodesUnknown; the end of a
    run that removed a manager elects one), and scripts/swarm-smoke.sh gives a listed
    task 60 s to answer (its check_tasks), so the lab's view is no stricter than the
    program's; a task that does not answer for that long still fails the caller."""
    t0 = time.monotonic()
    while True:
        s = collect()
        waited = time.monotonic() - t0
        nodes_pending = not all(n["state"] == "ready" for n in s.nodes) and waited < nodes_within_s
        tasks_pending = not answering(s) and waited < tasks_within_s
        if not (nodes_pending or tasks_pending):
            return s, waited
        time.sleep(1)


def describe_tasks(s: Summary) -> str:
    """Each task, whole (node, container, overlay address, who asked, the answer): for a
    failure's message."""
    said = [
        f"{t['task']} on {t['node']} ({t['state']}, container {t['container'] or '-'}, {t['ip'] or 'no address'},"
        f" asked from {t.get('asked_from', '-')}): {t.get('answer', 'not asked')}"
        for t in s.tasks
    ]
    return "; ".join(said) or "no task"


def _ask_each_task(tasks: list[dict[str, Any]], port: int) -> None:
    """From inside a task container (so across the overlay/VXLAN), ask every task."""
    asker = next((t for t in tasks if t["container"] and t["node"].startswith("swl-n")), None)
    if asker is None:
        return
    client = socket_client(int(asker["node"][5:]))
    try:
        container = client.containers.get(asker["container"])
        for t in tasks:
            if not t["ip"]:
                t["answer"] = "no overlay address"
                continue
            # busybox wget's own -T crashes (busybox 1.35): bound it with timeout instead,
            # 5 s as the program's smoke test asks each task (scripts/swarm-smoke.sh).
            res = container.exec_run(["timeout", "5", "wget", "-q", "-O-", f"http://{t['ip']}:{port}/"])
            out = res.output if isinstance(res.output, bytes) else b""
            ok = res.exit_code == 0
            t["answer"] = out.decode(errors="replace").strip() if ok else f"no answer (exit {res.exit_code})"
            t["asked_from"] = asker["node"]
    finally:
        client.close()


def _curl(url: str) -> str:
    r = subprocess.run(["curl", "-sS", "-m", "3", url], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else f"no answer ({r.stderr.strip()})"


def render(s: Summary, seconds: float | None = None) -> str:
    out = ["", "== Lab summary =="]
    out.append("Nodes (docker node ls on the manager):")
    for n in sorted(s.nodes, key=lambda n: n["hostname"]):
        labels = ",".join(f"{k}={v}" for k, v in sorted(n["labels"].items()))
        out.append(
            f"  {n['hostname']:<8} {n['addr']:<12} {n['role']:<8} {n['state']:<6} {n['availability']:<7} "
            f"{n['manager'] or '-':<10} {labels}"
        )
    if s.service:
        sv = s.service
        out.append(
            f"Service {sv['name']}: {sv['running']}/{sv['desired']} running, "
            f"image {sv['image']}, ports {', '.join(sv['ports'])}"
        )
    else:
        out.append("Service: not found")
    for t in s.tasks:
        out.append(f"  task {t['task']} on {t['node']}: {t['state']}, {t['ip']}: {t.get('answer', '-')}")
    if s.mesh_checked:
        for ip, ans in s.mesh.items():
            out.append(f"  routing mesh {ip}: {ans}")
    else:
        out.append(
            "Routing mesh: NOT observed. This kernel has no IP_VS (/proc/net/ip_vs is absent), so the ingress\n"
            "  mesh cannot answer on the published port here; each task was asked directly instead."
        )
    if seconds is not None:
        out.append(f"Total: {seconds:.1f}s")
    return "\n".join(out)


def main() -> int:
    t0 = float(os.environ.get("LAB_T0", "0") or 0)
    s = collect()
    print(render(s, time.time() - t0 if t0 else None))
    if os.environ.get("LAB_SUMMARY_JSON"):
        Path(os.environ["LAB_SUMMARY_JSON"]).write_text(json.dumps(s.__dict__, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Create the program's docker Network and Service for real, on the manager's
Docker Engine, from the inputs the program registered (as the provider would)."""

from __future__ import annotations

import os
import re
import shlex
import stat
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker import types

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(text: str | None) -> int | None:
    """A Go duration ("10s", "1m30s") in nanoseconds."""
    if not text:
        return None
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r}")
    return int(sum(float(n) * _UNIT_NS[u] for n, u in parts))


def client_for(provider: dict[str, Any], workdir: Path) -> docker.DockerClient:
    """A client that reaches the provider's host the way the provider does: the
    system ssh with the provider's ssh options (docker/cli connhelper style)."""
    host = provider["host"]
    opts = provider.get("sshOpts") or []
    if isinstance(opts, str):
        import json

        opts = json.loads(opts)
    bindir = workdir / "ssh-wrapper"
    bindir.mkdir(parents=True, exist_ok=True)
    wrapper = bindir / "ssh"
    wrapper.write_text("#!/bin/sh\nexec /usr/bin/ssh " + " ".join(shlex.quote(o) for o in opts) + ' "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    if str(bindir) not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = f"{bindir}:{os.environ.get('PATH', '')}"
    return docker.DockerClient(base_url=host, use_ssh_client=host.startswith("ssh://"), timeout=60)


def ensure_network(client: docker.DockerClient, inputs: dict[str, Any]) -> str:
    name = inputs["name"]
    existing = client.networks.list(names=[name])
    for net in existing:
        if net.name == name and net.id:
            return net.id
    net = client.networks.create(
        name,
        driver=inputs.get("driver", "overlay"),
        attachable=bool(inputs.get("attachable")),
        options=inputs.get("options") or None,
        labels={lab["label"]: lab["value"] for lab in inputs.get("labels", [])} or None,
    )
    return str(net.id)


def _restart(p: dict[str, Any] | None) -> types.RestartPolicy | None:
    if not p:
        return None
    return types.RestartPolicy(
        condition=p.get("condition", "any"),
        delay=duration_ns(p.get("delay")) or 0,
        max_attempts=int(p.get("maxAttempts", 0)),
        window=duration_ns(p.get("window")) or 0,
    )


def _update(c: dict[str, Any] | None, cls: type) -> Any:
    if not c:
        return None
    return cls(
        parallelism=int(c.get("parallelism", 1)),
        delay=duration_ns(c.get("delay")),
        failure_action=c.get("failureAction", "pause"),
        monitor=duration_ns(c.get("monitor")),
        max_failure_ratio=float(c["maxFailureRatio"]) if c.get("maxFailureRatio") is not None else None,
        order=c.get("order"),
    )


def service_spec(inputs: dict[str, Any]) -> dict[str, Any]:
    """Docker SDK keyword arguments for create_service/update_service. Pure."""
    task = inputs["taskSpec"]
    container = task["containerSpec"]
    prefs = [tuple(p.split("=", 1)) for p in task.get("placement", {}).get("prefs", [])]
    placement = types.Placement(
        constraints=task.get("placement", {}).get("constraints") or None, preferences=prefs or None
    )
    template = types.TaskTemplate(
        container_spec=types.ContainerSpec(image=container["image"], env=container.get("env")),
        restart_policy=_restart(task.get("restartPolicy")),
        placement=placement,
        networks=[types.NetworkAttachmentConfig(n["id"]) for n in task.get("networksAdvanceds", [])] or None,
    )
    replicated = (inputs.get("mode") or {}).get("replicated")
    mode = types.ServiceMode("replicated", replicas=int(replicated.get("replicas", 1))) if replicated else None
    ports = [
        {
            "Protocol": p.get("protocol", "tcp"),
            "PublishedPort": int(p["publishedPort"]),
            "TargetPort": int(p["targetPort"]),
            "PublishMode": p.get("publishMode", "ingress"),
        }
        for p in (inputs.get("endpointSpec") or {}).get("ports", [])
    ]
    return {
        "task_template": template,
        "name": inputs["name"],
        "mode": mode,
        "update_config": _update(inputs.get("updateConfig"), types.UpdateConfig),
        "rollback_config": _update(inputs.get("rollbackConfig"), types.RollbackConfig),
        "endpoint_spec": types.EndpointSpec(mode="vip", ports=ports) if ports else None,
    }


def ensure_service(client: docker.DockerClient, inputs: dict[str, Any]) -> str:
    """Create the service, or update it to the registered spec; then converge."""
    spec = service_spec(inputs)
    found = [s for s in client.api.services(filters={"name": spec["name"]}) if s["Spec"]["Name"] == spec["name"]]
    if found:
        svc = found[0]
        client.api.update_service(svc["ID"], svc["Version"]["Index"], **spec)
        service_id = svc["ID"]
    else:
        service_id = client.api.create_service(**spec)["ID"]
    converge = inputs.get("convergeConfig")
    if converge:
        wait_converged(client, service_id, spec, duration_ns(converge.get("timeout")) or 180 * 10**9,
                       duration_ns(converge.get("delay")) or 7 * 10**9)  # fmt: skip
    return service_id


def wait_converged(
    client: docker.DockerClient, service_id: str, spec: dict[str, Any], timeout_ns: int, delay_ns: int
) -> None:
    """As the provider's converge wait: running tasks on active nodes == replicas."""
    want = spec["mode"].replicas if spec.get("mode") else 1
    deadline = time.monotonic() + timeout_ns / 1e9
    step = min(delay_ns / 1e9, 1.0)
    while True:
        tasks = client.api.tasks(filters={"service": service_id, "desired-state": "running"})
        running = sum(1 for t in tasks if t["Status"]["State"] == "running")
        if running >= want:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"service {spec['name']}: {running}/{want} running after {timeout_ns / 1e9:.0f}s")
        time.sleep(step)


def remove(client: docker.DockerClient, kind: str, name: str) -> None:
    try:
        if kind == "service":
            client.api.remove_service(name)
        else:
            client.api.remove_network(name)
    except docker.errors.NotFound:
        pass

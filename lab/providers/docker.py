"""docker:index/network:Network and docker:index/service:Service as pulumi-docker 5.2.0
does them (its bundled kreuzwerker/terraform-provider-docker v4.5.0, moby client
v28.5.2, docker/cli v28.5.2 connhelper). Facts: docs/upstream/docker.md.

THIS IS THE ONE PLACE WHERE LAB CODE STANDS IN FOR A PROVIDER'S OWN CODE: the real
provider is Go (the TF resource funcs over the moby client); here the same API calls
are made with docker-py, and the provider's read-back and diff are modelled:

- reaching the daemon (`config.go` MakeClient, `connhelper.getConnectionHelper`): the
  system `ssh` (this process's environment, so the deployer's HOME: `%d` in the
  program's options is the real home) with `-l user [-p port] <sshOpts...>
  [-o ConnectTimeout=30] -T -- host docker system dial-stdio`; no PATH games;
- Create (`resourceDockerServiceCreate`): the image normalised (`imageWithTagString`)
  and, with QueryRegistry, pinned client-side to `repo:tag@sha256:<digest>` with the
  image's platforms added to the placement; Update sends the normalised image without
  pinning. No upsert: a name that exists fails as the daemon answers (swarm names are
  unique). Converge waits as `StateChangeConf` does (lab/providers/statechange.py;
  create: the converge delay, update: 7 s; then refreshes 5 s, then 10 s apart), and
  both end with the Read's own wait (2 s, then until the endpoint mode shows); a create
  that does not converge deletes it;
- Read (`flatten*`): what the daemon holds, in the provider's form: durations in Go's
  short form (`shortDur`), placement prefs verbatim (the spread descriptor: a
  `spread=` prefix is NOT parsed, and swarmkit ignores such a descriptor), the network's
  options with what the daemon adds (the VXLAN id);
- Diff: the program's inputs against that read-back, with no DiffSuppressFunc on image
  or durations (there is none in v4.5.0); a field not Computed that reads back a value
  the program did not set (placement platforms) is a diff. ForceNew fields replace;
  create-before-delete (only docker_container has DeleteBeforeReplace).
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
from docker import types
from docker.transport import sshconn

from harness.run import unwrap
from lab.providers.base import Ctx, Diff, Old, ignored, plugin_environment, top
from lab.providers.statechange import StateTimeout, wait_for_state

# --- Go durations ------------------------------------------------------------------
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(text: str | None) -> int | None:
    """time.ParseDuration ("10s", "1m30s", "0") in nanoseconds; None for ""/None."""
    if text is None or text == "":
        return None
    if text == "0":
        return 0
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"time: invalid duration {text!r}")
    return round(sum(float(n) * _UNIT_NS[u] for n, u in parts))


def go_duration_string(ns: int) -> str:
    """time.Duration.String()."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                s = _trim(ns / size, unit)
                return ("-" if neg else "") + s
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    secs = _trim(rem / 10**9, "s")
    out = f"{h}h{m}m{secs}" if h else (f"{m}m{secs}" if m else secs)
    return ("-" if neg else "") + out


def _trim(value: float, unit: str) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text + unit


def short_dur(ns: int) -> str:
    """`shortDur` (resource_docker_service_structures.go): Duration.String() without a
    trailing "m0s" / "h0m": 60s -> 1m, 1h0m0s -> 1h, 1m30s stays."""
    s = go_duration_string(ns)
    if s.endswith("m0s"):
        s = s[:-2]
    if s.endswith("h0m"):
        s = s[:-2]
    return s


def read_back_duration(text: str | None) -> str | None:
    return None if text is None or text == "" else short_dur(duration_ns(text) or 0)


# --- images (moby client/service_create.go) ------------------------------------------
def normalise_image(image: str) -> str:
    """`imageWithTagString`: reference.FamiliarString(TagNameOnly(ParseNormalizedNamed))."""
    name, _, digest = image.partition("@")
    first, _, rest = name.partition("/")
    has_domain = bool(rest) and ("." in first or ":" in first or first == "localhost")
    if not has_domain:
        domain, path = "docker.io", name
    else:
        domain, path = first, rest
    if domain == "index.docker.io":
        domain = "docker.io"
    last = path.rsplit("/", 1)[-1]
    if not digest and ":" not in last:
        path += ":latest"
    if domain == "docker.io":
        path = path.removeprefix("library/") if path.startswith("library/") and path.count("/") == 1 else path
        familiar = path
    else:
        familiar = f"{domain}/{path}"
    return familiar + (f"@{digest}" if digest else "")


# --- reaching the daemon ---------------------------------------------------------------
def ssh_argv(host: str, ssh_opts: list[str]) -> list[str]:
    """docker/cli v28.5.2 connhelper: ssh -l user -p port <flags> -- host docker system dial-stdio."""
    url = host.removeprefix("ssh://")
    user, _, hostport = url.rpartition("@")
    hostname, _, port = hostport.partition(":")
    flags = list(ssh_opts)
    if not any("ConnectTimeout" in f for f in flags):  # addSSHTimeout
        flags += ["-o", "ConnectTimeout=30"]
    if "-T" not in flags:  # disablePseudoTerminalAllocation
        flags.append("-T")
    argv = ["ssh"]
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", port]
    return [*argv, *flags, "--", hostname, "docker", "system", "dial-stdio"]


class _DialStdioSocket(sshconn.SSHSocket):
    """docker-py's shell-out socket, with the provider's own ssh command line."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__("lab")
        self.argv = argv

    def connect(self, **kwargs: Any) -> None:
        env = plugin_environment()  # the deployer's environment (ssh reads %d from the password database)
        env.pop("LD_LIBRARY_PATH", None)
        # preexec_fn as docker-py's own SSHSocket (ssh must not get the SIGINT meant for us)
        self.proc = subprocess.Popen(
            self.argv,
            env=env,
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
        )


class _Conn(sshconn.SSHConnection):
    def __init__(self, argv: list[str], timeout: int) -> None:
        super().__init__(None, timeout, "lab")
        self.argv = argv

    def connect(self) -> None:
        sock = _DialStdioSocket(self.argv)
        sock.settimeout(self.timeout)
        sock.connect()
        self.sock = sock


class _Pool(sshconn.SSHConnectionPool):
    def __init__(self, argv: list[str], timeout: int) -> None:
        super().__init__(None, timeout, 10, "lab")
        self.argv = argv

    def _new_conn(self) -> _Conn:
        return _Conn(self.argv, self.timeout)  # type: ignore[arg-type]  # urllib3 Timeout, as docker-py passes it


class _Adapter(sshconn.SSHHTTPAdapter):
    def __init__(self, argv: list[str], timeout: int) -> None:
        super().__init__("ssh://lab", timeout=timeout, shell_out=True)
        self.argv = argv

    def get_connection(self, url: Any, proxies: Any = None) -> _Pool:
        # A new pool (one ssh process) per request, as docker-py's own shell-out mode:
        # a dial-stdio stream is not reused once its response was read to the end.
        return _Pool(self.argv, self.timeout)


def client_for(provider: dict[str, Any], timeout: int = 120) -> docker.DockerClient:
    """A client for the provider's host (MakeClient): ssh:// through dial-stdio, or a
    socket/tcp URL as given. API version negotiated (WithAPIVersionNegotiation)."""
    provider = unwrap(provider)
    host = provider.get("host") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("ssh://"):
        return docker.DockerClient(base_url=host, version="auto", timeout=timeout)
    opts = provider.get("sshOpts") or []
    if isinstance(opts, str):
        opts = json.loads(opts)
    client = docker.DockerClient(base_url="ssh://lab", version="1.41", use_ssh_client=True, timeout=timeout)
    client.api.mount("http+docker://ssh", _Adapter(ssh_argv(host, opts), timeout))
    client.api._version = client.api._retrieve_server_version()  # type: ignore[attr-defined]
    return client


# --- the service spec sent ---------------------------------------------------------------
def _ns(text: str | None) -> int | None:
    return duration_ns(text) if text else None


def service_spec(inputs: dict[str, Any], image: str, platforms: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """docker-py keyword arguments for create_service/update_service (`createServiceSpec`)."""
    task = inputs["taskSpec"]
    container = task["containerSpec"]
    placement_in = task.get("placement")
    placement = None
    if placement_in is not None:
        placement = types.Placement(
            constraints=placement_in.get("constraints") or None,
            # verbatim: `stringSetToPlacementPrefs` sets SpreadDescriptor to the string as given
            preferences=[types.PlacementPreference("spread", p) for p in placement_in.get("prefs", [])] or None,
            platforms=[(p["Architecture"], p["OS"]) for p in platforms or []] or None,
        )
        if placement_in.get("maxReplicas") is not None:
            placement["MaxReplicas"] = int(placement_in["maxReplicas"])
    rp = task.get("restartPolicy")
    restart = None
    if rp is not None:
        restart = types.RestartPolicy(
            condition=rp.get("condition", "any"),
            # an unset delay/window is sent as 0 (`createRestartPolicy`)
            delay=_ns(rp.get("delay")) or 0,
            max_attempts=int(rp.get("maxAttempts", 0)),
            window=_ns(rp.get("window")) or 0,
        )
    template = types.TaskTemplate(
        container_spec=types.ContainerSpec(image=image, env=container.get("env")),
        restart_policy=restart,
        placement=placement,
        networks=[
            types.NetworkAttachmentConfig(n["id"], aliases=n.get("aliases")) for n in task.get("networksAdvanceds", [])
        ]
        or None,
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

    def update_cfg(c: dict[str, Any] | None, cls: type) -> Any:
        if not c:
            return None
        return cls(
            parallelism=int(c.get("parallelism", 1)),
            delay=_ns(c.get("delay", "0s")),
            failure_action=c.get("failureAction", "pause"),
            monitor=_ns(c.get("monitor", "5s")),
            max_failure_ratio=float(c.get("maxFailureRatio", "0.0")),
            order=c.get("order", "stop-first"),
        )

    return {
        "task_template": template,
        "name": inputs["name"],
        "labels": {lab["label"]: lab["value"] for lab in inputs.get("labels", [])} or None,
        "mode": mode,
        "update_config": update_cfg(inputs.get("updateConfig"), types.UpdateConfig),
        "rollback_config": update_cfg(inputs.get("rollbackConfig"), types.RollbackConfig),
        "endpoint_spec": types.EndpointSpec(mode=(inputs.get("endpointSpec") or {}).get("mode", "vip"), ports=ports),
    }


# --- read-back (flatten*) ---------------------------------------------------------------
def flatten_service(spec: dict[str, Any]) -> dict[str, Any]:
    """The daemon's service Spec in the provider's (input) form, for the fields the lab
    models (`resourceDockerServiceReadRefreshFunc`: name, labels, task_spec, mode,
    update_config, rollback_config, endpoint_spec)."""
    tt = spec.get("TaskTemplate", {})
    cs = tt.get("ContainerSpec", {})
    out: dict[str, Any] = {"name": spec.get("Name")}
    container: dict[str, Any] = {"image": cs.get("Image")}
    if cs.get("Env"):
        container["env"] = cs["Env"]
    task: dict[str, Any] = {"containerSpec": container}
    rp = tt.get("RestartPolicy")
    if rp:
        task["restartPolicy"] = {
            "condition": rp.get("Condition"),
            "delay": short_dur(rp.get("Delay", 0)),
            "window": short_dur(rp.get("Window", 0)),
            "maxAttempts": rp.get("MaxAttempts", 0),
        }
    pl = tt.get("Placement") or {}
    placement: dict[str, Any] = {}
    if pl.get("Constraints"):
        placement["constraints"] = pl["Constraints"]
    if pl.get("Preferences"):
        placement["prefs"] = [p["Spread"]["SpreadDescriptor"] for p in pl["Preferences"] if "Spread" in p]
    if pl.get("Platforms"):
        placement["platforms"] = [{"architecture": p.get("Architecture", ""), "os": p.get("OS", "")}
                                  for p in pl["Platforms"]]  # fmt: skip
    if pl.get("MaxReplicas"):
        placement["maxReplicas"] = pl["MaxReplicas"]
    task["placement"] = placement
    if tt.get("Networks"):
        task["networksAdvanceds"] = [{"id": n["Target"], **({"aliases": n["Aliases"]} if n.get("Aliases") else {})}
                                     for n in tt["Networks"]]  # fmt: skip
    out["taskSpec"] = task
    rep = (spec.get("Mode") or {}).get("Replicated")
    if rep is not None:
        out["mode"] = {"replicated": {"replicas": rep.get("Replicas", 1)}}
    for key, src in (("updateConfig", "UpdateConfig"), ("rollbackConfig", "RollbackConfig")):
        c = spec.get(src)
        if c:
            out[key] = {
                "parallelism": c.get("Parallelism", 0),
                "delay": short_dur(c.get("Delay", 0)),
                "failureAction": c.get("FailureAction", "pause"),
                "monitor": short_dur(c.get("Monitor", 0)),
                "maxFailureRatio": f"{float(c.get('MaxFailureRatio', 0)):.1f}",
                "order": c.get("Order", "stop-first"),
            }
    ep = spec.get("EndpointSpec") or {}
    out["endpointSpec"] = {
        "mode": ep.get("Mode", "vip"),
        "ports": [
            {"protocol": p.get("Protocol", "tcp"), "targetPort": p.get("TargetPort"),
             "publishedPort": p.get("PublishedPort"), "publishMode": p.get("PublishMode", "ingress")}
            for p in ep.get("Ports", [])
        ],
    }  # fmt: skip
    return out


def merge_read_back(inputs: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """The resource's state: the inputs (fields the provider never reads back, such as
    convergeConfig, stay as written), overlaid with what was read back."""
    out = copy.deepcopy(unwrap(inputs))

    def overlay(dst: dict[str, Any], src: dict[str, Any]) -> None:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                overlay(dst[k], v)
            else:
                dst[k] = copy.deepcopy(v)

    overlay(out, read)
    return out


# Fields not Computed in the schema: a value read back that the program did not set is a diff.
SERVICE_NOT_COMPUTED = ("taskSpec.placement.platforms", "taskSpec.restartPolicy.delay", "taskSpec.restartPolicy.window")
SERVICE_SETS = ("taskSpec.placement.prefs", "taskSpec.placement.constraints", "taskSpec.networksAdvanceds")
# (`mode` is ForceNew on the list count only: replicated <-> global replaces, replicas do not)
SERVICE_FORCE_NEW = ("name", "auth", "mode.global", "taskSpec.networksAdvanceds", "taskSpec.containerSpec.hosts",
                     "taskSpec.containerSpec.sysctl")  # fmt: skip
NETWORK_FORCE_NEW = ("name", "labels", "driver", "options", "internal", "attachable", "ingress", "ipv6",
                     "ipamDriver", "ipamOptions", "ipamConfigs")  # fmt: skip
NETWORK_COMPUTED = ("driver", "options", "internal", "ipamConfigs")


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def tf_diff(config: Any, state: Any, path: str = "", sets: tuple[str, ...] = ()) -> list[str]:
    """Paths where the program's CONFIG differs from the read-back STATE (the SDK's
    schemaMap.Diff, reduced): leaves compared as values, the listed sets unordered;
    a map compares its keys (a key only in the state is a removal)."""
    if isinstance(config, dict) and isinstance(state, dict):
        out: list[str] = []
        for k, v in config.items():
            p = f"{path}.{k}" if path else k
            if v is None:
                continue
            if k not in state:
                out.append(p)
            else:
                out += tf_diff(v, state[k], p, sets)
        return out
    if path in sets and isinstance(config, list) and isinstance(state, list):
        key = lambda x: json.dumps(x, sort_keys=True, default=str)  # noqa: E731
        return [] if sorted(map(key, config)) == sorted(map(key, state)) else [path]
    if isinstance(config, list) and isinstance(state, list) and len(config) == len(state):
        out = []
        for i, (c, s) in enumerate(zip(config, state, strict=True)):
            out += tf_diff(c, s, f"{path}[{i}]", sets)
        return out
    return [] if _eq(config, state) else [path]


def _get(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _forces_new(path: str, force_new: tuple[str, ...]) -> bool:
    return any(path == f or path.startswith((f + ".", f + "[")) for f in force_new)


def diff_service(config: dict[str, Any], state: dict[str, Any], ignore_changes: list[str]) -> Diff:
    config = unwrap(config)
    changed = tf_diff(config, state, sets=SERVICE_SETS)
    for p in SERVICE_NOT_COMPUTED:
        # (an unset restart delay/window is sent as 0 and reads back "0s": a diff too)
        if _get(config, p) in (None, "", []) and _get(state, p) not in (None, "", []):
            if p.startswith("taskSpec.restartPolicy") and _get(config, "taskSpec.restartPolicy") is None:
                continue
            changed.append(p)
    changed = sorted({p for p in changed if not ignored(p, ignore_changes)})
    return Diff(changed, [p for p in changed if _forces_new(p, SERVICE_FORCE_NEW) or p in ("mode", "mode.replicated")])


def diff_network(config: dict[str, Any], state: dict[str, Any], ignore_changes: list[str]) -> Diff:
    config = unwrap(config)
    changed: list[str] = []
    for k in set(config) | set(state):
        c, s = config.get(k), state.get(k)
        if c in (None, {}, []) and k in NETWORK_COMPUTED:
            continue  # Computed and unset: no diff
        if isinstance(c, dict) and isinstance(s, dict):
            if not _eq(c, s):  # a key only in the state (the daemon's VXLAN id) is a removal
                changed.append(k)
        elif c is None and s in (None, {}, [], False, ""):
            continue
        elif not _eq(c, s):
            changed.append(k)
    changed = sorted(p for p in changed if not ignored(p, ignore_changes))
    return Diff(changed, [p for p in changed if top(p) in NETWORK_FORCE_NEW])


# --- the provider -------------------------------------------------------------------------
class DockerProvider:
    """Network and Service; CLIENT_FOR makes a client from the provider's config (tests: a fake)."""

    # resource_docker_service_funcs.go (v4.5.0): every StateChangeConf's MinTimeout; the
    # update's converge Delay; resourceDockerServiceRead's Delay and Timeout
    MIN_TIMEOUT, UPDATE_DELAY, READ_DELAY, READ_TIMEOUT = 5.0, 7.0, 2.0, 30.0

    def __init__(self, kind: str, client_for: Callable[[dict[str, Any]], Any] = client_for,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        assert kind in ("network", "service")
        self.kind = kind
        self.client_for = client_for
        self.sleep, self.clock = sleep, clock

    def diff(self, ctx: Ctx, old: Old, news: dict[str, Any], ignore_changes: list[str]) -> Diff:
        state = unwrap(old.outputs)
        if self.kind == "service":
            return diff_service(news, state, ignore_changes)
        return diff_network(news, state, ignore_changes)

    def replaced_when_unknown(self, keys: list[str]) -> bool:
        force = SERVICE_FORCE_NEW if self.kind == "service" else NETWORK_FORCE_NEW
        return any(k in force or any(f.startswith(k + ".") for f in force) for k in keys)

    # --- network ---
    def _read_network(self, client: Any, id_: str, inputs: dict[str, Any]) -> dict[str, Any]:
        n = client.api.inspect_network(id_)
        read = {
            "name": n["Name"],
            "driver": n.get("Driver"),
            "options": n.get("Options") or {},
            "internal": bool(n.get("Internal")),
            "attachable": bool(n.get("Attachable")),
            "ingress": bool(n.get("Ingress")),
            "ipv6": bool(n.get("EnableIPv6")),
            "ipamConfigs": [
                {"subnet": c.get("Subnet", ""), "gateway": c.get("Gateway", "")}
                for c in (n.get("IPAM") or {}).get("Config") or []
            ],
        }
        return merge_read_back(inputs, read)

    def _create_network(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        plain = unwrap(inputs)
        client = self.client_for(ctx.provider_config)
        try:
            # NetworkCreate: the daemon refuses a name that exists (no lookup first).
            res = client.api.create_network(
                plain["name"],
                driver=plain.get("driver"),
                options=plain.get("options") or None,
                internal=bool(plain.get("internal")),
                attachable=bool(plain.get("attachable")),
                ingress=bool(plain.get("ingress")),
                enable_ipv6=bool(plain.get("ipv6")),
                labels={lab["label"]: lab["value"] for lab in plain.get("labels", [])} or None,
            )
            id_ = res["Id"]
            ctx.log(f"network {plain['name']} ({id_[:12]}) created")
            return id_, self._read_network(client, id_, inputs)
        finally:
            client.close()

    def _delete_network(self, ctx: Ctx, old: Old) -> None:
        client = self.client_for(ctx.provider_config)
        try:
            deadline = time.monotonic() + 30  # networkRemoveRefreshTimeout
            while True:
                try:
                    client.api.remove_network(old.id)
                    return
                except docker.errors.NotFound:
                    return
                except docker.errors.APIError as exc:
                    if "has active endpoints" not in str(exc) or time.monotonic() > deadline:
                        raise
                    self.sleep(1)
        finally:
            client.close()

    # --- service ---
    def _pin(self, client: Any, image: str) -> tuple[str, list[dict[str, str]]]:
        """QueryRegistry (`resolveContainerSpecImage`): tag@digest and the platforms; on a
        registry error the tag stays (a warning only)."""
        try:
            d = client.api.inspect_distribution(image)
        except docker.errors.APIError:
            return image, []
        digest = d["Descriptor"]["digest"]
        plats = [{"Architecture": p.get("architecture", ""), "OS": p.get("os", "")} for p in d.get("Platforms") or []]
        return f"{image.split('@', 1)[0]}@{digest}", plats

    def _converge(self, client: Any, ctx: Ctx, service_id: str, replicas: int, timeout: float, delay: float) -> None:
        """The converge wait after a create (the converge delay) or an update (7 s):
        StateChangeConf with MinTimeout 5 s (lab/providers/statechange.py) over the
        refresh funcs' test: the running tasks on non-down nodes equal the replicas."""
        tasks: list[dict[str, Any]] = []

        def converged() -> bool:
            nonlocal tasks
            down = {n["ID"] for n in client.api.nodes() if n["Status"]["State"] == "down"}
            tasks = client.api.tasks(filters={"service": service_id, "desired-state": "running"})
            running = sum(1 for t in tasks if t["Status"]["State"] == "running" and t.get("NodeID") not in down)
            return running == replicas

        try:
            wait_for_state(converged, delay=delay, min_timeout=self.MIN_TIMEOUT, timeout=timeout,
                           sleep=self.sleep, clock=self.clock)  # fmt: skip
        except StateTimeout:
            # The lab's own note (not the provider's error): where each task is stuck.
            for t in tasks:
                st = t["Status"]
                ctx.log(f"task {t['ID'][:12]} on node {t.get('NodeID', '-')[:12]}: {st['State']} "
                        f"{st.get('Message', '')} {st.get('Err', '')}".rstrip())  # fmt: skip
            # DidNotConvergeError's text
            raise TimeoutError(f"Service with ID ({service_id}) did not converge after "
                               f"{go_duration_string(round(timeout * 1e9))}") from None  # fmt: skip

    def _read_service(self, client: Any, id_: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """resourceDockerServiceRead, which Create and Update end with: StateChangeConf
        (Delay 2 s, MinTimeout 5 s, Timeout 30 s) until the service shows its endpoint
        mode ("all_fields"), then the read-back. (A service gone meanwhile, "removed",
        is not modelled: the docker client's NotFound fails the step.)"""
        spec: dict[str, Any] = {}

        def all_fields() -> bool:
            nonlocal spec
            svc = client.api.inspect_service(id_)
            spec = svc["Spec"]
            return bool(((svc.get("Endpoint") or {}).get("Spec") or {}).get("Mode") or
                        (spec.get("EndpointSpec") or {}).get("Mode"))  # fmt: skip

        wait_for_state(all_fields, delay=self.READ_DELAY, min_timeout=self.MIN_TIMEOUT, timeout=self.READ_TIMEOUT,
                       sleep=self.sleep, clock=self.clock)  # fmt: skip
        return merge_read_back(inputs, flatten_service(spec))

    def _create_service(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        plain = unwrap(inputs)
        client = self.client_for(ctx.provider_config)
        try:
            image, platforms = self._pin(client, normalise_image(plain["taskSpec"]["containerSpec"]["image"]))
            spec = service_spec(plain, image, platforms if plain["taskSpec"].get("placement") is not None else None)
            t0 = time.monotonic()
            id_ = client.api.create_service(**spec)["ID"]  # a name that exists: the daemon's conflict error
            conv = plain.get("convergeConfig")
            if conv:
                replicas = spec["mode"].replicas if spec.get("mode") else 1
                try:
                    self._converge(client, ctx, id_, replicas, (duration_ns(conv.get("timeout", "3m")) or 0) / 1e9,
                                   (duration_ns(conv.get("delay", "7s")) or 0) / 1e9)  # fmt: skip
                except TimeoutError:
                    client.api.remove_service(id_)  # a create that does not converge is deleted
                    raise
            ctx.log(f"service {plain['name']} ({id_[:12]}) converged in {time.monotonic() - t0:.1f}s")
            return id_, self._read_service(client, id_, inputs)
        finally:
            client.close()

    def _update_service(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        plain = unwrap(news)
        client = self.client_for(ctx.provider_config)
        try:
            current = client.api.inspect_service(old.id)
            spec = service_spec(plain, normalise_image(plain["taskSpec"]["containerSpec"]["image"]))
            client.api.update_service(old.id, current["Version"]["Index"], **spec)
            conv = plain.get("convergeConfig")
            if conv:
                replicas = spec["mode"].replicas if spec.get("mode") else 1
                self._converge(client, ctx, old.id, replicas, (duration_ns(conv.get("timeout", "3m")) or 0) / 1e9,
                               self.UPDATE_DELAY)  # fmt: skip
            ctx.log(f"service {plain['name']} ({old.id[:12]}) updated")
            return self._read_service(client, old.id, news)
        finally:
            client.close()

    def _delete_service(self, ctx: Ctx, old: Old) -> None:
        client = self.client_for(ctx.provider_config)
        try:
            client.api.remove_service(old.id)  # no stop_grace_period: no wait (deleteService)
        except docker.errors.NotFound:
            pass
        finally:
            client.close()

    # --- the interface ---
    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return self._create_service(ctx, inputs) if self.kind == "service" else self._create_network(ctx, inputs)

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        if self.kind == "network":  # no UpdateContext: every settable field is ForceNew
            raise RuntimeError("docker_network has no update")
        return self._update_service(ctx, old, news)

    def delete(self, ctx: Ctx, old: Old) -> None:
        if self.kind == "service":
            self._delete_service(ctx, old)
        else:
            self._delete_network(ctx, old)

"""The docker provider model (lab/providers/docker.py): read-back form, diff, no upsert."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from lab.providers import docker as dp
from lab.providers.base import Ctx, Old


@pytest.mark.parametrize(
    ("written", "read"),
    [("60s", "1m"), ("1m30s", "1m30s"), ("90s", "1m30s"), ("1h0m0s", "1h"), ("1h0m", "1h"), ("10s", "10s"),
     ("5m", "5m"), ("300s", "5m"), ("2h30m", "2h30m"), ("500ms", "500ms"), ("1.5s", "1.5s"), ("1000ms", "1s"),
     ("0", "0s"), ("0s", "0s"), ("1h1s", "1h0m1s")],
)  # fmt: skip
def test_short_dur(written: str, read: str) -> None:
    assert dp.read_back_duration(written) == read


@pytest.mark.parametrize(
    ("image", "normal"),
    [("nginx", "nginx:latest"), ("docker.io/library/nginx:1.25", "nginx:1.25"), ("docker.io/user/app:1", "user/app:1"),
     ("10.77.0.1:5000/testapp:lab", "10.77.0.1:5000/testapp:lab"), ("reg:5000/app", "reg:5000/app:latest")],
)  # fmt: skip
def test_image_normalised_as_the_moby_client(image: str, normal: str) -> None:
    assert dp.normalise_image(image) == normal


INPUTS: dict[str, Any] = {
    "name": "testapp",
    "taskSpec": {
        "containerSpec": {"image": "10.77.0.1:5000/testapp:lab"},
        "networksAdvanceds": [{"id": "net1"}],
        "placement": {"prefs": ["spread=node.labels.az"]},
        "restartPolicy": {"condition": "any", "delay": "5s", "window": "60s"},
    },
    "mode": {"replicated": {"replicas": 2.0}},
    "endpointSpec": {"ports": [{"targetPort": 5000.0, "publishedPort": 5001.0, "publishMode": "ingress",
                                "protocol": "tcp"}]},
    "updateConfig": {"parallelism": 1.0, "delay": "10s", "order": "start-first", "failureAction": "rollback",
                     "monitor": "30s"},
    "convergeConfig": {"delay": "5s", "timeout": "5m"},
}  # fmt: skip


def daemon_spec(inputs: dict[str, Any], image: str, platforms: list | None = None) -> dict[str, Any]:
    """What the daemon keeps: the spec the provider sent (docker-py's dicts are the API's)."""
    kw = dp.service_spec(inputs, image, platforms)
    spec = {"Name": kw["name"], "TaskTemplate": kw["task_template"], "Mode": kw["mode"],
            "EndpointSpec": kw["endpoint_spec"]}  # fmt: skip
    if kw["update_config"]:
        spec["UpdateConfig"] = kw["update_config"]
    return spec


def state_after(inputs: dict[str, Any], image: str, platforms: list | None = None) -> dict[str, Any]:
    return dp.merge_read_back(inputs, dp.flatten_service(daemon_spec(inputs, image, platforms)))


def with_(base: dict[str, Any], **task: Any) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(base)
    for k, v in task.items():
        out["taskSpec"][k] = v
    return out


def test_placement_prefs_are_sent_verbatim() -> None:
    spec = daemon_spec(INPUTS, "img")
    assert spec["TaskTemplate"]["Placement"]["Preferences"] == [
        {"Spread": {"SpreadDescriptor": "spread=node.labels.az"}}
    ]


def test_a_60s_window_reads_back_1m_and_diffs_on_every_run() -> None:
    image = "10.77.0.1:5000/testapp:lab"
    d = dp.diff_service(INPUTS, state_after(INPUTS, image), [])
    assert d.changed == ["taskSpec.restartPolicy.window"] and d.replaces == []


def test_canonical_inputs_read_back_the_same() -> None:
    good = with_(INPUTS, placement={"prefs": ["node.labels.az"]},
                 restartPolicy={"condition": "any", "delay": "5s", "window": "1m"})  # fmt: skip
    assert dp.diff_service(good, state_after(good, "10.77.0.1:5000/testapp:lab"), []).changed == []


def test_the_image_pinned_on_create_diffs_once() -> None:
    good = with_(INPUTS, restartPolicy={"condition": "any", "delay": "5s", "window": "1m"})
    pinned = state_after(good, "10.77.0.1:5000/testapp:lab@sha256:abc", [{"Architecture": "amd64", "OS": "linux"}])
    d = dp.diff_service(good, pinned, [])
    # No suppress func in v4.5.0: the digest and the platforms Create added are changes (an update)
    assert d.changed == ["taskSpec.containerSpec.image", "taskSpec.placement.platforms"] and d.replaces == []
    # Update sends the tag (no QueryRegistry): from then on stable.
    assert dp.diff_service(good, state_after(good, "10.77.0.1:5000/testapp:lab"), []).changed == []


def test_force_new_inputs_replace() -> None:
    good = with_(INPUTS, restartPolicy={"condition": "any", "delay": "5s", "window": "1m"})
    state = state_after(good, "10.77.0.1:5000/testapp:lab")
    assert dp.diff_service({**good, "name": "other"}, state, []).replaces == ["name"]
    assert dp.diff_service(with_(good, networksAdvanceds=[{"id": "net2"}]), state, []).replaces == [
        "taskSpec.networksAdvanceds"
    ]
    d = dp.diff_service({**good, "mode": {"replicated": {"replicas": 3}}}, state, [])
    assert d.changed == ["mode.replicated.replicas"] and d.replaces == []  # replicas: in place
    assert dp.DockerProvider("service").replaced_when_unknown(["taskSpec"])


def test_network_options_read_back_with_the_vxlan_id() -> None:
    inputs = {"name": "testapp-net", "driver": "overlay", "attachable": True, "options": {"encrypted": "true"}}
    vxlan = {"com.docker.network.driver.overlay.vxlanid_list": "4097"}
    state = {**inputs, "options": {"encrypted": "true", **vxlan}, "internal": False, "ingress": False, "ipv6": False,
             "ipamConfigs": [{"subnet": "10.0.1.0/24"}]}  # fmt: skip
    assert dp.diff_network(inputs, state, []).replaces == ["options"]
    assert dp.diff_network(inputs, state, ["options"]).changed == []
    plain = {k: v for k, v in inputs.items() if k != "options"}
    assert dp.diff_network(plain, {**state, "options": {"vxlan": "1"}}, []).changed == []  # Computed, unset


def test_ssh_command_line_as_the_connhelper() -> None:
    opts = ["-F", "none", "-o", "BatchMode=yes", "-i", "%d/.ssh/pulumi-docker-swarm/lab/id"]
    assert dp.ssh_argv("ssh://root@10.77.0.11", opts) == [
        "ssh", "-l", "root", *opts, "-o", "ConnectTimeout=30", "-T", "--", "10.77.0.11", "docker", "system",
        "dial-stdio"]  # fmt: skip
    assert "ConnectTimeout=30" not in dp.ssh_argv("ssh://h:2222", ["-o", "ConnectTimeout=15"])
    assert dp.ssh_argv("ssh://h:2222", [])[1:3] == ["-p", "2222"]


class FakeAPI:
    def __init__(self) -> None:
        self.services: dict[str, dict] = {}

    def inspect_distribution(self, image: str) -> dict:
        return {"Descriptor": {"digest": "sha256:abc"}, "Platforms": [{"architecture": "amd64", "os": "linux"}]}

    def create_service(self, **kw: Any) -> dict:
        if any(s["Name"] == kw["name"] for s in self.services.values()):
            raise docker.errors.APIError(
                "rpc error: code = AlreadyExists desc = name conflicts with an existing object"
            )
        sid = f"svc{len(self.services)}"
        self.services[sid] = {"Name": kw["name"], "TaskTemplate": kw["task_template"], "Mode": kw["mode"],
                              "EndpointSpec": kw["endpoint_spec"]}  # fmt: skip
        return {"ID": sid}

    def inspect_service(self, sid: str) -> dict:
        return {"Spec": self.services[sid], "Version": {"Index": 1}}

    def nodes(self) -> list:
        return []

    def tasks(self, filters: dict) -> list:
        return [{"Status": {"State": "running"}, "NodeID": "n"}] * 2


class FakeClient:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api

    def close(self) -> None:
        pass


def test_create_pins_the_image_and_does_not_upsert() -> None:
    api = FakeAPI()
    prov = dp.DockerProvider("service", client_for=lambda cfg: FakeClient(api), sleep=lambda s: None)
    ctx = Ctx("urn", "svc", "docker:index/service:Service")
    sid, out = prov.create(ctx, INPUTS)
    assert out["taskSpec"]["containerSpec"]["image"] == "10.77.0.1:5000/testapp:lab@sha256:abc"
    assert out["taskSpec"]["placement"]["platforms"] == [{"architecture": "amd64", "os": "linux"}]
    assert out["convergeConfig"] == INPUTS["convergeConfig"]  # never read back
    with pytest.raises(docker.errors.APIError, match="name conflicts"):
        prov.create(ctx, INPUTS)
    assert prov.diff(ctx, Old("urn", "t", "svc", sid, INPUTS, out), INPUTS, []).changes


def test_create_waits_as_the_provider_does() -> None:
    """Converge (the converge delay, then refreshes 5 s, then 10 s apart) and the Read's
    own 2 s delay (resource_docker_service_funcs.go v4.5.0 over terraform-plugin-sdk
    v2.40.1's StateChangeConf): tasks running from 12 s are seen at 17 s (delay 2 s:
    refreshes at 2, 7, 17 s), and the create returns at 19 s."""
    now = [0.0]
    asked: list[float] = []

    class SlowAPI(FakeAPI):
        def tasks(self, filters: dict) -> list:
            asked.append(now[0])
            state = "running" if now[0] >= 12.0 else "starting"
            return [{"ID": "t", "Status": {"State": state}, "NodeID": "n"}] * 2

    def sleep(s: float) -> None:
        now[0] += s

    prov = dp.DockerProvider("service", client_for=lambda cfg: FakeClient(SlowAPI()), sleep=sleep, clock=lambda: now[0])
    prov.create(
        Ctx("urn", "svc", "docker:index/service:Service"),
        {**INPUTS, "convergeConfig": {"delay": "2s", "timeout": "5m"}},
    )
    assert asked == [2.0, 7.0, 17.0] and now[0] == 19.0

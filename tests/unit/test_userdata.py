"""User data: rendered by a pure function, valid per cloud-init's own schema (`cloud-init
schema`, in one process: the session's cloud_config_check, tests/conftest.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from components.userdata import UserData, render_user_data
from tests.skips import needs

needs_cloud_init = needs("cloud-init")


def test_installs_and_enables_docker_for_the_login_user() -> None:
    text = render_user_data(UserData("swarm-worker-1", "ubuntu"))
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert doc["hostname"] == "swarm-worker-1"
    assert "docker.io" in doc["packages"]
    assert ["systemctl", "enable", "--now", "docker"] in doc["runcmd"]
    assert ["usermod", "-aG", "docker", "ubuntu"] in doc["runcmd"]
    daemon = next(f for f in doc["write_files"] if f["path"] == "/etc/docker/daemon.json")
    assert json.loads(daemon["content"]) == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
    }


def test_insecure_registries_reach_daemon_json() -> None:
    doc = yaml.safe_load(render_user_data(UserData("n1", "debian", ("10.78.0.1:5000",))))
    daemon = next(f for f in doc["write_files"] if f["path"] == "/etc/docker/daemon.json")
    assert json.loads(daemon["content"])["insecure-registries"] == ["10.78.0.1:5000"]
    with pytest.raises(ValueError):
        render_user_data(UserData("n1", "debian", ("evil\nruncmd: [reboot]",)))


@pytest.mark.parametrize(("host", "user"), [("Bad_Host", "ubuntu"), ("ok", "root; rm -rf /"), ("ok", "$(id)")])
def test_unsafe_values_are_refused(host: str, user: str) -> None:
    with pytest.raises(ValueError):
        render_user_data(UserData(host, user))


@needs_cloud_init
@pytest.mark.parametrize(
    "ud",
    [
        UserData("swarm-manager-1", "ubuntu"),
        UserData("swarm-worker-9", "debian", ("10.78.0.1:5000", "reg.internal")),
        UserData(
            "n1",
            "root",
            (),
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n", "ssh-ed25519 AAAA"),
        ),
    ],
)
def test_valid_per_cloud_init_schema(cloud_config_check, ud: UserData) -> None:
    assert cloud_config_check.check(render_user_data(ud)) is None


@needs_cloud_init
def test_schema_check_catches_a_broken_document(cloud_config_check) -> None:
    # Guard for the test above: the checker really rejects a wrong type.
    text = render_user_data(UserData("swarm-manager-1", "ubuntu")).replace(
        "package_update: true", "package_update: [1]"
    )
    assert "is not of type 'boolean'" in (cloud_config_check.check(text) or "")


KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n"


def test_host_key_is_added_to_the_document_unchanged() -> None:
    plain = yaml.safe_load(render_user_data(UserData("n1", "ubuntu")))
    doc = yaml.safe_load(render_user_data(UserData("n1", "ubuntu", (), (KEY, "ssh-ed25519 AAAAC3Nz"))))
    extra = {k: v for k, v in doc.items() if k not in plain}
    assert {k: v for k, v in doc.items() if k in plain} == plain
    assert extra == {
        "ssh_keys": {"ed25519_private": KEY, "ed25519_public": "ssh-ed25519 AAAAC3Nz"},
        "ssh_deletekeys": True,
        "ssh_genkeytypes": ["ed25519"],
    }


def test_a_template_that_sets_ssh_keys_itself_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Appending the host key to such a template would give the document two ssh_keys.
    import components.userdata as mod

    original = mod.script_text("cloud-init.yaml")
    monkeypatch.setattr(mod, "script_text", lambda name: original + "ssh_keys: {}\n")
    with pytest.raises(ValueError, match="ssh_keys"):
        render_user_data(UserData("n1", "ubuntu", (), (KEY, "ssh-ed25519 AAAAC3Nz")))


def test_only_the_packages_a_node_needs() -> None:
    # docker.io's Recommends (git, needrestart, perl, ...) are not installed; the two
    # a node needs are listed instead (see scripts/cloud-init.yaml).
    doc = yaml.safe_load(render_user_data(UserData("n1", "ubuntu")))
    assert 'APT::Install-Recommends "false";' in doc["apt"]["conf"]
    assert {"docker.io", "apparmor", "ca-certificates", "curl"} <= set(doc["packages"])


@pytest.mark.parametrize(
    "reg",
    ["10.0.0.5:5000\n", "10.0.0.5:99999", "10.0.0.5:\u0665\u0660\u0660\u0660", "-", "-reg", "reg-", "a..b", "reg:0",
     "http://reg:5000", "reg:5000/path", "r\u00e9g.example", "10.0.0.0/24", "[::1]:5000", "", "reg:"],
)  # fmt: skip
def test_registries_dockerd_would_refuse_are_refused(reg: str) -> None:
    """dockerd does not start on an insecure-registries entry it refuses (moby registry/config.go)."""
    from components.userdata import registry_problems

    assert registry_problems([reg]) == [(reg, registry_problems([reg])[0][1])]
    with pytest.raises(ValueError):
        render_user_data(UserData("n1", "ubuntu", (reg,)))


@pytest.mark.parametrize("reg", ["10.78.0.1:5000", "reg.internal", "my-reg.example.com:65535", "localhost:1", "a"])
def test_registries_dockerd_takes_pass(reg: str) -> None:
    from components.userdata import registry_problems

    assert registry_problems([reg]) == []

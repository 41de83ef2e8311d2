"""The stack's config as the Pulumi CLI builds it (lab/engine/config.py)."""

from __future__ import annotations

import pytest

from lab.engine.config import ConfigError, Secret, build

PROJECT = {
    "name": "docker-swarm",
    "config": {
        "managerCount": {"type": "integer", "default": 1},
        "autolock": {"type": "boolean", "default": False},
        "sshUser": {"type": "string", "default": "ubuntu"},
        "cidrs": {"type": "array", "items": {"type": "string"}, "default": []},
    },
}


def with_keys(**decls: dict) -> dict:
    return {**PROJECT, "config": {**PROJECT["config"], **decls}}


def test_defaults_are_merged_as_plain_values() -> None:
    cfg = build(PROJECT, "lab", {"docker-swarm:sshUser": "root", "aws:region": "x"})
    assert cfg.values == {"docker-swarm:managerCount": 1, "docker-swarm:autolock": False,
                          "docker-swarm:sshUser": "root", "docker-swarm:cidrs": [], "aws:region": "x"}  # fmt: skip
    assert cfg.secret_keys == set()


def test_an_undeclared_key_set_as_secret_passes() -> None:
    cfg = build(PROJECT, "lab", {"sshPrivateKey": Secret("KEY")})
    assert cfg.values["docker-swarm:sshPrivateKey"] == "KEY"
    assert cfg.secret_keys == {"docker-swarm:sshPrivateKey"}
    assert cfg.short_secret_keys("docker-swarm") == ("sshPrivateKey",)


def test_a_secret_key_with_a_plain_value_fails() -> None:
    p = with_keys(sshPrivateKey={"type": "string", "secret": True})
    with pytest.raises(ConfigError) as e:
        build(p, "lab", {"sshPrivateKey": "plain"})
    assert str(e.value) == ("validating stack config: Stack 'lab' with configuration key 'sshPrivateKey' "
                            "must be encrypted as it's secret")  # fmt: skip
    assert build(p, "lab", {"sshPrivateKey": Secret("k")}).secret_keys == {"docker-swarm:sshPrivateKey"}


def test_a_secret_key_left_to_its_default_fails() -> None:
    p = with_keys(sshPrivateKey={"type": "string", "secret": True, "default": ""})
    with pytest.raises(ConfigError, match="'sshPrivateKey' must be encrypted as it's secret"):
        build(p, "lab", {})


def test_missing_values_are_reported_together() -> None:
    p = with_keys(a={"type": "string"}, b={"type": "string"}, c={"type": "integer"})
    with pytest.raises(ConfigError) as e:
        build(p, "dev", {})
    assert str(e.value) == "validating stack config: Stack 'dev' is missing configuration values 'a', 'b' and 'c'"
    with pytest.raises(ConfigError, match=r"^validating stack config: Stack 'dev' is missing configuration value 'a'$"):
        build(p, "dev", {"b": "x", "c": 1})


@pytest.mark.parametrize(
    ("key", "value", "type_"),
    [("managerCount", "two", "integer"), ("managerCount", 1.5, "integer"), ("autolock", "yes", "boolean"),
     ("autolock", "True", "boolean"), ("sshUser", 3, "string"), ("cidrs", '["a"]', "array<string>"),
     ("cidrs", [1], "array<string>")],
)  # fmt: skip
def test_types_are_checked(key: str, value: object, type_: str) -> None:
    with pytest.raises(ConfigError) as e:
        build(PROJECT, "lab", {key: value})
    assert (
        str(e.value) == f"validating stack config: Stack 'lab' with configuration key '{key}' must be of type '{type_}'"
    )


@pytest.mark.parametrize(("key", "value"), [("managerCount", "3"), ("managerCount", 3.0), ("autolock", "true"),
                                            ("autolock", True), ("cidrs", ["10.0.0.0/8"])])  # fmt: skip
def test_values_the_cli_accepts(key: str, value: object) -> None:
    assert build(PROJECT, "lab", {key: value}).values[f"docker-swarm:{key}"] == value


def test_set_values_override_the_stack_as_plain_strings() -> None:
    cfg = build(PROJECT, "lab", {"managerCount": 1}, overrides={"managerCount": "3"})
    assert cfg.values["docker-swarm:managerCount"] == "3"


def test_a_default_of_the_wrong_type_fails_at_project_load() -> None:
    with pytest.raises(ConfigError, match="The default value specified for configuration key 'n' is not of the "
                                          "expected type 'integer'"):  # fmt: skip
        build(with_keys(n={"type": "integer", "default": "x"}), "lab", {})


def test_destroy_without_run_program_does_not_validate() -> None:
    p = with_keys(a={"type": "string"})
    assert "docker-swarm:a" not in build(p, "lab", {}, validate=False).values


def test_the_real_project_file_with_the_lab_stack() -> None:
    """Pulumi.yaml + Pulumi.lab.yaml + the lab's key, as lab.engine builds them."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((root / "Pulumi.lab.yaml").read_text())["config"]
    decl = (project.get("config") or {}).get("sshPrivateKey")
    values = {**stack, "sshPublicKey": "ssh-ed25519 AAAA lab", "sshPrivateKey": Secret("KEY")}
    cfg = build(project, "lab", values)
    assert cfg.values["docker-swarm:sshPrivateKey"] == "KEY"
    if decl and decl.get("secret"):
        with pytest.raises(ConfigError, match="must be encrypted"):
            build(project, "lab", {**values, "sshPrivateKey": "KEY"})


def test_a_secret_set_value_is_sealed_in_the_lab_state(tmp_path) -> None:
    """`config set --secret` from the lab's Python API: kept sealed in the state file."""
    from lab.engine import SEALED, config_values
    from lab.engine.config import Secret
    from lab.engine.state import State

    st = State(tmp_path)
    st.config["sshPrivateKey"] = {SEALED: st.vault.seal("-----BEGIN OPENSSH PRIVATE KEY-----")}
    st.config["workerCount"] = "3"
    st.save()
    assert "PRIVATE KEY" not in (tmp_path / "stack.json").read_text()
    again = config_values(State(tmp_path))
    assert again == {"sshPrivateKey": Secret("-----BEGIN OPENSSH PRIVATE KEY-----"), "workerCount": "3"}

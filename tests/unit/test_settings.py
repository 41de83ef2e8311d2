"""Config validation: every bad value fails, with the key, the value and the rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components.settings import DEFAULTS, SECRET_KEYS, ConfigError, Settings, parse

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"sshAllowedCidrs": '["198.51.100.7/32"]'}
PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl you@host"


def problems(**raw: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse({**GOOD, **raw})
    return err.value.problems


BAD = [
    # key, value, a fragment of the rule
    ("managerCount", "2", "must be odd"),
    ("managerCount", "0", "from 1 to 7"),
    ("managerCount", "9", "from 1 to 7"),
    ("managerCount", "three", "integer"),
    ("workerCount", "-1", "from 0 to 100"),
    ("workerCount", "101", "from 0 to 100"),
    ("instanceType", " ", "non-empty"),
    ("vpcCidr", "10.0.0.0/8", "/16 to /24"),
    ("vpcCidr", "10.0.0.0/25", "/16 to /24"),
    ("vpcCidr", "10.0.0.1/16", "valid IPv4 CIDR"),
    ("vpcCidr", "fd00::/64", "IPv4"),
    ("azCount", "0", "from 1 to 6"),
    ("azCount", "7", "from 1 to 6"),
    ("sshAllowedCidrs", "[]", "pulumi config set --path 'sshAllowedCidrs[0]'"),
    ("sshAllowedCidrs", '["0.0.0.0/0"]', "allowSshFromAnywhere"),
    ("sshAllowedCidrs", '["::/0"]', "allowSshFromAnywhere"),
    ("sshAllowedCidrs", '["300.1.2.3/32"]', "valid CIDR"),
    ("sshAllowedCidrs", '["10.1.2.3/24"]', "did you mean 10.1.2.0/24"),
    ("sshAllowedCidrs", "198.51.100.7/32", "list of strings"),
    ("appAllowedCidrs", '["nope"]', "valid CIDR"),
    ("appAllowedCidrs", "[]", "at least one"),
    ("sshPublicKey", "ssh-ed25519", "OpenSSH public key"),
    ("sshPublicKey", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "does not match"),
    ("sshPublicKey", "ssh-ed25519 not*base64", "not base64"),
    ("sshUser", "Root User", "Linux user name"),
    ("serviceName", "-bad", "[a-zA-Z0-9_.-]"),
    ("serviceName", "x" * 64, "1-63"),
    ("serviceImage", "my image", "without spaces"),
    ("serviceReplicas", "0", "from 1 to 1000"),
    ("servicePublishedPort", "0", "from 1 to 65535"),
    ("servicePublishedPort", "70000", "from 1 to 65535"),
    ("servicePublishedPort", "2377", "swarm management"),
    ("servicePublishedPort", "4789", "VXLAN"),
    ("servicePublishedPort", "7946", "gossip"),
    ("servicePublishedPort", "22", "SSH"),
    ("serviceTargetPort", "65536", "from 1 to 65535"),
    ("smokeTestMode", "both", "mesh, tasks"),
    ("rootVolumeGb", "4", "from 8 to 1024"),
    ("allowSshFromAnywhere", "yes", "true or false"),
    ("managercount", "3", "not a known key"),
    ("dockerInsecureRegistries", '["http://10.0.0.5:5000"]', "host[:port]"),
]


@pytest.mark.parametrize(("key", "value", "rule"), BAD, ids=[f"{k}={v[:20]}" for k, v, _ in BAD])
def test_each_bad_value_is_reported_with_key_value_and_rule(key: str, value: str, rule: str) -> None:
    found = problems(**{key: value})
    assert len(found) == 1, found
    assert found[0].startswith(f"{key} = "), found
    # The offending value appears in the message (the rejected list element, or the value itself).
    shown = found[0].split(": ", 1)[0]
    assert (
        any(part.strip("[]\"'") in shown for part in re.split(r'[",\s]+', value) if part.strip("[]\"'"))
        or value in shown
    )
    assert rule in found[0]


def test_all_problems_are_reported_together() -> None:
    found = problems(managerCount="2", workerCount="500", servicePublishedPort="2377", vpcCidr="nope")
    assert [p.split(" ")[0] for p in found] == ["managerCount", "workerCount", "vpcCidr", "servicePublishedPort"]


def test_missing_ssh_cidrs_names_the_exact_command() -> None:
    with pytest.raises(ConfigError) as err:
        parse({})
    assert "pulumi config set --path 'sshAllowedCidrs[0]'" in str(err.value)


def test_world_ssh_is_allowed_only_when_asked_for() -> None:
    s = parse({"sshAllowedCidrs": '["0.0.0.0/0"]', "allowSshFromAnywhere": "true"})
    assert s.ssh_allowed_cidrs == ("0.0.0.0/0",)


def test_private_key_without_public_key_is_refused() -> None:
    found = problems(sshPrivateKey="-----BEGIN OPENSSH PRIVATE KEY-----")
    assert found == [
        "sshPrivateKey = '[secret]': is set but sshPublicKey is not: set both, or neither to generate a key"
    ]
    # ...and the secret itself is not in the message
    assert "BEGIN" not in found[0]


def test_subnet_capacity_is_checked_across_keys() -> None:
    # /24 VPC -> /28 subnets -> 11 usable addresses; 1 + 100 nodes over 3 zones needs 34.
    found = problems(vpcCidr="10.0.0.0/24", workerCount="100")
    assert len(found) == 1 and "11 usable addresses" in found[0] and "34 nodes" in found[0]


def test_az_count_is_capped_by_the_region() -> None:
    s = parse(GOOD, available_azs=2)
    assert s.az_count == 2


def test_defaults() -> None:
    s = parse(GOOD)
    assert isinstance(s, Settings)
    assert (s.manager_count, s.worker_count, s.az_count) == (1, 2, 3)
    assert (s.service_published_port, s.service_target_port, s.service_replicas) == (5001, 5000, 2)
    assert s.service_image == "shaikkhajaibrahim/qttestapp:1.0"
    assert s.app_allowed_cidrs == ("0.0.0.0/0",)
    assert s.ssh_public_key is None and s.ssh_private_key is None


def test_valid_public_key_is_kept() -> None:
    assert parse({**GOOD, "sshPublicKey": PUB}).ssh_public_key == PUB


def test_pulumi_yaml_documents_every_key_with_the_same_default() -> None:
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    # Secret keys are optional and undeclared (see the next test).
    assert set(schema) == set(DEFAULTS) - SECRET_KEYS
    for key, spec in schema.items():
        assert spec.get("description"), key
        assert spec.get("type") in {"string", "integer", "boolean", "array"}, key
        assert spec.get("default") == DEFAULTS[key], key


def test_dev_stack_sets_everything_but_ssh_cidrs() -> None:
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    assert dev["aws:region"]
    assert "docker-swarm:sshAllowedCidrs" not in dev
    raw = {k.split(":", 1)[1]: str(v) for k, v in dev.items() if k.startswith("docker-swarm:")}
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert [p.split(" ")[0] for p in err.value.problems] == ["sshAllowedCidrs"]


@pytest.mark.parametrize(
    "key,values",
    [
        ("sshAllowedCidrs", ["198.51.100.7/32", "198.51.100.7/32"]),
        ("sshAllowedCidrs", ["2001:db8::/32", "2001:0db8::/32"]),  # two spellings, one network
        ("sshAllowedCidrs", ["198.51.100.7/32", " 198.51.100.7/32"]),
        ("appAllowedCidrs", ["0.0.0.0/0", "0.0.0.0/0"]),
    ],
)
def test_a_cidr_listed_twice_is_refused(key: str, values: list[str]) -> None:
    """Each CIDR is one firewall rule named after it; the engine refuses two resources
    with one name (duplicate URN), after half the stack exists."""
    import json

    found = problems(**{key: json.dumps(values)})
    assert len(found) == 1 and found[0].startswith(f"{key} = {values[1]!r}") and "listed before" in found[0]


def test_no_declared_key_is_secret_with_a_default() -> None:
    """The CLI merges project defaults into the stack's config as plain values, then
    refuses a plain value for a secret key: "Stack 'dev' with configuration key
    'sshPrivateKey' must be encrypted as it's secret" (pulumi/pulumi pkg/workspace/
    config.go, validateStackConfigValue). So every stack that does not set the key
    would be refused before the program runs."""
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert not [k for k, spec in schema.items() if spec.get("secret") and "default" in spec]
    assert not SECRET_KEYS & set(schema)

"""Config validation: every bad value fails, with the key, the value and the rule."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components.settings import SECRET_KEYS, ConfigError, Settings, parse

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
    ("instanceType", " ", "EC2 instance type"),
    ("vpcCidr", "10.0.0.0/8", "/16 to /24"),
    ("vpcCidr", "10.0.0.0/25", "/16 to /24"),
    ("vpcCidr", "10.0.0.1/16", "valid IPv4 CIDR"),
    ("vpcCidr", "fd00::/64", "IPv4"),
    ("azCount", "0", "from 1 to 6"),
    ("azCount", "7", "from 1 to 6"),
    ("sshAllowedCidrs", "[]", "pulumi config set --path 'sshAllowedCidrs[0]'"),
    ("sshAllowedCidrs", '["0.0.0.0/0"]', "allowSshFromAnywhere"),
    ("sshAllowedCidrs", '["300.1.2.3/32"]', "valid CIDR"),
    ("sshAllowedCidrs", '["10.1.2.3/24"]', "did you mean 10.1.2.0/24"),
    ("sshAllowedCidrs", "198.51.100.7/32", "list of strings"),
    ("appAllowedCidrs", '["nope"]', "valid CIDR"),
    ("appAllowedCidrs", "[]", "at least one"),
    ("sshPublicKey", "ssh-ed25519", "OpenSSH public key"),
    ("sshPublicKey", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "does not match"),
    ("sshPublicKey", "ssh-ed25519 not*base64", "not base64"),
    ("sshUser", "Root User", "Linux user name"),
    ("serviceName", "-bad", "DNS name component"),
    ("serviceName", "x" * 64, "1-63"),
    ("serviceImage", "my image", "image reference"),
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
    ("dockerInsecureRegistries", '["http://10.0.0.5:5000"]', "host[:port]"),
]


# Values that passed before the schema, and failed (or did harm) only during a deployment.
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFlJXZb5Jfdrr49Hk1USW4ObOEPTb1L08"
    "nsrZLCcQjZYPCraZ5+FGZe4BFxYxiD+qy4RKunXqAfl/iVkAt5biYw= you@host"
)
NEW_BAD = [
    # SSH open to the whole internet, by a union of CIDRs or one block larger than anyone owns
    ("sshAllowedCidrs", '["0.0.0.0/1", "128.0.0.0/1"]', "covers the whole internet"),
    ("sshAllowedCidrs", '["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]', "covers the whole internet"),
    ("sshAllowedCidrs", '["::/1", "8000::/1"]', "covers the whole internet"),
    ("sshAllowedCidrs", '["10.0.0.0/7"]', "larger than a /8"),
    # IPv6 peers: the VPC is IPv4-only, so the readiness gates would wait 20 minutes
    ("sshAllowedCidrs", '["2001:db8::/64"]', "must be an IPv4 CIDR"),
    ("appAllowedCidrs", '["::/0"]', "must be an IPv4 CIDR"),
    ("sshAllowedCidrs", '["::/0"]', "must be an IPv4 CIDR"),
    # swarmkit's service name rule (a DNS name component)
    ("serviceName", "my.app", "DNS name component"),
    ("serviceName", "app-", "DNS name component"),
    ("serviceName", "app_", "DNS name component"),
    ("serviceName", "a..b", "DNS name component"),
    # what dockerd refuses in daemon.json (and then does not start)
    ("dockerInsecureRegistries", json.dumps(["10.0.0.5:5000\n"]), "as dockerd takes it"),
    ("dockerInsecureRegistries", '["10.0.0.5:99999"]', "as dockerd takes it"),
    ("dockerInsecureRegistries", json.dumps(["10.0.0.5:\u0665\u0660\u0660\u0660"]), "as dockerd takes it"),
    ("dockerInsecureRegistries", '["-"]', "as dockerd takes it"),
    ("dockerInsecureRegistries", '["-reg.internal"]', "as dockerd takes it"),
    ("dockerInsecureRegistries", '["reg..internal:5000"]', "as dockerd takes it"),
    ("dockerInsecureRegistries", '["10.0.0.5:0"]', "as dockerd takes it"),
    # what EC2 ImportKeyPair refuses
    ("sshPublicKey", ECDSA, "EC2 imports only these types: ssh-ed25519, ssh-rsa"),
    ("sshPublicKey", "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t x", "EC2 imports"),
    ("sshPublicKey", "ssh-rsa", "OpenSSH public key line"),
    ("sshPublicKey", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAUE= you@host", "does not match its type"),
    # image values that docker would read as options, or not parse
    ("serviceImage", "-x", "image reference"),
    ("smokeProbeImage", "--privileged", "image reference"),
    ("serviceImage", "Nginx:1.27", "image reference"),
    ("smokeProbeImage", "busybox:1.36 --rm", "image reference"),
    # integers Python's int() takes and the CLI's typed config does not mean
    ("managerCount", "+3", "ASCII digits only"),
    ("managerCount", "\u0663", "ASCII digits only"),
    ("workerCount", "1_1", "ASCII digits only"),
    ("rootVolumeGb", "\uff12\uff10", "ASCII digits only"),
    # an instance type that cannot be one (the region's look-up: tests/program)
    ("instanceType", "t3 micro", "EC2 instance type"),
]


@pytest.mark.parametrize(("key", "value", "rule"), NEW_BAD, ids=[f"{k}={v[:24]!r}" for k, v, _ in NEW_BAD])
def test_each_new_bad_value_is_refused_with_its_key(key: str, value: str, rule: str) -> None:
    found = problems(**{key: value})
    assert all(p.startswith(f"{key} = ") for p in found), found
    assert any(rule in p for p in found), found


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
        ("sshAllowedCidrs", ["198.51.100.0/24", "198.51.100.0/255.255.255.0"]),  # two spellings, one network
        ("sshAllowedCidrs", ["198.51.100.7/32", " 198.51.100.7/32"]),
        ("appAllowedCidrs", ["0.0.0.0/0", "0.0.0.0/0"]),
    ],
)
def test_a_cidr_listed_twice_is_refused(key: str, values: list[str]) -> None:
    """Each CIDR is one firewall rule named after it; the engine refuses two resources
    with one name (duplicate URN), after half the stack exists."""
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


PRIVATE = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBTaGhoVGhpc0lzVGhlU2VjcmV0UGFydE9mVGhlS2V5MDAwMDAwMDAwAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.mark.parametrize(
    "raw",
    [
        {"sshPrivatekey": PRIVATE},  # a secret key's name misspelt: not a known key
        {"SSHPRIVATEKEY": PRIVATE, "managerCount": "2"},
        {"sshPrivateKey": PRIVATE, "managerCount": "2", "serviceName": "my.app"},  # no public key, and others
        {"sshPrivateKey": PRIVATE, "sshPublicKey": PRIVATE},  # the private half given as the public one
        {"sshPublicKey": PRIVATE.replace("\n", " ")},
    ],
    ids=["typo", "upper-case", "right-name", "as-public-key", "as-public-key-one-line"],
)
def test_no_message_holds_a_secret_value(raw: dict[str, str]) -> None:
    """The CLI masks a secret only where it appears as given; a message must not hold it."""
    text = str(ConfigError(problems(**raw)))
    for line in PRIVATE.splitlines():
        assert line not in text
    assert "QyNTUxOQAAACBTaGho" not in text and "b3BlbnNzaC1rZXkt" not in text


def test_a_misspelt_key_is_named_with_the_key_it_resembles() -> None:
    (found,) = problems(sshPrivatekey=PRIVATE)
    assert found.startswith("sshPrivatekey = <not shown>: is not a known key (did you mean sshPrivateKey?)")
    (found,) = problems(managercount="3")
    assert "did you mean managerCount?" in found and "3" not in found.split(":")[0]


RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCub7ju5JOVOemZp9/uiV1x2lRu2779d8EYucJWVG0+midYQPw/z1ae6LndSPZ0gwB1lm4Kg"
    "FDcmxVaiZzsD8lsHTRcNaFdQaMyFOlRqpm/FIATSC0hUiZ3D0Roj5lonNCtHV5Ca6t0vvf+5q8jl1FyoMBKkm1OGRDo63j9FIYyJcehU3BrK4Fw"
    "DOjnSc3ma0FXJcr9UJ8qEK8L4fDenVcLEMi9pxNdzyNTRDqQlEMZ0zaXcAiFeHDRT3bCDFn0XvFE7WSAy9u7QyKZxwAnk3tHnCKPm0bokcUzPF7"
    "XM7spqgcZsTL/cP3R4YUZA6yJOxYQqvvsM29rKWaDxxN6aAbN you@host"
)


def test_good_values_near_the_new_rules_pass() -> None:
    s = parse(
        {
            **GOOD,
            "sshPublicKey": RSA,
            "sshAllowedCidrs": '["10.0.0.0/8", "0.0.0.0/1"]',  # broad, but asked for
            "allowSshFromAnywhere": "true",
            "serviceName": "my_app-2",
            "serviceImage": "registry.example.com:5000/team/app:v1@sha256:" + "ab" * 32,
            "smokeProbeImage": "[fd00::1]:5000/probe",
            "dockerInsecureRegistries": '["10.78.0.1:5000", "reg.internal", "my-reg.example.com:65535"]',
            "managerCount": "3",
            "workerCount": "-0",
        }
    )
    assert s.ssh_public_key == RSA and s.service_name == "my_app-2"
    assert s.docker_insecure_registries == ("10.78.0.1:5000", "reg.internal", "my-reg.example.com:65535")
    assert (s.manager_count, s.worker_count) == (3, 0)


def test_additional_public_keys_are_checked_like_the_key() -> None:
    found = problems(sshAdditionalPublicKeys='["ecdsa-sha2-nistp256 AAAA x"]')
    assert len(found) == 1 and found[0].startswith("sshAdditionalPublicKeys = ")
    twice = problems(sshAdditionalPublicKeys=f'["{PUB}", "{PUB}"]')
    assert any("lists a key twice" in p for p in twice)
    assert parse({**GOOD, "sshAdditionalPublicKeys": f'["{PUB}"]'}).ssh_additional_public_keys == (PUB,)

"""Stack configuration: read once, validated once, frozen.

This module is the only reader of ``pulumi.Config``. Every problem with the
configuration is collected and reported in one error before any resource is
registered, so a typo never leaves a half-built stack behind.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.userdata import REGISTRY

# Ports the swarm itself needs between members (cluster management, gossip,
# VXLAN data plane) and SSH: the service may not publish on any of them.
SWARM_PORTS = {2377: "swarm management", 7946: "swarm gossip", 4789: "VXLAN data plane"}
SSH_PORT = 22
RESERVED_PORTS = {SSH_PORT: "SSH", **SWARM_PORTS}

WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})

# AWS keeps 5 addresses of every subnet for itself.
AWS_RESERVED_PER_SUBNET = 5
# Subnets are carved this many bits below the VPC prefix (16 slots): enough for
# the 6 AZs we allow and room to add private subnets later without renumbering.
SUBNET_EXTRA_BITS = 4

SMOKE_MODES = ("mesh", "tasks")

# Docker's own rule for service names (daemon/names.go) plus its 63-char DNS limit.
_SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
_SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class ConfigError(pulumi.RunError):
    """All configuration problems of a stack, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Settings:
    """Validated stack settings. Field names mirror the config keys."""

    manager_count: int
    worker_count: int
    instance_type: str
    root_volume_gb: int
    vpc_cidr: str
    az_count: int
    ssh_allowed_cidrs: tuple[str, ...]
    allow_ssh_from_anywhere: bool
    app_allowed_cidrs: tuple[str, ...]
    ssh_public_key: str | None
    ssh_private_key: pulumi.Output[str] | None
    ssh_user: str
    service_name: str
    service_image: str
    service_replicas: int
    service_published_port: int
    service_target_port: int
    smoke_test_mode: str
    smoke_probe_image: str
    docker_insecure_registries: tuple[str, ...]
    encrypted_overlay: bool
    autolock: bool
    pin_host_keys: bool

    @property
    def node_count(self) -> int:
        return self.manager_count + self.worker_count


# key -> (default, description). The defaults here and in Pulumi.yaml's `config:`
# block must agree; tests/unit/test_settings.py checks that they do.
DEFAULTS: dict[str, Any] = {
    "managerCount": 1,
    "workerCount": 2,
    "instanceType": "t3.micro",
    "rootVolumeGb": 20,
    "vpcCidr": "10.0.0.0/16",
    "azCount": 3,
    "sshAllowedCidrs": [],
    "allowSshFromAnywhere": False,
    "appAllowedCidrs": ["0.0.0.0/0"],
    "sshPublicKey": "",
    "sshPrivateKey": "",
    "sshUser": "ubuntu",
    "serviceName": "testapp",
    "serviceImage": "shaikkhajaibrahim/qttestapp:1.0",
    "serviceReplicas": 2,
    "servicePublishedPort": 5001,
    "serviceTargetPort": 5000,
    "smokeTestMode": "mesh",
    "smokeProbeImage": "busybox:1.36",
    "dockerInsecureRegistries": [],
    "encryptedOverlay": False,
    "autolock": False,
    "pinHostKeys": True,
}

SECRET_KEYS = frozenset({"sshPrivateKey"})


class _Problems:
    """Collects problems; each names the key, the value and the rule."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, value: Any, rule: str) -> None:
        self.items.append(f"{key} = {value!r}: {rule}")


def _as_int(p: _Problems, key: str, raw: Any, lo: int, hi: int | None) -> int:
    default = DEFAULTS[key]
    if raw is None:
        return default
    rule = f"must be an integer >= {lo}" if hi is None else f"must be an integer from {lo} to {hi}"
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = int(str(raw).strip(), 10)
    except ValueError:
        p.add(key, raw, rule)
        return default
    if value < lo or (hi is not None and value > hi):
        p.add(key, value, rule)
    return value


def _as_bool(p: _Problems, key: str, raw: Any) -> bool:
    if raw is None:
        return DEFAULTS[key]
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    p.add(key, raw, "must be true or false")
    return DEFAULTS[key]


def _as_list(p: _Problems, key: str, raw: Any) -> list[str] | None:
    """A list of strings, given as a YAML/JSON list (config arrays reach the program as JSON)."""
    if raw is None:
        return list(DEFAULTS[key])
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            p.add(key, raw, 'must be a list of strings, e.g. ["203.0.113.7/32"]')
            return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        p.add(key, raw, 'must be a list of strings, e.g. ["203.0.113.7/32"]')
        return None
    return value


def _cidrs(p: _Problems, key: str, values: list[str]) -> tuple[str, ...]:
    good: list[str] = []
    spelled: dict[str, str] = {}  # canonical form -> the spelling first given
    for v in values:
        try:
            net = ipaddress.ip_network(v.strip(), strict=True)
        except ValueError as exc:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f" (did you mean {ipaddress.ip_network(v.strip(), strict=False)}?)"
            p.add(key, v, f"must be a valid CIDR with no host bits set{hint}: {exc}")
            continue
        if str(net) in spelled:
            # Each CIDR becomes one firewall rule named after it: a second spelling of the
            # same network would register two resources with one name, which the engine
            # refuses mid-deployment (duplicate URN).
            p.add(key, v, f"is the same network as {spelled[str(net)]!r}, listed before it: list each CIDR once")
            continue
        spelled[str(net)] = v
        good.append(str(net))
    return tuple(good)


def _ssh_public_key(p: _Problems, raw: Any) -> str | None:
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    parts = text.split()
    rule = "must be one OpenSSH public key line, e.g. 'ssh-ed25519 AAAAC3... you@host'"
    if len(parts) < 2 or parts[0] not in _SSH_KEY_TYPES or "\n" in text:
        p.add("sshPublicKey", _shorten(text), rule)
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        p.add("sshPublicKey", _shorten(text), rule + " (the key body is not base64)")
        return None
    # The blob starts with the key type as an SSH string: it must match the prefix.
    n = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + n].decode("ascii", "replace") != parts[0]:
        p.add("sshPublicKey", _shorten(text), rule + " (the key body does not match its type)")
        return None
    return text


def _shorten(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."


def parse(raw: Mapping[str, Any], available_azs: int | None = None) -> Settings:
    """Validate raw config values (strings, as Pulumi hands them over) into Settings.

    Raises ConfigError listing every problem. Pure: no Pulumi calls except
    wrapping the private key (already a secret Output, or None) through.
    """
    p = _Problems()
    unknown = sorted(set(raw) - set(DEFAULTS))
    for key in unknown:
        p.add(key, raw[key], f"is not a known key; known keys: {', '.join(sorted(DEFAULTS))}")

    managers = _as_int(p, "managerCount", raw.get("managerCount"), 1, 7)
    if managers % 2 == 0 and 1 <= managers <= 7:
        p.add("managerCount", managers, "must be odd (1, 3, 5 or 7) so Raft keeps a majority")
    workers = _as_int(p, "workerCount", raw.get("workerCount"), 0, 100)

    instance_type = str(raw.get("instanceType", DEFAULTS["instanceType"])).strip()
    if not instance_type:
        p.add("instanceType", raw.get("instanceType"), "must be a non-empty EC2 instance type, e.g. t3.micro")
    root_gb = _as_int(p, "rootVolumeGb", raw.get("rootVolumeGb"), 8, 1024)

    vpc_cidr = str(raw.get("vpcCidr", DEFAULTS["vpcCidr"])).strip()
    vpc_prefix = None
    try:
        vpc = ipaddress.ip_network(vpc_cidr, strict=True)
        if vpc.version != 4 or not 16 <= vpc.prefixlen <= 24:
            p.add("vpcCidr", vpc_cidr, "must be an IPv4 CIDR from /16 to /24 (AWS allows no larger VPC)")
        else:
            vpc_prefix = vpc.prefixlen
    except ValueError as exc:
        p.add("vpcCidr", vpc_cidr, f"must be a valid IPv4 CIDR from /16 to /24: {exc}")

    az_count = _as_int(p, "azCount", raw.get("azCount"), 1, 6)
    if available_azs is not None and az_count >= 1:
        az_count = min(az_count, available_azs)

    ssh_list = _as_list(p, "sshAllowedCidrs", raw.get("sshAllowedCidrs"))
    allow_world = _as_bool(p, "allowSshFromAnywhere", raw.get("allowSshFromAnywhere"))
    ssh_cidrs: tuple[str, ...] = ()
    if ssh_list is not None:
        if not ssh_list:
            p.add(
                "sshAllowedCidrs",
                ssh_list,
                "is required: the addresses allowed to SSH to the nodes. Set it with "
                "`pulumi config set --path 'sshAllowedCidrs[0]' \"$(curl -s https://checkip.amazonaws.com)/32\"`",
            )
        ssh_cidrs = _cidrs(p, "sshAllowedCidrs", ssh_list)
        for c in ssh_cidrs:
            if c in WORLD_CIDRS and not allow_world:
                p.add(
                    "sshAllowedCidrs",
                    c,
                    "opens SSH to the whole internet; use your own address/32, "
                    "or set allowSshFromAnywhere: true if you really mean it",
                )
    app_list = _as_list(p, "appAllowedCidrs", raw.get("appAllowedCidrs"))
    app_cidrs = _cidrs(p, "appAllowedCidrs", app_list) if app_list is not None else ()
    if app_list is not None and not app_list:
        p.add("appAllowedCidrs", app_list, "must list at least one CIDR that may reach the service")

    pub = _ssh_public_key(p, raw.get("sshPublicKey"))
    private = raw.get("sshPrivateKey") or None
    if private is not None and not str(raw.get("sshPublicKey") or "").strip():
        p.add("sshPrivateKey", "[secret]", "is set but sshPublicKey is not: set both, or neither to generate a key")

    ssh_user = str(raw.get("sshUser", DEFAULTS["sshUser"])).strip()
    if not _LINUX_USER.match(ssh_user):
        p.add("sshUser", ssh_user, "must be a Linux user name (the AMI's login user, 'ubuntu' on Ubuntu)")

    name = str(raw.get("serviceName", DEFAULTS["serviceName"])).strip()
    if not _SERVICE_NAME.match(name):
        p.add("serviceName", name, "must be 1-63 characters of [a-zA-Z0-9_.-], starting with a letter or digit")
    image = str(raw.get("serviceImage", DEFAULTS["serviceImage"])).strip()
    if not image or any(ch.isspace() for ch in image):
        p.add("serviceImage", image, "must be an image reference without spaces, e.g. nginx:1.27")
    replicas = _as_int(p, "serviceReplicas", raw.get("serviceReplicas"), 1, 1000)
    published = _as_int(p, "servicePublishedPort", raw.get("servicePublishedPort"), 1, 65535)
    if published in RESERVED_PORTS:
        p.add(
            "servicePublishedPort",
            published,
            f"is the {RESERVED_PORTS[published]} port; pick a port not in {sorted(RESERVED_PORTS)}",
        )
    target = _as_int(p, "serviceTargetPort", raw.get("serviceTargetPort"), 1, 65535)

    smoke = str(raw.get("smokeTestMode", DEFAULTS["smokeTestMode"])).strip()
    if smoke not in SMOKE_MODES:
        p.add("smokeTestMode", smoke, f"must be one of {', '.join(SMOKE_MODES)}")
    probe = str(raw.get("smokeProbeImage", DEFAULTS["smokeProbeImage"])).strip()
    if not probe or any(ch.isspace() for ch in probe):
        p.add("smokeProbeImage", probe, "must be an image reference without spaces")

    registries = _as_list(p, "dockerInsecureRegistries", raw.get("dockerInsecureRegistries")) or []
    for reg in registries:
        if not REGISTRY.match(reg):
            p.add("dockerInsecureRegistries", reg, "each must be host[:port] of a registry, e.g. 10.0.1.5:5000")

    encrypted = _as_bool(p, "encryptedOverlay", raw.get("encryptedOverlay"))
    autolock = _as_bool(p, "autolock", raw.get("autolock"))
    pin = _as_bool(p, "pinHostKeys", raw.get("pinHostKeys"))

    # Cross-key rule: every subnet must hold its share of the nodes.
    if vpc_prefix is not None and 1 <= az_count <= 6 and managers >= 1 and workers >= 0:
        per_subnet = 2 ** (32 - vpc_prefix - SUBNET_EXTRA_BITS) - AWS_RESERVED_PER_SUBNET
        need = -(-(managers + workers) // az_count)
        if need > per_subnet:
            p.add(
                "vpcCidr",
                vpc_cidr,
                f"gives subnets of {per_subnet} usable addresses, but {need} nodes land in one "
                f"subnet (managerCount + workerCount over azCount={az_count}); use a larger vpcCidr",
            )

    if p.items:
        raise ConfigError(p.items)
    return Settings(
        manager_count=managers,
        worker_count=workers,
        instance_type=instance_type,
        root_volume_gb=root_gb,
        vpc_cidr=vpc_cidr,
        az_count=az_count,
        ssh_allowed_cidrs=ssh_cidrs,
        allow_ssh_from_anywhere=allow_world,
        app_allowed_cidrs=app_cidrs,
        ssh_public_key=pub,
        ssh_private_key=private,
        ssh_user=ssh_user,
        service_name=name,
        service_image=image,
        service_replicas=replicas,
        service_published_port=published,
        service_target_port=target,
        smoke_test_mode=smoke,
        smoke_probe_image=probe,
        docker_insecure_registries=tuple(registries),
        encrypted_overlay=encrypted,
        autolock=autolock,
        pin_host_keys=pin,
    )


def _set_keys(project: str) -> set[str]:
    """Every key set in this project's config namespace, known or not (to catch typos)."""
    # pulumi.Config reads one key at a time and the SDK has no public list of the keys.
    # The language host hands the program the whole stack config as the JSON object
    # in PULUMI_CONFIG (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go;
    # pulumi-language-python-exec loads it from there), and pulumi.runtime.get_config_env()
    # is the SDK's public reader of that variable. harness/run.py sets it the same way.
    prefix = project + ":"
    names = set(pulumi.runtime.get_config_env())
    return {k[len(prefix) :] for k in names if k.startswith(prefix)}


def read_raw(config: pulumi.Config) -> dict[str, Any]:
    """The raw values of every key that is set; the private key as a secret Output."""
    from pulumi.runtime import config as rc

    raw: dict[str, Any] = {}
    for key in sorted(_set_keys(pulumi.get_project()) - set(DEFAULTS)):
        raw[key] = config.get(key)
    for key in DEFAULTS:
        if key in SECRET_KEYS:
            # Look at the raw value only to see whether it is set; read it as a secret.
            if rc.get_config(config.full_key(key)):
                raw[key] = config.require_secret(key)
            continue
        value = config.get(key)
        if value is not None:
            raw[key] = value
    return raw


def load(available_azs: int | None = None) -> Settings:
    """Read and validate the stack's configuration (raises ConfigError)."""
    return parse(read_raw(pulumi.Config()), available_azs)

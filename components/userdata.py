"""Cloud-init user data for the nodes, rendered from scripts/cloud-init.yaml."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from string import Template

import yaml

from components.commands import script_text

_HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A login user cloud-init can create and usermod can name (useradd's default rule).
LOGIN_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_SSH_KEYS = re.compile(r"^ssh_(keys|deletekeys|genkeytypes)\s*:", re.M)

# An insecure registry as dockerd accepts it in daemon.json (moby registry/config.go,
# LoadInsecureRegistries: ValidateIndexName refuses a leading or trailing '-', then
# validateHostPort wants distribution/reference's domain grammar, components of
# [A-Za-z0-9] with inner '-' joined by single dots, and a port of ASCII digits up to
# 65535). dockerd refuses to start on an entry it rejects, on every node. Narrower
# here: host names and IPv4 addresses (no CIDR, no IPv6: the VPC has none), ports from 1.
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
REGISTRY = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::(?P<port>[0-9]{{1,5}}))?")


def registry_problems(values: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """(value, rule) for each entry dockerd would refuse as an insecure registry."""
    found = []
    for reg in values:
        m = REGISTRY.fullmatch(reg)  # fullmatch: `$` would let a trailing newline through
        if m is None or (m["port"] is not None and not 1 <= int(m["port"]) <= 65535):
            found.append((reg, "must be host[:port] of a registry as dockerd takes it, e.g. 10.0.1.5:5000"))
    return found


@dataclass(frozen=True)
class UserData:
    hostname: str
    login_user: str
    # Registries the daemon may pull from over plain HTTP (a private registry on the
    # VPC or, in the VM lab, on the lab's bridge).
    insecure_registries: tuple[str, ...] = ()
    # The node's own SSH host key (private, public), when host keys are pinned.
    host_key: tuple[str, str] | None = field(default=None, repr=False)


def daemon_config(insecure_registries: tuple[str, ...] = ()) -> dict[str, object]:
    """/etc/docker/daemon.json. Log rotation: a chatty service must not fill the disk."""
    cfg: dict[str, object] = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
    if insecure_registries:
        cfg["insecure-registries"] = list(insecure_registries)
    return cfg


def render_user_data(ud: UserData) -> str:
    """The #cloud-config for one node. Pure; raises ValueError on unsafe values."""
    if not _HOSTNAME.fullmatch(ud.hostname):
        raise ValueError(f"bad hostname {ud.hostname!r}")
    if not LOGIN_USER.fullmatch(ud.login_user):
        raise ValueError(f"bad login user {ud.login_user!r}")
    for reg, _ in registry_problems(ud.insecure_registries):
        raise ValueError(f"bad registry {reg!r}")
    text = Template(script_text("cloud-init.yaml")).substitute(
        hostname=ud.hostname,
        login_user=ud.login_user,
        daemon_json=json.dumps(daemon_config(ud.insecure_registries)),
    )
    if ud.host_key is None:
        return text
    if _SSH_KEYS.search(text):
        raise ValueError("scripts/cloud-init.yaml must not set ssh_keys/ssh_deletekeys/ssh_genkeytypes itself")
    private, public = ud.host_key
    # cloud-init installs these as the host's keys, so the deployer knows the key
    # before the first connection and never has to trust one on first use. Appended
    # as top-level keys (the template has none of them): no parse of the whole file.
    ssh = {
        "ssh_keys": {"ed25519_private": private, "ed25519_public": public},
        "ssh_deletekeys": True,
        "ssh_genkeytypes": ["ed25519"],  # only the one we give: nothing else to offer
    }
    return text.rstrip("\n") + "\n" + yaml.dump(ssh, Dumper=_Dumper, sort_keys=False, width=1000)


# libyaml's dumper where PyYAML has it (Debian's and PyPI's wheels do): the same YAML, faster.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

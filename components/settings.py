"""Stack configuration: read once, validated once, frozen.

This module is the only reader of the project's ``pulumi.Config``; what each key
means and allows is the schema's (components/schema.py). Every problem with the
configuration is collected and reported in one error before any resource is
registered, so a typo never leaves a half-built stack behind; components/region.py
then reports what the region cannot offer the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.schema import CROSS_CHECKS, KEYS, typed

# key -> default, for every key of the schema (components/schema.py).
DEFAULTS: dict[str, Any] = {k.name: k.default for k in KEYS}
SECRET_KEYS = frozenset(k.name for k in KEYS if k.secret)


class ConfigError(pulumi.RunError):
    """All configuration problems of a stack, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Settings:
    """Validated stack settings: one field per key of the schema, in snake case."""

    manager_count: int
    worker_count: int
    instance_type: str
    ami: str
    root_volume_gb: int
    vpc_cidr: str
    az_count: int
    ssh_allowed_cidrs: tuple[str, ...]
    allow_ssh_from_anywhere: bool
    app_allowed_cidrs: tuple[str, ...]
    ssh_public_key: str | None
    ssh_private_key: pulumi.Output[str] | None
    ssh_additional_public_keys: tuple[str, ...]
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
    load_balancer: bool
    certificate_arn: str
    private_workers: bool
    nat_gateway_per_zone: bool
    pin_host_keys: bool


def _show(key: str, value: Any) -> str:
    # A secret key's value is never shown, whatever the problem.
    return "'[secret]'" if key in SECRET_KEYS else repr(value)


def _unknown(key: str) -> str:
    # Its value is not shown: an unknown key may be a secret one misspelt (sshPrivatekey),
    # and the CLI's masking of secrets cannot match a value printed in another form.
    close = difflib.get_close_matches(key, DEFAULTS, n=1) or [k for k in DEFAULTS if k.lower() == key.lower()]
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{key} = <not shown>: is not a known key{hint}; known keys: {', '.join(sorted(DEFAULTS))}"


def parse(raw: Mapping[str, Any], available_azs: int | None = None) -> Settings:
    """Validate raw config values (strings, as Pulumi hands them over) into Settings.

    Raises ConfigError listing every problem, each as `key = value: rule`. Pure: no
    Pulumi calls; the private key (a secret Output, or None) is passed through unread.
    """
    problems = [_unknown(key) for key in sorted(set(raw) - set(DEFAULTS))]
    values: dict[str, Any] = {}
    valid: set[str] = set()
    for key in KEYS:
        given = raw.get(key.name)
        if key.secret:
            values[key.name] = given or None
            valid.add(key.name)
            continue
        value, bad = typed(key, key.default if given is None else given)
        if not bad and key.check is not None:
            bad = list(key.check(value))
        if not bad:
            valid.add(key.name)
        problems += [f"{key.name} = {_show(key.name, shown)}: {rule}" for shown, rule in bad]
        values[key.name] = value
    if available_azs is not None and "azCount" in valid:
        values["azCount"] = min(values["azCount"], available_azs)
    for keys, check in CROSS_CHECKS:
        if valid.issuperset(keys):
            problems += [f"{key} = {_show(key, shown)}: {rule}" for key, shown, rule in check(values)]
    if problems:
        raise ConfigError(problems)
    fields = {k.field: (k.convert(values[k.name]) if k.convert else values[k.name]) for k in KEYS}
    fields["ssh_public_key"] = fields["ssh_public_key"] or None
    return Settings(**fields)


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
    """The raw values of every key that is set; secret keys as secret Outputs."""
    from pulumi.runtime import config as rc

    # Unknown keys are reported by name only: their values are not even read (one may be
    # a misspelt secret key).
    raw: dict[str, Any] = dict.fromkeys(sorted(_set_keys(pulumi.get_project()) - set(DEFAULTS)), "<not read>")
    for key in KEYS:
        if key.secret:
            # Look at the raw value only to see whether it is set; read it as a secret.
            if rc.get_config(config.full_key(key.name)):
                raw[key.name] = config.require_secret(key.name)
            continue
        value = config.get(key.name)
        if value is not None:
            raw[key.name] = value
    return raw


def load(available_azs: int | None = None) -> Settings:
    """Read and validate the stack's configuration (raises ConfigError)."""
    return parse(read_raw(pulumi.Config()), available_azs)

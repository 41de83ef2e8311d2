"""The stack's config as the Pulumi CLI builds it before the program runs.

Modelled on pulumi/pulumi 3.272 `pkg/workspace/config.go`
(`ValidateStackConfigAndApplyProjectConfig`, `validateStackConfigValue`) and
`sdk/go/common/workspace/project.go` (`ValidateConfigValue`, `InferFullTypeName`);
see docs/upstream/engine.md:

- every key declared in Pulumi.yaml's `config:` that the stack does not set gets the
  project's default, as a plain value; a declared key of the project's namespace
  without a default that the stack does not set is an error (all in one message);
- then each explicitly typed key is checked, in key order, first failure wins: one
  declared `secret: true` whose value is not a secret is an error (so is its default:
  it was merged as a plain value), and the value must have the declared type
  (integer: also a string strconv.Atoi accepts; boolean: also "true"/"false";
  array: a list only);
- keys the project does not declare pass through unchecked (the lab's secret
  `sshPrivateKey` is one once Pulumi.yaml no longer declares it).

`pulumi up --config K=V` values (the lab's `--set`) are plain strings in the stack's
config, saved there for later runs (the caller persists them in the lab state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """The CLI refuses the stack's config (its own message)."""


@dataclass
class StackConfig:
    """Config values by full key ("project:key", "aws:region"), as strings or JSON
    values, and which of them are secret."""

    values: dict[str, Any] = field(default_factory=dict)
    secret_keys: set[str] = field(default_factory=set)

    def plain(self, project: str) -> dict[str, Any]:
        """The values with the project's own keys shortened ("key"), as harness.run_program takes them."""
        pre = project + ":"
        return {(k[len(pre) :] if k.startswith(pre) else k): v for k, v in self.values.items()}

    def short_secret_keys(self, project: str) -> tuple[str, ...]:
        pre = project + ":"
        return tuple(sorted(k[len(pre) :] if k.startswith(pre) else k for k in self.secret_keys))


@dataclass(frozen=True)
class Secret:
    """A value the stack holds encrypted (`pulumi config set --secret`)."""

    value: Any


def full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def type_name(decl: dict[str, Any]) -> str:
    """`InferFullTypeName`: "array<string>" for a typed array, else the type."""
    t = decl.get("type", "")
    items = decl.get("items")
    if t == "array" and isinstance(items, dict):
        return f"array<{type_name(items)}>"
    return str(t)


def value_has_type(decl: dict[str, Any], value: Any) -> bool:
    """`ValidateConfigValue`: a stack value as YAML gives it, or as `config set` keeps
    it (a string), checked against the declared type."""
    t = decl.get("type")
    if t is None:
        return True
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return value.is_integer()
        if isinstance(value, str):
            try:
                int(value, 10)
                return True
            except ValueError:
                return False
        return False
    if t == "boolean":
        return isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false"))
    if t == "array":
        # A list only: a string such as '["a"]' (`config set`, `-c`) is a string and fails.
        if not isinstance(value, list):
            return False
        items = decl.get("items")
        return all(value_has_type(items, v) for v in value) if isinstance(items, dict) else True
    if t == "object":
        return isinstance(value, dict)
    return True


# The CLI's texts (pkg/workspace/config.go and sdk/go/common/workspace/project.go, read at
# pulumi v3.259.0; docs/upstream/engine.md §1). `up` prefixes "validating stack config: ".
MISSING = "Stack '{stack}' is missing configuration {word} {keys}"
NOT_SECRET = "Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret"
WRONG_TYPE = "Stack '{stack}' with configuration key '{key}' must be of type '{type}'"
BAD_DEFAULT = "The default value specified for configuration key '{key}' is not of the expected type '{type}'"
NO_ITEMS = (
    "The configuration key '{key}' declares an array but does not specify the underlying type via the 'items' attribute"
)
PREFIX = "validating stack config: "


def format_missing(keys: list[str]) -> str:
    """`formatMissingKeys`: 'a', 'b' and 'c'."""
    quoted = [f"'{k}'" for k in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def build(
    project_doc: dict[str, Any],
    stack: str,
    stack_values: dict[str, Any],
    *,
    overrides: dict[str, str] | None = None,
    validate: bool = True,
) -> StackConfig:
    """The config the program gets. STACK_VALUES: the stack's own config by key (as in
    Pulumi.<stack>.yaml), a Secret(...) for an encrypted value. OVERRIDES: `--config
    K=V` values (plain strings, as `parseConfig` stores them). VALIDATE: False as for
    `destroy` without --run-program (`ApplyProjectConfig`). Pure."""
    project = str(project_doc["name"])
    values: dict[str, Any] = {}
    for k, v in stack_values.items():
        values[full_key(project, k)] = v
    for k, v in (overrides or {}).items():
        values[full_key(project, k)] = v

    decls: dict[str, dict[str, Any]] = {}
    for key, decl in (project_doc.get("config") or {}).items():
        decls[key] = decl if isinstance(decl, dict) else {"value": decl}  # short form `key: value`

    # Project load (`Project.Validate`): arrays need items; a default must have the type.
    for key, decl in sorted(decls.items()):
        if decl.get("type") == "array" and not isinstance(decl.get("items"), dict):
            raise ConfigError(NO_ITEMS.format(key=key))
        if "default" in decl and "type" in decl and not value_has_type(decl, decl["default"]):
            raise ConfigError(BAD_DEFAULT.format(key=key, type=type_name(decl)))

    # `mergeConfig`: defaults (and `value`s) merged in as plain values; keys of the
    # project's namespace with neither are missing (reported together).
    missing: list[str] = []
    for key, decl in sorted(decls.items()):
        fk = full_key(project, key)
        if fk in values:
            continue
        if "value" in decl or "default" in decl:
            values[fk] = decl.get("value", decl.get("default"))
        elif fk.split(":", 1)[0] == project:
            missing.append(key)
    if missing and validate:
        word = "value" if len(missing) == 1 else "values"
        raise ConfigError(PREFIX + MISSING.format(stack=stack, word=word, keys=format_missing(missing)))

    # `validateStackConfigValues`: explicitly typed keys only, first failure in key order.
    # A default of a `secret: true` key is a plain value here, so it fails as well.
    for key, decl in sorted(decls.items()) if validate else ():
        fk = full_key(project, key)
        if "type" not in decl or fk not in values:
            continue
        v = values[fk]
        if decl.get("secret") and not isinstance(v, Secret):
            raise ConfigError(PREFIX + NOT_SECRET.format(stack=stack, key=key))
        raw = v.value if isinstance(v, Secret) else v
        if not value_has_type(decl, raw):
            raise ConfigError(PREFIX + WRONG_TYPE.format(stack=stack, key=key, type=type_name(decl)))

    out = StackConfig()
    for k, v in values.items():
        if isinstance(v, Secret):
            out.secret_keys.add(k)
        out.values[k] = v.value if isinstance(v, Secret) else v
    return out


def load(root: Path, stack: str, overrides: dict[str, str], secrets: dict[str, str]) -> StackConfig:
    """The config of STACK from ROOT/Pulumi.yaml and ROOT/Pulumi.<stack>.yaml, with
    OVERRIDES (plain) and SECRETS (set as `config set --secret` would) added."""
    project_doc = yaml.safe_load((root / "Pulumi.yaml").read_text())
    stack_doc = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text()) or {}
    stack_values: dict[str, Any] = dict(stack_doc.get("config") or {})
    for k, v in secrets.items():
        stack_values[k] = Secret(v)
    return build(project_doc, stack, stack_values, overrides=overrides)

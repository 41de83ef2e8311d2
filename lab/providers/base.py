"""The small interface between the engine model and what each resource type does.

A provider answers Diff / Create / Update / Delete as a Pulumi resource provider
does (pulumi/pulumi 3.272 `proto/pulumi/provider.proto`). It gets the resource's
inputs as sent (secrets still wrapped), its old state, and its provider's
configuration (the inputs of its `pulumi:providers:*` resource), never the engine.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.run import unwrap


@dataclass(frozen=True)
class Diff:
    """A provider's answer to Diff (pulumirpc.DiffResponse, reduced)."""

    changed: list[str] = field(default_factory=list)  # property paths that differ
    replaces: list[str] = field(default_factory=list)  # of those, the ones that force a replacement
    delete_before_replace: bool = False

    @property
    def changes(self) -> bool:
        return bool(self.changed)


@dataclass
class Old:
    """A resource as the checkpoint has it, secrets opened (wrapped)."""

    urn: str
    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    lab: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ctx:
    """What a provider call gets besides the resource: its provider config, the
    resource's custom timeouts, a place for command output, the clock."""

    urn: str
    name: str
    type: str
    provider_config: dict[str, Any] = field(default_factory=dict)
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    output: Callable[[str], None] = lambda line: None  # a stderr line of a command
    log: Callable[[str], None] = lambda msg: None  # a human note
    lab: dict[str, Any] = field(default_factory=dict)  # the lab's notes to keep with the resource
    lookup: Callable[[str], list[Old]] = lambda type_: []  # live resources of a type (the state)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class Provider(Protocol):
    def diff(self, ctx: Ctx, old: Old, news: dict[str, Any], ignore_changes: list[str]) -> Diff: ...

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]: ...

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, ctx: Ctx, old: Old) -> None: ...


def deep_diff(olds: Any, news: Any, path: str = "") -> list[str]:
    """The property paths where NEWS differs from OLDS (`PropertyMap.Diff`: deep, order-
    and type-sensitive; secrets compared by value). Numbers: ints and floats compare by
    value (the wire has only doubles)."""
    olds, news = unwrap(olds), unwrap(news)
    if isinstance(olds, dict) and isinstance(news, dict):
        out: list[str] = []
        for k in sorted(set(olds) | set(news)):
            p = f"{path}.{k}" if path else k
            if k not in olds or k not in news:
                if olds.get(k) is not None or news.get(k) is not None:
                    out.append(p)
            else:
                out += deep_diff(olds[k], news[k], p)
        return out
    if isinstance(olds, list) and isinstance(news, list):
        if len(olds) != len(news):
            return [path]
        out = []
        for i, (a, b) in enumerate(zip(olds, news, strict=True)):
            out += deep_diff(a, b, f"{path}[{i}]")
        return out
    if isinstance(olds, bool) or isinstance(news, bool):
        return [] if olds is news else [path]
    if isinstance(olds, int | float) and isinstance(news, int | float):
        return [] if float(olds) == float(news) else [path]
    return [] if olds == news else [path]


def top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def ignored(path: str, ignore_changes: list[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in ignore_changes)


class Recorded:
    """Resources nothing in the lab makes real (VPC, subnets, security groups, key
    pairs, ...): recorded with their inputs as outputs. Diff: any input change is an
    update. The id is stable for the resource's life."""

    def __init__(self, replace_on: tuple[str, ...] = ()) -> None:
        self.replace_on = replace_on

    def diff(self, ctx: Ctx, old: Old, news: dict[str, Any], ignore_changes: list[str]) -> Diff:
        changed = [p for p in deep_diff(old.inputs, news) if not ignored(p, ignore_changes)]
        return Diff(changed, [p for p in changed if top(p) in self.replace_on])

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        h = hashlib.sha1(json.dumps([ctx.urn, time.time_ns()]).encode()).hexdigest()[:12]
        return f"{ctx.name}-{h}", copy.deepcopy(inputs)

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(news)

    def delete(self, ctx: Ctx, old: Old) -> None:
        pass


# The harness hands the stack's config to the program as the language host gets it: in
# PULUMI_CONFIG (secret values included) and PULUMI_CONFIG_SECRET_KEYS. The CLI sets
# those for the language host only; provider plugins, and so the commands they run,
# never see them.
LANGUAGE_HOST_ONLY = ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")


def plugin_environment() -> dict[str, str]:
    """The environment a provider plugin (and what it runs) has: the CLI's, without the
    language host's config."""
    return {k: v for k, v in os.environ.items() if k not in LANGUAGE_HOST_ONLY}

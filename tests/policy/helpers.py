"""Build the arguments the analyzer would pass, and collect what the rules report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from harness.run import Registration, unwrap
from harness.sdk_private import Unknown

STACK = "urn:pulumi:dev::docker-swarm"


@dataclass
class Collect:
    """A report_violation that keeps every message (and urn)."""

    messages: list[str] = field(default_factory=list)
    urns: list[str | None] = field(default_factory=list)

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.messages.append(message)
        self.urns.append(urn)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def text(self) -> str:
        return "\n".join(self.messages)


def engine_value(value: Any) -> Any:
    """A registration's value as the analyzer receives it: secrets unwrapped, and each
    value unknown during preview as the engine's sentinel (the SDK's Unknown here)."""
    value = unwrap(value)
    if isinstance(value, Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_value(v) for v in value]
    return value


def options(reg: Registration | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=list(reg.ignore_changes) if reg else [],
        delete_before_replace=reg.delete_before_replace if reg else None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(reg.additional_secret_outputs) if reg else [],
        parent=(reg.parent or None) if reg else None,
    )


def urn_of(type_: str, name: str) -> str:
    return f"{STACK}::{type_}::{name}"


def resource_args(type_: str, props: Mapping[str, Any], name: str = "r") -> ResourceValidationArgs:
    """As the engine builds them: plain values in read-only proxies that raise
    UnknownValueError on a value unknown during preview."""
    return ResourceValidationArgs(
        resource_type=type_,
        props=unknown_checking_proxy(dict(props)),
        urn=urn_of(type_, name),
        name=name,
        opts=options(),
        provider=None,
    )


def args_from(reg: Registration) -> ResourceValidationArgs:
    """What the analyzer would get for one registration of a mock run."""
    return ResourceValidationArgs(
        resource_type=reg.type,
        props=unknown_checking_proxy(engine_value(reg.inputs)),
        urn=reg.urn,
        name=reg.name,
        opts=options(reg),
        provider=None,
    )


def policy_resource(type_: str, props: Mapping[str, Any], name: str = "r") -> PolicyResource:
    return PolicyResource(
        resource_type=type_,
        props=unknown_checking_proxy(dict(props)),
        urn=urn_of(type_, name),
        name=name,
        opts=options(),
        provider=None,
        parent=None,
        dependencies=[],
        property_dependencies={},
    )


def stack_args(resources: list[PolicyResource]) -> StackValidationArgs:
    return StackValidationArgs(resources)


def stack_args_from(regs: list[Registration]) -> StackValidationArgs:
    """Stack args of a mock run: each resource's inputs overlaid with its mock outputs
    (AnalyzeStack sees the resources' state after the update)."""
    resources = [
        PolicyResource(
            resource_type=r.type,
            props=unknown_checking_proxy(engine_value({**r.inputs, **r.outputs})),
            urn=r.urn,
            name=r.name,
            opts=options(r),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for r in regs
    ]
    return StackValidationArgs(resources)

"""Run __main__.py under the mock runtime with a recording monitor."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import runpy
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import settings

# The SDK's private names, in one place (checked against one SDK version).
from harness.sdk_private import (
    SECRET_SIG,
    SIG_KEY,
    MockMonitor,
    clear_root_resource,
    clear_rpcs_and_outputs,
    deserialize_properties,
    run_pulumi_func,
    sync_await,
)

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
PROJECT = "docker-swarm"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """The value with every secret wrapper removed (for assertions that need the plain value)."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def secret(value: Any) -> dict[str, Any]:
    """Wrap a mock output so the SDK treats it as secret."""
    return {SIG_KEY: SECRET_SIG, "value": value}


@dataclass
class Registration:
    """One RegisterResource call, as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]  # secrets still wrapped
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    additional_secret_outputs: list[str]
    ignore_changes: list[str]
    provider: str
    custom_timeouts: dict[str, str]
    delete_before_replace: bool
    deleted_with: str = ""  # the URN of the resource whose deletion makes this one's a no-op
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""


class DuplicateURN(Exception):
    pass


class RecordingMonitor(MockMonitor):
    """MockMonitor that keeps every registration with its dependencies and options."""

    def __init__(self, mocks: pmocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._urns: set[str] = set()  # every URN registered, to refuse a second one
        self._lock = threading.Lock()
        self.current: threading.local = threading.local()

    def RegisterResource(self, request):  # noqa: N802 (gRPC name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        with self._lock:
            if urn in self._urns:
                # The mock monitor would overwrite the first silently; the engine stops the
                # deployment (pulumi/pulumi v3.259 pkg/resource/deploy/step_generator.go).
                raise DuplicateURN(f"Duplicate resource URN '{urn}'; try giving it a unique name")
            self._urns.add(urn)
        timeouts = request.customTimeouts
        reg = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            inputs=deserialize_properties(request.object, keep_unknowns=True),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            additional_secret_outputs=list(request.additionalSecretOutputs),
            ignore_changes=list(request.ignoreChanges),
            provider=request.provider,
            custom_timeouts={
                k: getattr(timeouts, k) for k in ("create", "update", "delete") if getattr(timeouts, k, "")
            },
            delete_before_replace=bool(request.deleteBeforeReplace),
            deleted_with=request.deletedWith,
        )
        # The mock may want the full registration (dependencies, options), not just MockResourceArgs.
        self.current.registration = reg
        try:
            response = super().RegisterResource(request)
        finally:
            self.current.registration = None
        reg.id = response.id
        reg.outputs = self.resources[urn].state if urn in self.resources else {}
        with self._lock:
            self.registrations.append(reg)
        return response


@dataclass
class Run:
    registrations: list[Registration]
    exports: dict[str, Any]  # resolved values
    secret_exports: set[str]
    logs: list[str]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.registrations if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


def run_program(
    mocks: pmocks.Mocks,
    config: Mapping[str, Any],
    *,
    stack: str = "dev",
    secret_keys: tuple[str, ...] = (),
    preview: bool = False,
    workers: int = 64,
    monitor: RecordingMonitor | None = None,
    program: Path = PROGRAM,
) -> Run:
    """Run the program once. CONFIG keys are given without the project prefix,
    except those with a namespace of their own ("aws:region")."""
    full = {(k if ":" in k else f"{PROJECT}:{k}"): (v if isinstance(v, str) else _json(v)) for k, v in config.items()}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK sends registrations through the loop's default executor; a mock that
    # blocks (the lab runs commands over SSH) would otherwise cap parallelism at 6.
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    loop.set_default_executor(executor)
    # When a registration fails, the SDK leaves sibling futures whose exception nobody
    # reads; the error itself is raised below, so don't print each copy at exit.
    loop.set_exception_handler(
        lambda lp, ctx: None if "never retrieved" in ctx.get("message", "") else lp.default_exception_handler(ctx)
    )

    logs: list[str] = []
    logger = _Collect(logs)

    mon = monitor or RecordingMonitor(mocks)
    clear_root_resource()
    pmocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, logger=logger, monitor=mon)
    clear_rpcs_and_outputs()

    path = str(program)

    def body() -> None:
        runpy.run_path(path, run_name="__main__")

    saved_env = {k: os.environ.get(k) for k in _CONFIG_ENV}
    try:
        # The config as the language host hands it over: the environment variables
        # PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS (JSON) of the program's process
        # (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go), which
        # pulumi-language-python-exec reads with get_config_env() and passes to
        # set_all_config(). Public API only, and components/settings.py lists the keys
        # that are set from the same variable. Restored when the run ends.
        os.environ["PULUMI_CONFIG"] = json.dumps(full)
        os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps([k if ":" in k else f"{PROJECT}:{k}" for k in secret_keys])
        pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env())
        sync_await(run_pulumi_func(body))
        root: Any = settings.get_root_resource()
        outputs: dict[str, Any] = dict(root.outputs) if root is not None else {}
        exports: dict[str, Any] = {}
        secret_exports: set[str] = set()
        for key, value in outputs.items():
            out = pulumi.Output.from_input(value)
            exports[key] = sync_await(out.future())
            if sync_await(out.is_secret()):
                secret_exports.add(key)
    finally:
        executor.shutdown(wait=False)
        loop.close()
        asyncio.set_event_loop(None)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Run(mon.registrations, exports, secret_exports, logs)


_CONFIG_ENV = ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")


class _Collect(logging.Logger):
    """Every message the program logs, at every level (the secrets audit reads the SDK's
    debug lines too). The mocks' engine calls only these four methods, with the message
    alone (pulumi/runtime/mocks.py MockEngine.Log, SDK 3.272.0). Appending it directly
    skips building a LogRecord for each: the SDK logs a debug line per registration."""

    def __init__(self, logs: list[str]) -> None:
        super().__init__("mockrun")
        self.logs = logs

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.logs.append(str(msg))

    info = warning = error = debug


def _json(value: Any) -> str:
    return json.dumps(value)

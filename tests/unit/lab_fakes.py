"""Fakes for the lab engine's unit tests: registrations, a provider that records calls."""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.run import Registration
from lab.engine.events import Events
from lab.engine.state import State
from lab.providers.base import Ctx, Diff, Old, deep_diff, ignored, top

STACK = "urn:pulumi:lab::docker-swarm::"


def urn(name: str, type_: str = "test:index:Thing") -> str:
    return f"{STACK}{type_}::{name}"


def reg(name: str, inputs: dict[str, Any] | None = None, *, type_: str = "test:index:Thing",
        deps: tuple[str, ...] | list[str] = (), prop_deps: dict[str, list[str]] | None = None,
        ignore: tuple[str, ...] | list[str] = (),
        dbr: bool = False, timeouts: dict[str, str] | None = None,
        deleted_with: str = "") -> Registration:  # fmt: skip
    return Registration(
        urn=urn(name, type_),
        type=type_,
        name=name,
        custom=True,
        parent="",
        inputs=dict(inputs or {}),
        dependencies=[urn(d) if "::" not in d else d for d in deps],
        property_dependencies={k: [urn(d) for d in v] for k, v in (prop_deps or {}).items()},
        additional_secret_outputs=[],
        ignore_changes=list(ignore),
        provider="",
        custom_timeouts=dict(timeouts or {}),
        delete_before_replace=dbr,
        deleted_with=urn(deleted_with) if deleted_with else "",
    )


class FakeProvider:
    """Diff: any change an update, keys in REPLACE_ON a replacement. Calls are logged as
    (op, name, inputs). FAIL: {(op, name)} raise. SLOW: seconds each delete takes."""

    def __init__(self, log: list[tuple[str, str, Any]], replace_on: tuple[str, ...] = (),
                 fail: set[tuple[str, str]] | None = None, slow: float = 0.0, dbr: bool = False) -> None:  # fmt: skip
        self.log = log
        self.replace_on = replace_on
        self.fail = fail or set()
        self.slow = slow
        self.dbr = dbr
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def _call(self, op: str, name: str, inputs: Any) -> None:
        with self.lock:
            self.log.append((op, name, inputs))
        if (op, name) in self.fail:
            raise RuntimeError(f"{op} {name} failed")

    def diff(self, ctx: Ctx, old: Old, news: dict[str, Any], ignore_changes: list[str]) -> Diff:
        changed = [p for p in deep_diff(old.inputs, news) if not ignored(p, ignore_changes)]
        return Diff(changed, [p for p in changed if top(p) in self.replace_on], self.dbr)

    def replaced_when_unknown(self, keys: list[str]) -> bool:
        return any(k in self.replace_on for k in keys)

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._call("create", ctx.name, inputs)
        return f"id-{ctx.name}-{len(self.log)}", {**inputs, "out": "x"}

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        self._call("update", ctx.name, news)
        return {**news, "out": "x"}

    def delete(self, ctx: Ctx, old: Old) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.slow:
                time.sleep(self.slow)
            self._call("delete", ctx.name, old.id)
        finally:
            with self.lock:
                self.active -= 1


def events(tmp) -> Events:
    return Events(tmp, echo=False)


def state(tmp) -> State:
    return State(tmp)

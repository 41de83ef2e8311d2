"""Runs a deployment: each registration becomes a step (plan.py) carried out by the
resource's provider; at the end, the deletes.

As the engine (pulumi/pulumi 3.272 `pkg/resource/deploy/step_executor.go`,
`deployment_executor.go`, `step.go`):
- steps run as registrations arrive, in parallel where the program allows;
- after a step fails no new step starts (the executor cancels; registrations still
  arriving get an error), steps already running finish; the deployment then fails
  with the first error, and the deletes at the end do not run;
- a failed create is not recorded in the checkpoint (no ResourceInitFailedError from
  these providers: docs/upstream/command.md §4); a failed update keeps the old state;
- a create-before-delete replacement records the new resource at once and keeps the
  old one marked `delete`; it is deleted at the end with what the program no longer
  registers, dependents first, independent deletes in parallel; a delete that fails
  leaves its resource in the checkpoint for the next run;
- a delete-before-replace replacement first deletes the dependents that must be
  replaced with it (plan.dependent_replacements), then the resource, then creates it;
  those dependents are created again when the program registers them.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from harness.run import Registration, is_secret, secret
from lab.engine import plan
from lab.engine.events import Events
from lab.engine.state import Resource, State
from lab.providers.base import Ctx, Old, Provider, Recorded

PROVIDER_PREFIX = "pulumi:providers:"
# Outputs a skipped create resolves as unknown besides its inputs (those the program reads).
SKIPPED_OUTPUTS = ("id", "stdout", "stderr", "publicIp", "privateIp", "privateDns", "publicKeyOpenssh",
                   "privateKeyOpenssh", "keyName", "arn")  # fmt: skip


class Halted(Exception):
    """A registration after the deployment already failed."""


class DeleteFailed(Exception):
    pass


@dataclass
class Stats:
    ops: dict[str, int] = field(default_factory=dict)

    def add(self, op: str) -> None:
        self.ops[op] = self.ops.get(op, 0) + 1


class Deployment:
    def __init__(
        self,
        state: State,
        providers: dict[str, Provider],
        events: Events,
        *,
        replace: set[str] | None = None,
        replay_types: tuple[str, ...] = (),
        default: Provider | None = None,
        workers: int = 32,
    ) -> None:
        self.state = state
        self.providers = providers
        self.default = default or Recorded()
        self.events = events
        self.replace = set(replace or ())
        self.replay_types = replay_types  # lab: these run again even when unchanged (an update)
        self.workers = workers
        self.lock = threading.RLock()
        self.registered: set[str] = set()
        self.deleted_for_replacement: set[str] = set()
        # URNs planned to be deleted in this run (the step generator's `sg.deletes`): a
        # resource whose DeletedWith is among them is not deleted by its provider.
        self.deleting: set[str] = set()
        self.replaced: set[str] = set()  # URNs replaced in this run (`sg.replaces`)
        self.error: BaseException | None = None
        self.provider_configs: dict[str, dict[str, Any]] = {}  # provider URN -> inputs of this run
        self.stats = Stats()
        self.deleted: list[str] = []  # names, in the order deleted

    # --- helpers -------------------------------------------------------------
    def provider_for(self, type_: str) -> Provider:
        if type_.startswith(PROVIDER_PREFIX):
            return self.providers.get(type_, self.default)
        return self.providers.get(type_, self.default)

    def provider_config(self, ref: str) -> dict[str, Any]:
        """The configuration of the provider REF ("<urn>::<id>"): its inputs as this run
        registered them, else as the checkpoint has them (a destroy)."""
        urn = ref.rsplit("::", 1)[0] if ref else ""
        if not urn:
            return {}
        with self.lock:
            if urn in self.provider_configs:
                return self.provider_configs[urn]
        res = self.state.resources.get(urn) or next((r for r in self.state.pending_deletes if r.urn == urn), None)
        return self.state.inputs_of(res) if res else {}

    def old_view(self, res: Resource) -> Old:
        return Old(res.urn, res.type, res.name, res.id, self.state.inputs_of(res), self.state.outputs_of(res),
                   dict(res.custom_timeouts), dict(res.lab))  # fmt: skip

    def ctx(self, urn: str, name: str, type_: str, provider_ref: str, timeouts: dict[str, str],
            lab: dict[str, Any] | None = None) -> Ctx:  # fmt: skip
        def lookup(t: str) -> list[Old]:
            with self.state.lock:
                live = [r for r in self.state.resources.values() if r.type == t]
            return [self.old_view(r) for r in live]

        return Ctx(
            urn=urn,
            name=name,
            type=type_,
            provider_config=self.provider_config(provider_ref),
            custom_timeouts=dict(timeouts),
            output=lambda line: self.events.output(name, urn, line),
            log=lambda msg: self._note(urn, name, msg),
            lab=dict(lab or {}),
            lookup=lookup,
        )

    def _note(self, urn: str, name: str, msg: str) -> None:
        self.events.emit("note", msg, urn=urn, name=name, text=msg)

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc

    # --- registrations -------------------------------------------------------
    def register(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        """One RegisterResource: plan the step, run it, return (id, outputs)."""
        with self.lock:
            if self.error is not None:
                raise Halted(f"{reg.name}: not started, the deployment failed: {self.error}")
            if reg.urn in self.registered:
                exc = plan.duplicate_urn_error(reg.urn)
                self._fail(exc)
                raise exc
            self.registered.add(reg.urn)
            old = None if reg.urn in self.deleted_for_replacement else self.state.resources.get(reg.urn)
        provider = self.provider_for(reg.type)
        ctx = self.ctx(reg.urn, reg.name, reg.type, reg.provider, reg.custom_timeouts, old.lab if old else None)
        old_view = self.old_view(old) if old else None
        step = plan.plan_registration(
            reg.urn,
            reg.inputs,
            old,
            old_view.inputs if old_view else None,
            reg.ignore_changes,
            reg.delete_before_replace,
            lambda news: provider.diff(ctx, old_view, news, reg.ignore_changes),  # type: ignore[arg-type]
            # A resource whose DeletedWith target is replaced is replaced too (pulumi/pulumi
            # v3.259.0+ step_generator.go: "marked for replacement because ... (its
            # DeletedWith resource) is being replaced").
            force_replace=reg.urn in self.replace or (bool(reg.deleted_with) and reg.deleted_with in self.replaced),
        )
        if step.op == plan.REPLACE:
            with self.lock:
                self.replaced.add(reg.urn)
        if step.op == plan.SAME and reg.type in self.replay_types:
            step.op, step.reasons = plan.UPDATE, ["--replay"]
        if reg.type.startswith(PROVIDER_PREFIX):
            with self.lock:
                self.provider_configs[reg.urn] = step.inputs
        t0 = time.monotonic()
        if step.op != plan.SAME:
            self.events.emit("step", f"{step.op:<7} {reg.name} ({reg.type})", phase="start", op=step.op,
                             urn=reg.urn, name=reg.name, type=reg.type, reasons=step.reasons)  # fmt: skip
        try:
            id_, outputs = self._run(step, reg, provider, ctx, old_view)
        except BaseException as exc:
            self._fail(exc)
            self.events.emit("step", f"FAIL    {reg.name}: {exc}", phase="failed", op=step.op, urn=reg.urn,
                             name=reg.name, type=reg.type, seconds=round(time.monotonic() - t0, 3),
                             error=str(exc))  # fmt: skip
            raise
        self.stats.add(step.op)
        if step.op != plan.SAME:
            self.events.emit("step", f"done    {reg.name} {step.op} in {time.monotonic() - t0:.1f}s", phase="done",
                             op=step.op, urn=reg.urn, name=reg.name, type=reg.type,
                             seconds=round(time.monotonic() - t0, 3))  # fmt: skip
        return id_, outputs

    def register_for_destroy(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        """`destroy --run-program` (step_generator.go continueStepsFromRefresh in
        destroyMode): a provider (or component) goes the normal way with the program's
        inputs; a custom resource in the state is a SameStep (the state's id and outputs,
        no provider call); one not in the state is a skipped create (unknown outputs)."""
        from harness.sdk_private import UNKNOWN

        if reg.type.startswith(PROVIDER_PREFIX) or not reg.custom:
            return self.register(reg)
        with self.lock:
            self.registered.add(reg.urn)
            old = self.state.resources.get(reg.urn)
        if old is None:
            self.stats.add("skipped-create")
            return "", dict.fromkeys([*reg.inputs, *SKIPPED_OUTPUTS], UNKNOWN)
        self.stats.add("same")
        return old.id, self.state.outputs_of(old)

    def _record(self, reg: Registration, id_: str, outputs: dict[str, Any], inputs: dict[str, Any],
                ctx: Ctx) -> dict[str, Any]:  # fmt: skip
        # additionalSecretOutputs: the engine makes these outputs secret (step_executor.go).
        outputs = dict(outputs)
        for k in reg.additional_secret_outputs:
            if k in outputs and not is_secret(outputs[k]):
                outputs[k] = secret(outputs[k])
        self.state.record(
            Resource(
                urn=reg.urn,
                type=reg.type,
                name=reg.name,
                id=id_,
                custom=reg.custom,
                parent=reg.parent,
                inputs=copy.deepcopy(inputs),
                outputs=copy.deepcopy(outputs),
                dependencies=sorted(set(reg.dependencies)),
                property_dependencies={k: sorted(v) for k, v in reg.property_dependencies.items()},
                provider=reg.provider,
                delete_before_replace=reg.delete_before_replace,
                deleted_with=reg.deleted_with,
                custom_timeouts=dict(reg.custom_timeouts),
                additional_secret_outputs=list(reg.additional_secret_outputs),
                lab=dict(ctx.lab),
            )
        )
        return outputs

    def _run(self, step: plan.Step, reg: Registration, provider: Provider, ctx: Ctx,
             old: Old | None) -> tuple[str, dict[str, Any]]:  # fmt: skip
        if step.op == plan.SAME:
            assert old is not None
            # A same step writes the new registration (dependencies, options) with the old outputs.
            outputs = self._record(reg, old.id, old.outputs, step.inputs, ctx)
            return old.id, outputs
        if step.op == plan.CREATE:
            id_, outputs = provider.create(ctx, step.inputs)
            return id_, self._record(reg, id_, outputs, step.inputs, ctx)
        if step.op == plan.UPDATE:
            assert old is not None
            outputs = provider.update(ctx, old, step.inputs)
            return old.id, self._record(reg, old.id, outputs, step.inputs, ctx)
        # replace
        assert old is not None
        if step.delete_before_replace:
            self._delete_first(reg.urn, provider)
            ctx.lab = {}
            id_, outputs = provider.create(ctx, step.inputs)
            return id_, self._record(reg, id_, outputs, step.inputs, ctx)
        ctx.lab = {}
        id_, outputs = provider.create(ctx, step.inputs)
        self.state.mark_replaced(reg.urn)  # deleted at the end ("delete ... due to replacement")
        return id_, self._record(reg, id_, outputs, step.inputs, ctx)

    def _delete_first(self, urn: str, provider: Provider) -> None:
        """Delete-before-replace: the dependents that must go too, then URN itself."""

        def needs_replace(r: Resource, replaced: set[str]) -> bool:
            p = self.provider_for(r.type)
            needs = getattr(p, "replaced_when_unknown", None)
            if needs is None:
                return False
            unknown = [k for k, us in r.property_dependencies.items() if set(us) & replaced]
            return bool(needs(unknown))

        with self.state.lock:
            deps = plan.dependent_replacements(urn, dict(self.state.resources), needs_replace)
            victims = [*deps, self.state.resources[urn]]
        with self.lock:
            self.deleted_for_replacement.update(r.urn for r in victims)
        self.delete_all(victims, reason="replacement", serial=True)

    # --- deletes -------------------------------------------------------------
    def to_delete_at_end(self) -> list[Resource]:
        with self.state.lock:
            vanished = [r for u, r in self.state.resources.items() if u not in self.registered]
            return [*self.state.pending_deletes, *vanished]

    def delete_all(self, resources: list[Resource], reason: str = "", serial: bool = False) -> None:
        """Delete RESOURCES in antichains (plan.delete_waves): dependents first, each wave
        in parallel and finished before the next starts. After a failure no further
        wave starts (the running ones finish); the failed resource stays in the
        checkpoint. Raises the first failure. SERIAL: one at a time, in that order (the
        chain of a delete-before-replace)."""
        if not resources:
            return
        with self.lock:
            self.deleting.update(r.urn for r in resources)
        waves = plan.delete_waves(resources)
        if serial:
            waves = [[r] for w in waves for r in w]
        for wave in waves:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(wave))) as pool:
                futures = [pool.submit(self._delete_one, r, reason) for r in wave]
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                self._fail(errors[0])  # type: ignore[arg-type]
                raise errors[0]  # type: ignore[misc]

    def _delete_one(self, res: Resource, reason: str) -> None:
        provider = self.provider_for(res.type)
        old = self.old_view(res)
        ctx = self.ctx(res.urn, res.name, res.type, res.provider, res.custom_timeouts, res.lab)
        t0 = time.monotonic()
        why = f" due to {reason}" if reason else ""
        self.events.emit("step", f"delete  {res.name} ({res.type}){why}", phase="start", op="delete",
                         urn=res.urn, name=res.name, type=res.type, reason=reason)  # fmt: skip
        # DeleteStep.Apply (pulumi/pulumi v3.259.0 pkg/resource/deploy/step.go): no provider
        # Delete when the resource's DeletedWith is deleted in this run as well.
        with self.lock:
            deleted_with = bool(res.deleted_with) and res.deleted_with in self.deleting
        try:
            if deleted_with:
                with_name = res.deleted_with.rsplit("::", 1)[-1]
                self.events.emit("step", f"skip    delete {res.name}: deleted with {with_name}", phase="skipped",
                                 op="delete", urn=res.urn, name=res.name, type=res.type)  # fmt: skip
            else:
                provider.delete(ctx, old)
        except BaseException as exc:
            self.events.emit("step", f"FAIL    delete {res.name}: {exc}", phase="failed", op="delete", urn=res.urn,
                             name=res.name, type=res.type, seconds=round(time.monotonic() - t0, 3),
                             error=str(exc))  # fmt: skip
            raise
        self.state.forget(res)
        with self.lock:
            self.deleted.append(res.name)
            self.stats.add("delete")
        self.events.emit("step", f"done    {res.name} delete in {time.monotonic() - t0:.1f}s", phase="done",
                         op="delete", urn=res.urn, name=res.name, type=res.type,
                         seconds=round(time.monotonic() - t0, 3))  # fmt: skip

    def finish(self) -> None:
        """The end of a successful program: the replaced and the vanished are deleted."""
        if self.error is not None:
            raise self.error
        self.events.phase("deletes", f"deletes: {len(self.to_delete_at_end())} resources")
        self.delete_all(self.to_delete_at_end())


Clock = Callable[[], float]

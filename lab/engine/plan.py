"""What the engine decides for each registration and for the deletes. Pure.

Modelled on pulumi/pulumi 3.272 `pkg/resource/deploy/step_generator.go`:
- `GenerateSteps`: a URN registered twice in one deployment is an error
  ("Duplicate resource URN '<urn>'; try giving it a unique name");
- `processIgnoreChanges`: with an old resource, each ignore_changes path of the new
  inputs is reset to the old inputs' value (removed if the old had none), before the
  diff and in what an update sends;
- `generateStepsFromDiff`: the provider's diff decides same / update / replace; a
  `--replace` target is replaced whatever the diff; replacement is create-before-
  delete unless the diff or the resource asks for delete-before-replace;
- `calculateDependentReplacements`: when a resource is replaced delete-first, each
  resource that depends on it is asked (its old inputs, with what came from the
  replaced resource unknown) whether it must be replaced; those are deleted first too;
- `pkg/resource/deploy/deployment_executor.go` / `step_executor.go`: deletes come at
  the end (the old halves of create-before-delete replacements and what the program no
  longer registers), dependents before what they depend on.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.engine.state import Resource
from lab.providers.base import Diff

SAME, CREATE, UPDATE, REPLACE = "same", "create", "update", "replace"


class DuplicateURN(Exception):
    pass


def duplicate_urn_error(urn: str) -> DuplicateURN:
    return DuplicateURN(f"Duplicate resource URN '{urn}'; try giving it a unique name")


@dataclass
class Step:
    op: str
    urn: str
    inputs: dict[str, Any]  # what goes to the provider (ignore_changes applied)
    old: Resource | None = None
    delete_before_replace: bool = False
    reasons: list[str] = field(default_factory=list)


# --- ignore_changes --------------------------------------------------------------
_SEG = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]|\[\"([^\"]+)\"\]")


def parse_path(path: str) -> list[str | int]:
    """A property path ("a.b[0]", 'a["x.y"]') as keys and indexes (`ParsePropertyPath`)."""
    out: list[str | int] = []
    for m in _SEG.finditer(path):
        name, idx, quoted = m.groups()
        if name is not None:
            out.append(name)
        elif quoted is not None:
            out.append(quoted)
        else:
            out.append(int(idx) if idx != "*" else "*")
    return out


_MISSING = object()


def _get(tree: Any, path: list[str | int]) -> Any:
    for seg in path:
        in_list = isinstance(seg, int) and isinstance(tree, list) and 0 <= seg < len(tree)
        in_map = isinstance(seg, str) and isinstance(tree, dict) and seg in tree
        if in_list or in_map:
            tree = tree[seg]  # type: ignore[index]  # the checks above make the index valid
        else:
            return _MISSING
    return tree


def _reset(dest: Any, path: list[str | int], value: Any) -> None:
    parent = _get(dest, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and isinstance(last, str):
        if value is _MISSING:
            parent.pop(last, None)
        else:
            parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent) and value is not _MISSING:
        parent[last] = copy.deepcopy(value)


def process_ignore_changes(news: dict[str, Any], olds: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The new inputs with each ignored path reset to the old inputs' value
    (`processIgnoreChanges` / `PropertyPath.Reset`): an update sends the old value."""
    out = copy.deepcopy(news)
    for p in paths:
        path = parse_path(p)
        if path:
            _reset(out, path, _get(olds, path))
    return out


# --- one registration -------------------------------------------------------------
def plan_registration(
    urn: str,
    inputs: dict[str, Any],
    old: Resource | None,
    old_inputs: dict[str, Any] | None,
    ignore_changes: list[str],
    delete_before_replace: bool,
    diff: Callable[[dict[str, Any]], Diff],
    force_replace: bool = False,
) -> Step:
    """The step for one registration. DIFF is the provider's Diff against the old
    resource (called with the inputs after ignore_changes)."""
    if old is None:
        return Step(CREATE, urn, inputs)
    news = process_ignore_changes(inputs, old_inputs or {}, ignore_changes)
    # A targeted replace (`isTargetedReplace`) is a diff with ReplaceKeys ["id"]; the
    # provider's delete_before_replace still applies.
    d = diff(news)
    # On a replacement Check runs again with the program's raw inputs: ignored
    # properties take their NEW values in the replacement (step_generator.go l.2008-2026).
    if force_replace:
        return Step(REPLACE, urn, inputs, old, delete_before_replace or d.delete_before_replace, ["id (--replace)"])
    if d.replaces:
        return Step(REPLACE, urn, inputs, old, delete_before_replace or d.delete_before_replace, list(d.replaces))
    if d.changes:
        return Step(UPDATE, urn, news, old, reasons=list(d.changed))
    return Step(SAME, urn, news, old)


def dependents(urn: str, resources: dict[str, Resource]) -> list[Resource]:
    """The resources that depend on URN, directly or not (dependency graph order)."""
    out: list[Resource] = []
    seen = {urn}
    frontier = [urn]
    while frontier:
        u = frontier.pop()
        for r in resources.values():
            if r.urn not in seen and u in r.all_dependencies():
                seen.add(r.urn)
                out.append(r)
                frontier.append(r.urn)
    return out


def dependent_replacements(
    urn: str,
    resources: dict[str, Resource],
    needs_replace: Callable[[Resource, set[str]], bool],
) -> list[Resource]:
    """`calculateDependentReplacements`: of the resources depending on URN (which is
    being replaced delete-first), those that must be replaced too. NEEDS_REPLACE(r,
    replaced) tells whether R's provider would replace R when the properties that came
    from the REPLACED urns become unknown. A resource that depends on URN only through
    its parent or provider reference is not asked. Transitive, as the engine's loop."""
    replaced = {urn}
    out: list[Resource] = []
    changed = True
    while changed:
        changed = False
        for r in resources.values():
            if r.urn in replaced:
                continue
            direct = set(r.dependencies) | {u for us in r.property_dependencies.values() for u in us}
            if direct & replaced and needs_replace(r, set(replaced)):
                replaced.add(r.urn)
                out.append(r)
                changed = True
    return out


# --- deletes ---------------------------------------------------------------------
def delete_dependencies(to_delete: list[Resource]) -> dict[int, set[int]]:
    """For each resource to delete (by index), the indexes of those in the set that must
    be deleted before it (its dependents)."""
    deps: dict[int, set[int]] = {i: set() for i in range(len(to_delete))}
    for i, r in enumerate(to_delete):
        for j, other in enumerate(to_delete):
            if i != j and r.urn in other.all_dependencies() and other.urn != r.urn:
                deps[i].add(j)
    return deps


def delete_waves(to_delete: list[Resource]) -> list[list[Resource]]:
    """`ScheduleDeletes`: the deletes as antichains, dependents first. "each list can be
    executed in parallel but a previous list must be executed to completion before
    advancing to the next list" (deployment_executor.go `performPostSteps`)."""
    deps = delete_dependencies(to_delete)
    done: set[int] = set()
    waves: list[list[Resource]] = []
    while len(done) < len(to_delete):
        ready = [i for i in deps if i not in done and deps[i] <= done]
        if not ready:  # a cycle cannot come from a program; break it as the engine would refuse
            raise RuntimeError("dependency cycle among the resources to delete")
        waves.append([to_delete[i] for i in ready])
        done.update(ready)
    return waves

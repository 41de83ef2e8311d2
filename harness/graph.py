"""Dependency-graph facts computed from what the monitor recorded."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from harness.run import Registration


def dependencies(regs: Iterable[Registration]) -> dict[str, set[str]]:
    """URN -> URNs it depends on (explicit, implicit and per-property), custom resources only."""
    regs = list(regs)
    known = {r.urn for r in regs if r.custom}
    graph: dict[str, set[str]] = {}
    for r in regs:
        if not r.custom:
            continue
        deps = set(r.dependencies)
        for urns in r.property_dependencies.values():
            deps.update(urns)
        graph[r.urn] = {d for d in deps if d in known}
    return graph


def critical_path(regs: Iterable[Registration]) -> list[str]:
    """The longest chain of dependent resources (as names), first created first."""
    regs = list(regs)
    graph = dependencies(regs)
    name = {r.urn: r.name for r in regs}

    @functools.cache
    def longest(urn: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dep in graph[urn]:
            chain = longest(dep)
            if len(chain) > len(best):
                best = chain
        return (*best, urn)

    chains = [longest(u) for u in graph]
    top = max(chains, key=len, default=())
    return [name[u] for u in top]


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    """True if START depends on GOAL, directly or not."""
    seen, todo = set(), [start]
    while todo:
        u = todo.pop()
        for d in graph.get(u, ()):
            if d == goal:
                return True
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return False

"""Bootstrap: the swarm is created once in a stack's life; manager-1 is a member like
any other afterwards.

`swarm init` runs on manager-1 when the stack is first created, and never again:
the step ignores every later change of its inputs, so a new manager-1 (a
replacement, an upgrade) does not make a new swarm but joins the one there is
(membership.py), and `swarmId` keeps the cluster ID for the stack's life.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from components.commands import render
from components.nodes import Node
from components.swarm.on_node import NodeShell


@dataclass(frozen=True)
class Bootstrap:
    init: remote.Command
    swarm_id: pulumi.Output[str]


def create_swarm(sh: NodeShell, name: str, first: Node, gate: pulumi.Resource, autolock: bool) -> Bootstrap:
    """`swarm init` on FIRST, once. Stdout: the cluster ID."""
    init = sh.command(
        f"{name}-init",
        sh.connection(first),
        first.private_ip.apply(
            lambda ip: render("swarm-init.sh", {"ADVERTISE_ADDR": ip, "AUTOLOCK": str(autolock).lower()})
        ),
        [gate],
        # Once: a changed manager-1 (address, instance) must not run init again (a new,
        # foreign swarm). Ignored inputs keep their recorded values, so the step never
        # updates or replaces (pulumi-command: only `triggers` replace); stacks from
        # before this rule keep their recorded triggers and delete the same way.
        ignore_changes=["connection", "create", "triggers", "delete"],
    )
    swarm_id = init.stdout.apply(lambda out: out.strip().splitlines()[-1] if out and out.strip() else "")
    return Bootstrap(init=init, swarm_id=swarm_id)


def settings(
    sh: NodeShell, name: str, entry: Node, after: list[pulumi.Resource], autolock: bool
) -> pulumi.Output[str] | None:
    """Swarm-wide settings, on the entry manager once it is a member: autolock as
    configured; with autolock, its unlock key (secret) for the stack output."""
    on_entry = sh.connection(entry)
    setting = sh.command(
        f"{name}-autolock", on_entry, render("swarm-autolock.sh", {"AUTOLOCK": str(autolock).lower()}), after
    )
    if not autolock:
        return None
    # Managers restarted with autolock on need this key to rejoin: keep it as a secret.
    unlock = sh.command(
        f"{name}-unlock-key",
        on_entry,
        render("swarm-unlock-key.sh"),
        [setting],
        logging=remote.Logging.STDERR,
        secret_stdout=True,
    )
    return pulumi.Output.secret(unlock.stdout.apply(lambda s: s.strip()))


def join_tokens(
    sh: NodeShell,
    name: str,
    entry: Node,
    roles: list[str],
    node_set: list[pulumi.Input[str]],
    after: list[pulumi.Resource],
) -> dict[str, pulumi.Output[str]]:
    """The join token of each role, read on the entry manager (secret stdout). Read
    again whenever the node set changes: the previous ones were rotated away after
    bootstrap, and new nodes need a valid one."""
    tokens: dict[str, pulumi.Output[str]] = {}
    for role in roles:
        read = sh.command(
            f"{name}-token-{role}",
            sh.connection(entry),
            render("swarm-join-token.sh", {"ROLE": role}),
            after,
            triggers=node_set,
            logging=remote.Logging.STDERR,  # stderr only: stdout is the token
            secret_stdout=True,
        )
        # Explicit as well: some engines (and the mock runtime) ignore additional_secret_outputs.
        tokens[role] = pulumi.Output.secret(read.stdout)
    return tokens


def rotate_tokens(
    sh: NodeShell, name: str, entry: Node, node_set: list[pulumi.Input[str]], after: list[pulumi.Resource]
) -> remote.Command:
    """Both tokens rotate once every node is in: the ones read to join admit no one."""
    return sh.command(
        f"{name}-rotate-tokens", sh.connection(entry), render("swarm-rotate.sh"), after, triggers=node_set
    )

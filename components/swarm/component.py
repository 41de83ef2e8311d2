"""Swarm: turn the nodes into one Docker Swarm, over SSH, with remote commands.

Per node: a readiness gate and its authorized keys; the swarm is created once
(bootstrap.py); manager-1 is the entry manager (join tokens, labels, removals of the
other nodes, settings) once it is a member; every node joins and is labelled, and is
taken out again when its instance goes (membership.py); both tokens rotate once
every node is in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pulumi

from components.commands import render
from components.nodes import Node
from components.swarm import bootstrap, membership
from components.swarm.on_node import (
    GATE_DIAL_ERROR_LIMIT,
    GATE_PER_DIAL_TIMEOUT,
    GATE_TIMEOUT,
    OWN_STEP_IGNORES,
    NodeShell,
)


@dataclass(frozen=True)
class SwarmArgs:
    nodes: list[Node]  # managers first; nodes[0] (manager-1) creates the swarm
    user: str
    private_key: pulumi.Input[str] | None  # None: use the deployer's SSH agent
    # The deployer's ssh client options for a host with this pinned key, through a jump
    # host or not (components/access.py Access.opts_for).
    ssh_opts_for: Callable[..., pulumi.Output[list[str]]]
    autolock: bool = False
    # The public keys every node's login user authorizes, exactly (the deployer's first).
    authorized_keys: pulumi.Input[list[str]] | None = None
    # Deleted only with the whole stack (the VPC): removal steps are skipped then.
    deleted_with: pulumi.Resource | None = None


class Swarm(pulumi.ComponentResource):
    """Bootstrap and membership of the swarm."""

    swarm_id: pulumi.Output[str]
    unlock_key: pulumi.Output[str] | None  # secret; only with autolock
    manager: Node  # the entry manager: manager-1
    members: list[pulumi.Resource]  # done when every node is in and labelled

    def __init__(self, name: str, args: SwarmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:docker:Swarm", name, None, opts)
        first = args.nodes[0]
        # Nodes with no public address (privateWorkers) are reached through manager-1.
        jump = first if any(n.private for n in args.nodes) else None
        sh = NodeShell(args.user, args.private_key, args.ssh_opts_for, self, args.deleted_with, jump)
        self.manager = first

        # A node behind the jump host is first reached with the deployer's ssh (a new
        # connection per try), then gated as any other.
        reached: dict[str, list[pulumi.Resource]] = {
            n.name: [sh.reach(f"{name}-reach-{n.short}", n)] for n in args.nodes if n.private
        }
        gates: dict[str, pulumi.Resource] = {
            n.name: sh.command(
                f"{name}-ready-{n.short}",
                sh.connection(n, dial_error_limit=GATE_DIAL_ERROR_LIMIT, per_dial_timeout=GATE_PER_DIAL_TIMEOUT),
                render("node-ready.sh"),
                reached.get(n.name, []),
                # A replaced instance is a new host: wait for it again.
                triggers=[n.instance_id],
                ignore_changes=OWN_STEP_IGNORES,
                timeout=GATE_TIMEOUT,
            )
            for n in args.nodes
        }
        if args.authorized_keys is not None:
            # Exactly these keys log in, on every node: rotating the deployer's key is a
            # change of this list (both keys, then the new one), never a new instance.
            keys_text = pulumi.Output.from_input(args.authorized_keys).apply(
                lambda ks: render("node-authorized-keys.sh", {"KEYS": "\n".join(" ".join(k.split()[:2]) for k in ks)})
            )
            keys_digest = keys_text.apply(lambda t: hashlib.sha256(t.encode()).hexdigest())
            for n in args.nodes:
                # Once per instance and key list (a new list replaces the step, which then
                # reaches the node as the program now says).
                sh.command(
                    f"{name}-keys-{n.short}", sh.connection(n), keys_text, [gates[n.name]],
                    triggers=[n.instance_id, keys_digest], ignore_changes=OWN_STEP_IGNORES,
                )  # fmt: skip

        boot = bootstrap.create_swarm(sh, name, first, gates[first.name], args.autolock)
        self.swarm_id = boot.swarm_id
        sponsor = args.nodes[1] if len(args.nodes) > 1 else None
        entry_joined, first_member = membership.first_manager(sh, name, first, sponsor, boot.swarm_id, boot.init, gates)
        self.unlock_key = bootstrap.settings(sh, name, first, [entry_joined], args.autolock)

        # Read the tokens again whenever the node set changes.
        node_set: list[pulumi.Input[str]] = [n.instance_id for n in args.nodes]
        roles = sorted({n.role for n in args.nodes[1:]})
        tokens = bootstrap.join_tokens(sh, name, first, roles, node_set, [entry_joined])

        self.members = [first_member]
        previous_manager: list[pulumi.Resource] = [first_member]
        for n in args.nodes[1:]:
            is_manager = n.role == "manager"
            _, member, labelled = membership.other_node(
                sh, name, n, first, boot.swarm_id, tokens[n.role], entry_joined, gates[n.name],
                previous_manager if is_manager else [],
            )  # fmt: skip
            if is_manager:
                # Managers are taken out one at a time (dependents are deleted first).
                previous_manager = [member]
            self.members += [member, labelled]

        if len(args.nodes) > 1:
            # Every member waits for its join: after all members is after all joins.
            bootstrap.rotate_tokens(sh, name, first, node_set, [*self.members])

        self.register_outputs({"swarmId": self.swarm_id, "unlockKey": self.unlock_key})

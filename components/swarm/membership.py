"""Membership: each node joins, is labelled, and is taken out again, following its
instance; manager-1's replacement joins through a live manager.

Every per-node step has the node's instance in its `triggers` (pulumi-command: only
`triggers` replace), so a replaced instance is a new host whose steps are new
resources, and the old node's steps are deleted at the end of the run
(create-before-delete): drained (and demoted) on a manager, it leaves, and it is
removed. Taking a node out runs these deletes in this order (dependents first,
pulumi/pulumi v3.259.0 ScheduleDeletes): member (drain) -> leave -> forget.

Removals run on a manager other than the node: manager-1's on its sponsor, the node
after it (manager-2, or with one manager worker-1). When manager-1 is replaced, its
handover (delete-before-replace, so before the new host joins) makes sure the swarm
keeps a manager: with no other, it promotes the sponsor for the duration
(scripts/swarm-handover.sh); the new host joins through the sponsor with a token
read there; manager-1's old node is removed on the sponsor, which then demotes
itself again (scripts/swarm-forget.sh, HAND_BACK).
"""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from components.commands import render
from components.nodes import Node
from components.swarm.on_node import OWN_STEP_IGNORES, NodeShell


def label_script(n: Node) -> pulumi.Output[str]:
    return n.private_ip.apply(lambda ip: render("swarm-label.sh", {"NODE_ADDR": ip, "ROLE": n.role, "AZ": n.az}))


def join_script(swarm_id: pulumi.Input[str], through: Node | None, n: Node) -> pulumi.Output[str]:
    return pulumi.Output.all(swarm_id, through.private_ip if through else "", n.private_ip).apply(
        lambda v: render("swarm-join.sh", {"SWARM_ID": v[0], "MANAGER_ADDR": v[1], "ADVERTISE_ADDR": v[2]})
    )


def join(
    sh: NodeShell,
    name: str,
    n: Node,
    swarm_id: pulumi.Input[str],
    through: Node | None,
    token: pulumi.Input[str] | None,
    after: list[pulumi.Resource],
) -> remote.Command:
    """N joins the swarm through the manager THROUGH (skipped when it is a member)."""
    return sh.command(
        f"{name}-join-{n.short}",
        sh.connection(n),
        join_script(swarm_id, through, n),
        after,
        # The token travels on stdin: not in the command text, not in any argv,
        # and not in the environment (which sshd drops unless AcceptEnv lists it).
        stdin=token,
        # A token is only needed to join. Later token changes (rotation, a re-read
        # when nodes are added) must not re-run existing joins, nor must a new manager
        # to join through (its address is in the script). A replacement takes the
        # program's new values (pulumi/pulumi v3.259.0 step_generator.go: Check re-runs
        # with the new inputs), a token valid now.
        ignore_changes=["stdin", *OWN_STEP_IGNORES],
        triggers=[n.instance_id],
    )


def forget(
    sh: NodeShell, name: str, n: Node, on: Node, after: list[pulumi.Resource], *, hand_back: bool = False
) -> remote.Command:
    """The last removal step of N, run on ON: `node rm` once N has left."""
    return sh.command(
        f"{name}-forget-{n.short}",
        sh.connection(on),
        None,
        after,
        delete=n.private_ip.apply(
            lambda ip: render(
                "swarm-forget.sh", {"NODE_ADDR": ip, "HAND_BACK": str(hand_back).lower(), "SELF_ROLE": on.role}
            )
        ),
        triggers=[n.instance_id],
    )


def leave(sh: NodeShell, name: str, n: Node, after: list[pulumi.Resource]) -> pulumi.Resource:
    """N leaves the swarm (the deployer's ssh: skipped when its host is gone)."""
    return sh.on_node_locally(f"{name}-leave-{n.short}", n, render("swarm-leave.sh"), "leaving the swarm", after)


def drain_script(n: Node) -> pulumi.Output[str]:
    return n.private_ip.apply(lambda ip: render("swarm-drain.sh", {"NODE_ADDR": ip}))


def first_manager(
    sh: NodeShell,
    name: str,
    first: Node,
    sponsor: Node | None,
    swarm_id: pulumi.Input[str],
    init: pulumi.Resource,
    gates: dict[str, pulumi.Resource],
) -> tuple[remote.Command, remote.Command]:
    """manager-1's membership. Returns (join, member): the entry manager's steps wait
    for its join; everything else waits for its member (labelled)."""
    # With no other node, the removal steps point at manager-1 itself: they never run
    # (a replacement is refused by the handover first, a destroy skips them), and if
    # they did, the removal scripts refuse to take a node out from itself.
    on = sponsor or first
    promote = sponsor.private_ip if sponsor else ""
    handover = sh.on_node_locally(
        f"{name}-handover-{first.short}",
        first,
        pulumi.Output.from_input(promote).apply(lambda a: render("swarm-handover.sh", {"PROMOTE_ADDR": a})),
        "handing over before manager-1's replacement joins",
        [gates[first.name]],
        delete_before_replace=True,
    )
    token: pulumi.Output[str] | None = None
    if sponsor is not None:
        read = sh.command(
            f"{name}-token-rejoin",
            sh.connection(sponsor),
            render("swarm-sponsor-token.sh"),
            # manager-1's new host is up too: a private sponsor is reached through it.
            [handover, gates[sponsor.name], gates[first.name]],
            triggers=[first.instance_id],
            logging=remote.Logging.STDERR,
            secret_stdout=True,
        )
        token = pulumi.Output.secret(read.stdout)
    joined = join(sh, name, first, swarm_id, sponsor, token, [gates[first.name], init, handover])
    forgotten = forget(sh, name, first, on, [joined], hand_back=True)
    left = leave(sh, name, first, [joined, forgotten])
    sh.command(
        f"{name}-drain-{first.short}",
        sh.connection(on),
        None,
        [joined, left],
        delete=drain_script(first),
        triggers=[first.instance_id],
    )
    member = sh.command(f"{name}-member-{first.short}", sh.connection(first), label_script(first), [joined],
                        triggers=[first.instance_id])  # fmt: skip
    return joined, member


def other_node(
    sh: NodeShell,
    name: str,
    n: Node,
    entry: Node,
    swarm_id: pulumi.Input[str],
    token: pulumi.Input[str],
    entry_joined: pulumi.Resource,
    gate: pulumi.Resource,
    after: list[pulumi.Resource],
) -> tuple[remote.Command, remote.Command, remote.Command]:
    """A node other than manager-1: it joins through the entry manager, which labels
    it and, when it goes, drains and removes it. AFTER: what its removal chain depends
    on (the previous manager's member step: deletes run dependents first, so this
    node's drain, leave and forget all finish before the previous manager's drain
    starts, and managers go one at a time).

    The label and the drain are two steps: the label runs once per instance (a new
    entry manager, e.g. manager-1 replaced, does not label every node again); the
    drain (the member step, a delete only) records the current entry manager, where
    it runs when the node goes. Returns (join, member, label): the node is in the
    swarm and labelled once the last two are done."""
    forgotten = forget(sh, name, n, entry, [entry_joined, *after])
    joined = join(sh, name, n, swarm_id, entry, token, [gate, entry_joined])
    left = leave(sh, name, n, [joined, forgotten])
    labelled = sh.command(
        f"{name}-label-{n.short}",
        sh.connection(entry),
        label_script(n),
        [joined],
        triggers=[n.instance_id],
        ignore_changes=OWN_STEP_IGNORES,
    )
    member = sh.command(
        f"{name}-member-{n.short}",
        sh.connection(entry),
        None,
        [joined, left],
        delete=drain_script(n),
        triggers=[n.instance_id],
    )
    return joined, member, labelled

"""Swarm: turn the nodes into one Docker Swarm, over SSH, with remote commands.

Per node: a readiness gate; then `swarm init` on the first manager; join-token
reads (secret stdout); every other node joins in parallel, its token on stdin;
each node is labelled (role, az) on the manager; finally both tokens rotate.
Removing a node drains it, demotes it if needed and removes it, all from the
manager, so it works even when the node's host is already gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from components.commands import render
from components.nodes import Node

# The gate tolerates sshd not listening yet (instances boot for a minute or
# two): dial retries are capped by the create timeout below, not by a count.
GATE_DIAL_ERROR_LIMIT = -1
GATE_PER_DIAL_TIMEOUT = 10
GATE_TIMEOUT = "20m"


@dataclass(frozen=True)
class SwarmArgs:
    nodes: list[Node]  # nodes[0] is the first manager
    user: str
    private_key: pulumi.Input[str] | None  # None: use the deployer's SSH agent


class Swarm(pulumi.ComponentResource):
    """Bootstrap and membership of the swarm."""

    swarm_id: pulumi.Output[str]
    manager: Node
    joins: list[remote.Command]  # one per node but the first manager
    members: list[remote.Command]  # one per node, done when the node is in and labelled

    def __init__(self, name: str, args: SwarmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:docker:Swarm", name, None, opts)
        first = args.nodes[0]
        self.manager = first

        def connection(node: Node, **dial: int) -> remote.ConnectionArgs:
            return remote.ConnectionArgs(
                host=node.public_ip, user=args.user, private_key=args.private_key, **dial
            )

        def command(
            resource_name: str,
            node: Node,
            create: pulumi.Input[str],
            depends_on: list[pulumi.Resource],
            **kwargs: object,
        ) -> remote.Command:
            extra_opts = kwargs.pop("opts", None)
            options = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
            if isinstance(extra_opts, pulumi.ResourceOptions):
                options = pulumi.ResourceOptions.merge(options, extra_opts)
            return remote.Command(
                resource_name,
                connection=kwargs.pop("connection", connection(node)),  # type: ignore[arg-type]
                create=create,
                # Our scripts never read the previous run's output; sshd would refuse the
                # variables anyway (AcceptEnv), with a warning on every update.
                add_previous_output_in_env=False,
                opts=options,
                **kwargs,  # type: ignore[arg-type]
            )

        gates = {
            n.name: command(
                f"{name}-ready-{n.short}",
                n,
                render("node-ready.sh"),
                [],
                connection=connection(
                    n, dial_error_limit=GATE_DIAL_ERROR_LIMIT, per_dial_timeout=GATE_PER_DIAL_TIMEOUT
                ),
                # A replaced instance is a new host: wait for it again.
                triggers=[n.instance_id],
                opts=pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=GATE_TIMEOUT)),
            )
            for n in args.nodes
        }

        init = command(
            f"{name}-init",
            first,
            first.private_ip.apply(lambda ip: render("swarm-init.sh", {"ADVERTISE_ADDR": ip})),
            [gates[first.name]],
            delete=render("swarm-leave.sh"),
            triggers=[first.instance_id],
        )
        self.swarm_id = init.stdout.apply(lambda out: out.strip().splitlines()[-1] if out and out.strip() else "")

        # Read the tokens again whenever the node set changes: the previous ones were
        # rotated away after bootstrap, and new nodes need a valid one.
        node_set = [n.instance_id for n in args.nodes]
        tokens: dict[str, pulumi.Output[str]] = {}
        for role in sorted({n.role for n in args.nodes[1:]}):
            read = command(
                f"{name}-token-{role}",
                first,
                render("swarm-join-token.sh", {"ROLE": role}),
                [init],
                triggers=node_set,
                logging=remote.Logging.STDERR,  # stderr only: stdout is the token
                opts=pulumi.ResourceOptions(additional_secret_outputs=["stdout"]),
            )
            # Explicit as well: some engines (and the mock runtime) ignore additional_secret_outputs.
            tokens[role] = pulumi.Output.secret(read.stdout)

        self.members = []
        joins: list[remote.Command] = []
        for n in args.nodes:
            member_of: list[pulumi.Resource] = [init]
            delete = None
            if n is not first:
                join = command(
                    f"{name}-join-{n.short}",
                    n,
                    pulumi.Output.all(first.private_ip, n.private_ip).apply(
                        lambda ips: render("swarm-join.sh", {"MANAGER_ADDR": ips[0], "ADVERTISE_ADDR": ips[1]})
                    ),
                    [gates[n.name], init],
                    # The token travels on stdin: not in the command text, not in any argv,
                    # and not in the environment (which sshd drops unless AcceptEnv lists it).
                    stdin=tokens[n.role],
                    # A token is only needed to join. Later token changes (rotation, a
                    # re-read when nodes are added) must not re-run existing joins.
                    opts=pulumi.ResourceOptions(ignore_changes=["stdin"]),
                )
                joins.append(join)
                member_of = [join]
                delete = n.private_ip.apply(lambda ip: render("swarm-remove.sh", {"NODE_ADDR": ip}))
            member = command(
                f"{name}-member-{n.short}",
                first,
                n.private_ip.apply(
                    lambda ip, n=n: render("swarm-label.sh", {"NODE_ADDR": ip, "ROLE": n.role, "AZ": n.az})
                ),
                member_of,
                delete=delete,
            )
            self.members.append(member)

        self.joins = joins
        if joins:
            command(
                f"{name}-rotate-tokens",
                first,
                render("swarm-rotate.sh"),
                [*joins, *self.members],
                triggers=node_set,
            )

        self.register_outputs({"swarmId": self.swarm_id})

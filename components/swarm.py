"""Swarm: turn the nodes into one Docker Swarm, over SSH, with remote commands.

Per node: a readiness gate; then `swarm init` on the first manager; join-token
reads (secret stdout); every other node joins in parallel, its token on stdin;
each node is labelled (role, az) on the manager; finally both tokens rotate.
Taking a node out drains it (and demotes a manager) on the manager, makes it
leave, and removes it on the manager; only the leave touches the node itself, and
it is skipped when the node's host is already gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
from pulumi_command import local, remote

from components.commands import render
from components.nodes import Node

# The gate tolerates sshd not listening yet (instances boot for a minute or
# two): dial retries are capped by the gate's timeouts below, not by a count.
# pulumi-command v1.2.1 (provider/pkg/provider/remote/connection.go, dialWithRetry)
# retries every dial error alike, a wrong pinned host key included, backing off from
# 100 ms by x1.5 up to 5 s; -1 means no limit. perDialTimeout bounds the TCP connect only.
GATE_DIAL_ERROR_LIMIT = -1
GATE_PER_DIAL_TIMEOUT = 10
GATE_TIMEOUT = "20m"
# Every other command: the default dial limit (10 errors: 11 attempts, ~11 s of backoff)
# and a deadline for create, update AND delete. pulumi-go-provider v1.3.0's cancel
# middleware gives an operation a deadline only from the resource's customTimeouts
# (a delete from the old state's): without them an update or delete of a node that is
# down retries or waits for ever. Nothing kills a remote command at the deadline (the
# session ignores the context), so scripts that wait bound themselves (`timeout`, retry).
COMMAND_TIMEOUT = "10m"


@dataclass(frozen=True)
class SwarmArgs:
    nodes: list[Node]  # nodes[0] is the first manager
    user: str
    private_key: pulumi.Input[str] | None  # None: use the deployer's SSH agent
    # The deployer's ssh client options for a host with this pinned key (components/access.py).
    ssh_opts_for: Callable[[pulumi.Input[str] | None], pulumi.Output[list[str]]]
    autolock: bool = False
    # The public keys every node's login user authorizes, exactly (the deployer's first).
    authorized_keys: pulumi.Input[list[str]] | None = None


class Swarm(pulumi.ComponentResource):
    """Bootstrap and membership of the swarm."""

    swarm_id: pulumi.Output[str]
    unlock_key: pulumi.Output[str] | None  # secret; only with autolock
    manager: Node
    joins: list[remote.Command]  # one per node but the first manager
    members: list[remote.Command]  # one per node, done when the node is in and labelled

    def __init__(self, name: str, args: SwarmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:docker:Swarm", name, None, opts)
        first = args.nodes[0]
        self.manager = first

        def on(
            node: Node, dial_error_limit: int | None = None, per_dial_timeout: int | None = None
        ) -> remote.ConnectionArgs:
            return remote.ConnectionArgs(
                host=node.public_ip,
                user=args.user,
                private_key=args.private_key,
                host_key=node.host_key,  # None: not pinned (pulumi-command then accepts any)
                dial_error_limit=dial_error_limit,
                per_dial_timeout=per_dial_timeout,
            )

        def command(
            resource_name: str,
            connection: remote.ConnectionArgs,
            create: pulumi.Input[str] | None,
            after: list[pulumi.Resource],
            *,
            delete: pulumi.Input[str] | None = None,
            stdin: pulumi.Input[str] | None = None,
            triggers: list[pulumi.Input[str]] | None = None,
            logging: remote.Logging | None = None,
            secret_stdout: bool = False,
            ignore_changes: list[str] | None = None,
            timeout: str = COMMAND_TIMEOUT,
        ) -> remote.Command:
            return remote.Command(
                resource_name,
                connection=connection,
                create=create,
                delete=delete,
                stdin=stdin,
                triggers=triggers,
                logging=logging,
                # Our scripts never read the previous run's output; sshd would refuse
                # the variables anyway (AcceptEnv), with a warning on every update.
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=after,
                    additional_secret_outputs=["stdout"] if secret_stdout else None,
                    ignore_changes=ignore_changes,
                    custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout, delete=timeout),
                ),
            )

        gates = {
            n.name: command(
                f"{name}-ready-{n.short}",
                on(n, dial_error_limit=GATE_DIAL_ERROR_LIMIT, per_dial_timeout=GATE_PER_DIAL_TIMEOUT),
                render("node-ready.sh"),
                [],
                # A replaced instance is a new host: wait for it again.
                triggers=[n.instance_id],
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
            for n in args.nodes:
                command(f"{name}-keys-{n.short}", on(n), keys_text, [gates[n.name]], triggers=[n.instance_id])

        init = command(
            f"{name}-init",
            on(first),
            first.private_ip.apply(
                lambda ip: render("swarm-init.sh", {"ADVERTISE_ADDR": ip, "AUTOLOCK": str(args.autolock).lower()})
            ),
            [gates[first.name]],
            delete=render("swarm-leave.sh"),
            triggers=[first.instance_id],
        )
        self.swarm_id = init.stdout.apply(lambda out: out.strip().splitlines()[-1] if out and out.strip() else "")
        self.unlock_key = None
        if args.autolock:
            # Managers restarted with autolock on need this key to rejoin: keep it as a secret.
            unlock = command(
                f"{name}-unlock-key",
                on(first),
                render("swarm-unlock-key.sh"),
                [init],
                logging=remote.Logging.STDERR,
                secret_stdout=True,
            )
            self.unlock_key = pulumi.Output.secret(unlock.stdout.apply(lambda s: s.strip()))

        # Read the tokens again whenever the node set changes: the previous ones were
        # rotated away after bootstrap, and new nodes need a valid one.
        node_set: list[pulumi.Input[str]] = [n.instance_id for n in args.nodes]
        tokens: dict[str, pulumi.Output[str]] = {}
        for role in sorted({n.role for n in args.nodes[1:]}):
            read = command(
                f"{name}-token-{role}",
                on(first),
                render("swarm-join-token.sh", {"ROLE": role}),
                [init],
                triggers=node_set,
                logging=remote.Logging.STDERR,  # stderr only: stdout is the token
                secret_stdout=True,
            )
            # Explicit as well: some engines (and the mock runtime) ignore additional_secret_outputs.
            tokens[role] = pulumi.Output.secret(read.stdout)

        self.members = []
        self.joins = []
        for n in args.nodes:
            label = n.private_ip.apply(
                lambda ip, n=n: render("swarm-label.sh", {"NODE_ADDR": ip, "ROLE": n.role, "AZ": n.az})
            )
            # Every per-node step follows its instance: a replaced instance is a new host
            # (pulumi-command: only `triggers` replace), so its join, label, leave and
            # forget are new resources, and the old node's drain, leave and removal run
            # at the end of the run (create-before-delete), against the old address.
            follows: list[pulumi.Input[str]] = [n.instance_id]
            if n is first:
                # The first manager is taken out only with the whole swarm (init's delete).
                self.members.append(command(f"{name}-member-{n.short}", on(first), label, [init], triggers=follows))
                continue
            # Taking a node out runs these deletes in this order (dependents first):
            # member: drain + demote (manager) -> leave: the node leaves (deployer's ssh,
            # skipped if the host is gone) -> forget: node rm (manager).
            forget = command(
                f"{name}-forget-{n.short}",
                on(first),
                None,
                [init],
                delete=n.private_ip.apply(lambda ip: render("swarm-forget.sh", {"NODE_ADDR": ip})),
                triggers=follows,
            )
            join = command(
                f"{name}-join-{n.short}",
                on(n),
                pulumi.Output.all(self.swarm_id, first.private_ip, n.private_ip).apply(
                    lambda v: render("swarm-join.sh", {"SWARM_ID": v[0], "MANAGER_ADDR": v[1], "ADVERTISE_ADDR": v[2]})
                ),
                [gates[n.name], init],
                # The token travels on stdin: not in the command text, not in any argv,
                # and not in the environment (which sshd drops unless AcceptEnv lists it).
                stdin=tokens[n.role],
                # A token is only needed to join. Later token changes (rotation, a
                # re-read when nodes are added) must not re-run existing joins. A
                # replacement takes the program's new value (pulumi/pulumi v3.259
                # step_generator.go: Check re-runs with the new inputs), a token valid now.
                ignore_changes=["stdin"],
                triggers=follows,
            )
            leave = local.Command(
                f"{name}-leave-{n.short}",
                delete=pulumi.Output.all(n.public_ip, args.ssh_opts_for(n.host_key)).apply(
                    lambda v: render(
                        "local-node-leave.sh",
                        {
                            "NODE": f"{args.user}@{v[0]}",
                            "SSH_OPTS": "\n".join(v[1]),
                            "LEAVE_SCRIPT": render("swarm-leave.sh"),
                        },
                    )
                ),
                interpreter=["/bin/bash", "-c"],
                triggers=follows,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[join, forget],
                    custom_timeouts=pulumi.CustomTimeouts(delete=COMMAND_TIMEOUT),
                ),
            )
            member = command(
                f"{name}-member-{n.short}",
                on(first),
                label,
                [join, leave],
                delete=n.private_ip.apply(lambda ip: render("swarm-drain.sh", {"NODE_ADDR": ip})),
                triggers=follows,
            )
            self.joins.append(join)
            self.members.append(member)

        if self.joins:
            command(
                f"{name}-rotate-tokens",
                on(first),
                render("swarm-rotate.sh"),
                # Every member waits for its join: after all members is after all joins.
                [*self.members],
                triggers=node_set,
            )

        self.register_outputs({"swarmId": self.swarm_id, "unlockKey": self.unlock_key})

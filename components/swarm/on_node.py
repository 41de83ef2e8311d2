"""A command on one node: the one helper Swarm and Service build their steps with.

Two ways in. `NodeShell.command`: pulumi-command's own SSH (remote.Command), for
every step that must run on a node that is up. `NodeShell.on_node_locally`: the
deployer's ssh (local.Command running scripts/local-on-node.sh), for a delete that
must not fail when the node's host is already gone (a leave, a handover).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
GATE_TIMEOUT_S = 20 * 60  # the same, for scripts that bound their own waiting
# Every other command: the default dial limit (10 errors: 11 attempts, ~11 s of backoff)
# and a deadline for create, update AND delete. pulumi-go-provider v1.3.0's cancel
# middleware gives an operation a deadline only from the resource's customTimeouts
# (a delete from the old state's): without them an update or delete of a node that is
# down retries or waits for ever. Nothing kills a remote command at the deadline (the
# session ignores the context), so scripts that wait bound themselves (`timeout`, retry).
COMMAND_TIMEOUT = "10m"
# A node's own steps (its gate, its keys, its join) run once per instance: a change of
# how it is reached (a new jump host when manager-1 is replaced, a rotated deployer key)
# must not run them again on every node. They have no delete, so the connection kept in
# their state is never used again; a replacement takes the program's new values
# (pulumi/pulumi v3.259.0 step_generator.go: Check re-runs with the new inputs).
OWN_STEP_IGNORES = ["connection", "create"]


@dataclass(frozen=True)
class NodeShell:
    """How the program's steps reach the nodes."""

    user: str
    private_key: pulumi.Input[str] | None  # None: the deployer's SSH agent
    # The deployer's ssh client options for a host with this pinned key, optionally through
    # a jump host (its address and pinned key): components/access.py Access.opts_for.
    ssh_opts_for: Callable[..., pulumi.Output[list[str]]]
    parent: pulumi.Resource
    # Removal steps are skipped when this resource is deleted too (`pulumi destroy`):
    # the instances go anyway, and a destroy needs no node to answer. pulumi/pulumi
    # v3.259.0 pkg/resource/deploy/step.go, DeleteStep.Apply: isDeletedWith.
    deleted_with: pulumi.Resource | None = None
    # The jump host of nodes with no public address (privateWorkers): manager-1.
    jump: Node | None = None

    def connection(
        self, node: Node, dial_error_limit: int | None = None, per_dial_timeout: int | None = None
    ) -> remote.ConnectionArgs:
        """How pulumi-command reaches NODE: directly, or for a private node through the
        jump host (pulumi-command v1.2.1 remote/connection.go Connection.Dial: SSH to the
        proxy, a direct-tcpip channel from there to the node, SSH over it; each hop's
        host key pinned, each hop with these dial limits)."""
        proxy = None
        if node.private:
            if self.jump is None:
                raise ValueError(f"{node.name} has no public address and no jump host is set")
            proxy = remote.ProxyConnectionArgs(
                host=self.jump.public_ip,
                user=self.user,
                private_key=self.private_key,
                host_key=self.jump.host_key,
                dial_error_limit=dial_error_limit,
                per_dial_timeout=per_dial_timeout,
            )
        return remote.ConnectionArgs(
            host=node.private_ip if node.private else node.public_ip,
            user=self.user,
            private_key=self.private_key,
            host_key=node.host_key,  # None: not pinned (pulumi-command then accepts any)
            dial_error_limit=dial_error_limit,
            per_dial_timeout=per_dial_timeout,
            proxy=proxy,
        )

    def ssh_opts(self, node: Node) -> pulumi.Output[list[str]]:
        """The deployer's ssh options for NODE (through the jump host if it is private)."""
        if not node.private:
            return self.ssh_opts_for(node.host_key, None)
        assert self.jump is not None
        login = pulumi.Output.concat(self.user, "@", self.jump.public_ip)
        return self.ssh_opts_for(node.host_key, (login, self.jump.host_key))

    def _jump_login_and_opts(self, node: Node) -> tuple[pulumi.Output[str], pulumi.Output[list[str]]]:
        """The jump host's user@address and ssh options, for NODE behind it; else empty."""
        if not node.private or self.jump is None:
            return pulumi.Output.from_input(""), pulumi.Output.from_input([])
        return pulumi.Output.concat(self.user, "@", self.jump.public_ip), self.ssh_opts_for(self.jump.host_key)

    def reach(self, resource_name: str, node: Node) -> local.Command:
        """For a node behind the jump host: wait until the deployer's ssh logs in to it
        through the jump, a new connection per try (scripts/local-reach-node.sh says why
        pulumi-command's proxy cannot). Once per instance, like the gate it precedes."""
        text = pulumi.Output.all(self.address(node), self.ssh_opts(node)).apply(
            lambda v: render(
                "local-reach-node.sh",
                {"NODE": f"{self.user}@{v[0]}", "SSH_OPTS": "\n".join(v[1]), "TIMEOUT": GATE_TIMEOUT_S},
            )
        )
        return local.Command(
            resource_name,
            create=text,
            interpreter=["/bin/bash", "-c"],
            triggers=[node.instance_id],
            opts=pulumi.ResourceOptions(
                parent=self.parent,
                # A new jump host (manager-1 replaced) must not run it again.
                ignore_changes=["create"],
                custom_timeouts=pulumi.CustomTimeouts(create=GATE_TIMEOUT),
            ),
        )

    def address(self, node: Node) -> pulumi.Output[str]:
        """The address the deployer's ssh names NODE by (its private one behind the jump)."""
        return node.private_ip if node.private else node.public_ip

    def command(
        self,
        resource_name: str,
        connection: remote.ConnectionArgs,
        create: pulumi.Input[str] | None,
        after: list[pulumi.Resource],
        *,
        delete: pulumi.Input[str] | None = None,
        stdin: pulumi.Input[str] | None = None,
        triggers: Sequence[pulumi.Input[str] | int] | None = None,
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
            triggers=list(triggers) if triggers is not None else None,
            logging=logging,
            # Our scripts never read the previous run's output; sshd would refuse
            # the variables anyway (AcceptEnv), with a warning on every update.
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self.parent,
                depends_on=after,
                additional_secret_outputs=["stdout"] if secret_stdout else None,
                ignore_changes=ignore_changes,
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout, delete=timeout),
                deleted_with=self.deleted_with if delete is not None else None,
            ),
        )

    def on_node_locally(
        self,
        resource_name: str,
        node: Node,
        script: pulumi.Input[str],
        what: str,
        after: list[pulumi.Resource],
        *,
        delete_before_replace: bool = False,
    ) -> local.Command:
        """A delete that runs SCRIPT on NODE through the deployer's ssh, skipped (with
        the reason) when the host is gone; it follows the node's instance."""
        jump_login, jump_opts = self._jump_login_and_opts(node)
        text = pulumi.Output.all(self.address(node), self.ssh_opts(node), script, jump_login, jump_opts).apply(
            lambda v: render(
                "local-on-node.sh",
                {"NODE": f"{self.user}@{v[0]}", "SSH_OPTS": "\n".join(v[1]), "SCRIPT": v[2], "WHAT": what,
                 "JUMP": v[3], "JUMP_OPTS": "\n".join(v[4])},
            )
        )  # fmt: skip
        return local.Command(
            resource_name,
            delete=text,
            interpreter=["/bin/bash", "-c"],
            triggers=[node.instance_id],
            opts=pulumi.ResourceOptions(
                parent=self.parent,
                depends_on=after,
                delete_before_replace=delete_before_replace,
                custom_timeouts=pulumi.CustomTimeouts(delete=COMMAND_TIMEOUT),
                deleted_with=self.deleted_with,
            ),
        )

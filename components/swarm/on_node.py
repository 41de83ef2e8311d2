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
# Every other command: the default dial limit (10 errors: 11 attempts, ~11 s of backoff)
# and a deadline for create, update AND delete. pulumi-go-provider v1.3.0's cancel
# middleware gives an operation a deadline only from the resource's customTimeouts
# (a delete from the old state's): without them an update or delete of a node that is
# down retries or waits for ever. Nothing kills a remote command at the deadline (the
# session ignores the context), so scripts that wait bound themselves (`timeout`, retry).
COMMAND_TIMEOUT = "10m"


@dataclass(frozen=True)
class NodeShell:
    """How the program's steps reach the nodes."""

    user: str
    private_key: pulumi.Input[str] | None  # None: the deployer's SSH agent
    # The deployer's ssh client options for a host with this pinned key (components/access.py).
    ssh_opts_for: Callable[[pulumi.Input[str] | None], pulumi.Output[list[str]]]
    parent: pulumi.Resource
    # Removal steps are skipped when this resource is deleted too (`pulumi destroy`):
    # the instances go anyway, and a destroy needs no node to answer. pulumi/pulumi
    # v3.259.0 pkg/resource/deploy/step.go, DeleteStep.Apply: isDeletedWith.
    deleted_with: pulumi.Resource | None = None

    def connection(
        self, node: Node, dial_error_limit: int | None = None, per_dial_timeout: int | None = None
    ) -> remote.ConnectionArgs:
        return remote.ConnectionArgs(
            host=node.public_ip,
            user=self.user,
            private_key=self.private_key,
            host_key=node.host_key,  # None: not pinned (pulumi-command then accepts any)
            dial_error_limit=dial_error_limit,
            per_dial_timeout=per_dial_timeout,
        )

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
        text = pulumi.Output.all(node.public_ip, self.ssh_opts_for(node.host_key), script).apply(
            lambda v: render(
                "local-on-node.sh",
                {"NODE": f"{self.user}@{v[0]}", "SSH_OPTS": "\n".join(v[1]), "SCRIPT": v[2], "WHAT": what},
            )
        )
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

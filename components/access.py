"""Access: how the deployer's own ssh client reaches the nodes.

pulumi-command dials SSH itself, with the key in its connection; two things run
the system `ssh` instead: the docker provider (docker/cli's connhelper) and each
node's leave-on-delete step. Both get the same options from here. When the
program holds the private key (generated, or set as the secret sshPrivateKey) it
is written to a 0600 file for them, and removed again on destroy; otherwise the
deployer's SSH agent serves.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import local

from components.commands import render


def ssh_options(key_file: str | None, known_hosts_file: str) -> list[str]:
    """Options for the deployer's ssh client. Pure."""
    opts = [
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=15",
        # Trust on first use, then pinned in a per-stack file: a changed host key
        # (another machine behind the same IP) makes the connection fail.
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", f"UserKnownHostsFile={known_hosts_file}",
    ]  # fmt: skip
    if key_file:
        opts += ["-o", "IdentitiesOnly=yes", "-i", key_file]
    return opts


@dataclass(frozen=True)
class AccessArgs:
    private_key: pulumi.Input[str] | None  # None: the deployer's SSH agent
    key_file: str
    known_hosts_file: str


class Access(pulumi.ComponentResource):
    ssh_opts: list[str]
    ready: list[pulumi.Resource]  # what a user of ssh_opts must depend on

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:local:Access", name, None, opts)
        self.ready = []
        key_file = None
        if args.private_key is not None:
            key_file = args.key_file
            self.ready.append(
                local.Command(
                    f"{name}-keyfile",
                    create=render("local-keyfile.sh", {"KEY_FILE": key_file, "ACTION": "write"}),
                    delete=render("local-keyfile.sh", {"KEY_FILE": key_file, "ACTION": "remove"}),
                    stdin=args.private_key,
                    interpreter=["/bin/bash", "-c"],  # the script is bash; /bin/sh may be dash
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.ssh_opts = ssh_options(key_file, args.known_hosts_file)
        self.register_outputs({"sshOpts": self.ssh_opts})

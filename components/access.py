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


def ssh_options(key_file: str | None, known_hosts_file: str, host_key: str | None = None) -> list[str]:
    """Options for the deployer's ssh client. Pure.

    With HOST_KEY (the node's pinned public key) the client trusts that key only,
    handed over by KnownHostsCommand: no known_hosts file is written or read. Without
    it: trust on first use, remembered in a per-stack file, so a later change of key
    (another machine behind the same IP) makes the connection fail.
    """
    opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
    if host_key:
        key = " ".join(host_key.split()[:2])  # "ssh-ed25519 AAAA...", without a comment
        opts += [
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"KnownHostsCommand=/bin/echo %H {key}",
        ]  # fmt: skip
    else:
        opts += ["-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts_file}"]
    if key_file:
        opts += ["-o", "IdentitiesOnly=yes", "-i", key_file]
    return opts


@dataclass(frozen=True)
class AccessArgs:
    private_key: pulumi.Input[str] | None  # None: the deployer's SSH agent
    key_file: str
    known_hosts_file: str


class Access(pulumi.ComponentResource):
    ready: list[pulumi.Resource]  # what a user of opts_for() must depend on

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
        self._key_file = key_file
        self._known_hosts = args.known_hosts_file
        self.register_outputs({"keyFile": key_file or ""})

    def opts_for(self, host_key: pulumi.Input[str] | None) -> pulumi.Output[list[str]]:
        """ssh options for one host (its pinned public key, or None for trust on first use)."""
        return pulumi.Output.from_input(host_key).apply(
            lambda key: ssh_options(self._key_file, self._known_hosts, key or None)
        )

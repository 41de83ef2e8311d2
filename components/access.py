"""Access: how the deployer's own ssh client reaches the nodes.

pulumi-command dials SSH itself, with the key in its connection; two things run
the system `ssh` instead: the docker provider (docker/cli's connhelper) and each
node's leave-on-delete step. Both get the same options from here.

The key mechanism (decided once, for everything that runs the system ssh):
the program writes the cluster's private key on EVERY run to a file in the
deployer's home, and resource inputs name it only through ssh's own `%d` token
(the home directory from the password database, not $HOME). So:
- no absolute path is in any input: two machines, or two checkouts, diff nothing;
- a fresh machine (a CI runner) has the key as soon as the program runs, from the
  stack's state or config alone: nothing depends on a file an earlier run left;
- `pulumi destroy` does not run the program, so on a machine where no `up` ran it
  needs `--run-program` (pulumi/pulumi pkg/cmd/pulumi/operations/destroy.go);
  `make destroy` passes it.
Weighed against: a key written by a `local.Command` (runs on create only: every
later run on a fresh machine lacked it, the defect this replaces); an ssh-agent the
program starts (its socket path is per run and per machine, so it would sit in the
inputs and diff every run, and nothing starts it for `pulumi destroy`).
`-i %d/...` cannot be used: ssh stats `-i` arguments before expanding tokens and
drops them ("Identity file ... not accessible"); `-o IdentityFile=` expands first.
`-F none`: the deployer's ~/.ssh/config (Host *, ProxyJump, IdentityAgent ...) must
not change where or how these connections go.
"""

from __future__ import annotations

import os
import pwd
import shlex
from dataclasses import dataclass
from pathlib import Path

import pulumi

# Tests point this at a temporary folder so that a mock run writes nothing into the
# real home. ssh itself always resolves %d from the password database.
HOME_OVERRIDE_ENV = "SWARM_DEPLOYER_HOME"


def key_dir_token(project: str, stack: str) -> str:
    """The folder of the stack's deployer-side ssh files, as ssh spells it. Pure."""
    return f"%d/.ssh/pulumi-{project}/{stack}"


def deployer_home() -> Path:
    """What ssh's %d expands to (getpwuid, as ssh.c does; $HOME is ignored by ssh)."""
    override = os.environ.get(HOME_OVERRIDE_ENV)
    return Path(override) if override else Path(pwd.getpwuid(os.getuid()).pw_dir)


def write_key_file(path: Path, private_key: str) -> None:
    """Write PRIVATE_KEY to PATH, mode 0600, atomically (ssh refuses looser modes)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (private_key if private_key.endswith("\n") else private_key + "\n").encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def ssh_options(
    key_file: str | None,
    known_hosts_file: str,
    host_key: str | None = None,
    jump: tuple[str, str | None] | None = None,
) -> list[str]:
    """Options for the deployer's ssh client. Pure.

    With HOST_KEY (the node's pinned public key) the client trusts that key only,
    handed over by KnownHostsCommand: no known_hosts file is written or read. Without
    it: trust on first use, remembered in a per-stack file, so a later change of key
    (another machine behind the same IP) makes the connection fail.

    With JUMP (the jump host's user@address and pinned key) the connection goes through
    it: a ProxyCommand running `ssh -W` to the jump host with the same options (its own
    pinned key). Not ProxyJump: options given on the command line (and `-F none`) do not
    reach the ssh that ProxyJump starts (ssh_config(5), ProxyJump). ssh expands %-tokens
    in ProxyCommand itself, knows only %h %k %n %p %r %% there (OpenSSH 9.2
    sshconnect.c expand_proxy_command) and stops at any other, so the inner options'
    tokens (%d, %H) are written %%.
    """
    opts = _direct_options(key_file, known_hosts_file, host_key)
    if jump is not None:
        login, jump_key = jump
        inner = ["ssh", *_direct_options(key_file, known_hosts_file, jump_key)]
        command = " ".join(shlex.quote(a.replace("%", "%%")) for a in inner)
        opts += ["-o", f"ProxyCommand={command} -W %h:%p {shlex.quote(login)}"]
    return opts


def _direct_options(key_file: str | None, known_hosts_file: str, host_key: str | None) -> list[str]:
    opts = ["-F", "none", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
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
        opts += ["-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={key_file}"]
    return opts


@dataclass(frozen=True)
class AccessArgs:
    private_key: pulumi.Input[str] | None  # None: the deployer's SSH agent
    project: str
    stack: str


class Access(pulumi.ComponentResource):
    """Writes the key for the deployer's ssh (no resource of its own) and gives its options."""

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:local:Access", name, None, opts)
        token_dir = key_dir_token(args.project, args.stack)
        self._known_hosts = f"{token_dir}/known_hosts"
        if args.private_key is None:
            self._key_file: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        else:
            local_file = deployer_home() / ".ssh" / f"pulumi-{args.project}" / args.stack / "id"

            def write(key: str) -> str:
                write_key_file(local_file, key)
                return f"{token_dir}/id"

            # The options resolve only after the file is written, so the docker provider
            # (configured from them) and the leave steps never run before it exists.
            # The path is no secret (the key is): keep the options plain.
            self._key_file = pulumi.Output.unsecret(pulumi.Output.from_input(args.private_key).apply(write))
        self.register_outputs({})

    def opts_for(
        self,
        host_key: pulumi.Input[str] | None,
        jump: tuple[pulumi.Input[str], pulumi.Input[str] | None] | None = None,
    ) -> pulumi.Output[list[str]]:
        """ssh options for one host (its pinned public key, or None for trust on first use),
        through JUMP (the jump host's user@address and pinned key) if given."""
        login, jump_key = jump if jump is not None else (None, None)
        return pulumi.Output.all(self._key_file, host_key, login, jump_key).apply(
            lambda v: ssh_options(
                v[0], self._known_hosts, v[1] or None, (v[2], v[3] or None) if v[2] is not None else None
            )
        )

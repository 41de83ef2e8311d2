"""Nodes: the EC2 instances of the swarm, their key pair and user data."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from components.userdata import UserData, render_user_data

# Canonical's account: the only owner whose Ubuntu images we accept.
CANONICAL = "099720109477"
UBUNTU_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-*"


# The key types EC2 ImportKeyPair accepts: RSA and ED25519 (ECDSA and the FIDO
# "sk-" types are refused when the KeyPair is created, after the network exists).
KEY_TYPES = ("ssh-ed25519", "ssh-rsa")
_ED25519_KEY_BYTES = 32


def _ssh_fields(blob: bytes) -> list[bytes] | None:
    """The SSH wire-format strings of a public key blob (RFC 4253 6.6), or None if torn."""
    fields = []
    while blob:
        if len(blob) < 4:
            return None
        n = int.from_bytes(blob[:4], "big")
        if len(blob) < 4 + n:
            return None
        fields.append(blob[4 : 4 + n])
        blob = blob[4 + n :]
    return fields


def public_key_problems(text: str) -> list[tuple[str, str]]:
    """(value, rule) when TEXT is not one OpenSSH public key line EC2 ImportKeyPair takes."""
    rule = "must be one OpenSSH public key line, e.g. 'ssh-ed25519 AAAAC3... you@host'"
    if "PRIVATE KEY" in text:
        # Not echoed: it is the secret half. sshPrivateKey takes it, as a secret.
        return [("[a private key, not shown]", rule + " (this is a private key: give its public half)")]
    shown = text if len(text) <= 40 else text[:40] + "..."
    parts = text.split()
    if "\n" in text or "\r" in text or len(parts) < 2:
        return [(shown, rule)]
    if parts[0] not in KEY_TYPES:
        return [(shown, rule + f" (EC2 imports only these types: {', '.join(KEY_TYPES)})")]
    try:
        fields = _ssh_fields(base64.b64decode(parts[1], validate=True))
    except (binascii.Error, ValueError):
        return [(shown, rule + " (the key body is not base64)")]
    # ssh-ed25519: the type and a 32-byte key; ssh-rsa: the type, exponent e and modulus n.
    want = 2 if parts[0] == "ssh-ed25519" else 3
    if not fields or fields[0] != parts[0].encode() or len(fields) != want:
        return [(shown, rule + " (the key body does not match its type)")]
    if parts[0] == "ssh-ed25519" and len(fields[1]) != _ED25519_KEY_BYTES:
        return [(shown, rule + " (the key body does not match its type)")]
    return []


_AMI_ID = re.compile(r"ami-(?:[0-9a-f]{8}|[0-9a-f]{17})")


def ami_problems(value: str) -> list[tuple[str, str]]:
    """An AMI ID as EC2 spells it (ami- and 8 or 17 hex digits), or empty."""
    if value and not _AMI_ID.fullmatch(value):
        return [(value, "must be an AMI ID such as ami-0123456789abcdef0, or empty for the newest Ubuntu 24.04")]
    return []


@dataclass(frozen=True)
class NodeSpec:
    """Where one node goes. Pure data, computed before any resource exists."""

    name: str
    role: str  # manager | worker
    zone_index: int


# Workers are dealt from the second zone on, so the default 1 manager + 2 workers
# fill three zones; a constant, so that the manager count never moves a worker.
WORKER_ZONE_OFFSET = 1


def plan_nodes(prefix: str, managers: int, workers: int, zones: int) -> list[NodeSpec]:
    """Each role dealt round-robin over the zones, on its own.

    Managers take consecutive zones, so a 3-manager cluster survives a zone's loss.
    A node's zone depends only on its role, its number and the zone count: adding or
    removing managers or workers never moves another node (a move is a replacement:
    the subnet is ForceNew). A changed azCount does move nodes: those whose number
    modulo the zone count changes (README, "Placement").
    Names are stable: worker-2 stays worker-2 when worker-3 is added or removed.
    """
    specs = [NodeSpec(f"{prefix}-manager-{i + 1}", "manager", i % zones) for i in range(managers)]
    specs += [NodeSpec(f"{prefix}-worker-{i + 1}", "worker", (WORKER_ZONE_OFFSET + i) % zones) for i in range(workers)]
    return specs


def ami_architecture(supported: Sequence[str]) -> str:
    """Ubuntu's name for the CPU architecture of an instance type."""
    return "arm64" if "arm64" in supported and "x86_64" not in supported else "amd64"


@dataclass(frozen=True)
class Node:
    """What the rest of the program needs to know about one node."""

    name: str
    short: str  # "manager-1", "worker-2": unique within the cluster
    role: str
    az: str
    instance_id: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    host_key: pulumi.Output[str] | None  # the node's pinned SSH host public key
    instance_urn: pulumi.Output[str] | None = None  # for `pulumi up --replace` (ops/roll.py)
    # No public address (privateWorkers): the deployer reaches it through a jump host.
    private: bool = False


@dataclass(frozen=True)
class NodesArgs:
    managers: int
    workers: int
    instance_type: str
    architectures: tuple[str, ...]  # what EC2 says the type supports (components/region.py)
    root_volume_gb: int
    subnet_ids: list[pulumi.Output[str]]  # public, one per zone
    zones: list[str]
    # The security groups of each role's nodes (components/firewall.py groups_of).
    security_group_ids: dict[str, list[pulumi.Input[str]]]
    public_key: pulumi.Input[str]
    login_user: str
    insecure_registries: tuple[str, ...]
    pin_host_keys: bool
    tags: dict[str, str]
    # What must exist before an instance boots: its route to the internet and the
    # group's egress rule (cloud-init installs Docker from the archive at first boot).
    after: list[pulumi.Resource] = field(default_factory=list)
    ami: str = ""  # empty: the newest Ubuntu 24.04 of the region
    # privateWorkers: the workers' subnets (one per zone, no public addresses); None: public.
    private_subnet_ids: list[pulumi.Output[str]] | None = None
    # What private workers also wait for: their NAT gateway and route (their only way out).
    worker_after: list[pulumi.Resource] = field(default_factory=list)


class Nodes(pulumi.ComponentResource):
    """All instances, spread round-robin over the subnets."""

    nodes: list[Node]

    def __init__(self, name: str, args: NodesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:aws:Nodes", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        if args.ami:
            ami_id = args.ami  # pinned (checked against the instance type: components/region.py)
        else:
            arch = ami_architecture(args.architectures)
            ami_id = aws.ec2.get_ami(
                owners=[CANONICAL],
                most_recent=True,
                filters=[
                    aws.ec2.GetAmiFilterArgs(name="name", values=[UBUNTU_NAME.format(arch=arch)]),
                    aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
                ],
            ).id
        key = aws.ec2.KeyPair(f"{name}-key", public_key=args.public_key, tags=args.tags, opts=child)

        self.nodes = []
        for spec in plan_nodes(name, args.managers, args.workers, len(args.zones)):
            ud = UserData(spec.name, args.login_user, args.insecure_registries)
            user_data: pulumi.Input[str]
            host_key = None
            if not args.pin_host_keys:
                user_data = render_user_data(ud)
            else:
                # The node's SSH host key, made here so the deployer knows it before the
                # first connection. Its private half travels in user data (secret).
                host = tls.PrivateKey(f"{spec.name}-hostkey", algorithm="ED25519", opts=child)
                host_key = host.public_key_openssh.apply(lambda k: " ".join(k.split()[:2]))
                user_data = pulumi.Output.secret(
                    pulumi.Output.all(host.private_key_openssh, host_key).apply(
                        lambda k, ud=ud: render_user_data(replace(ud, host_key=(k[0], k[1])))
                    )
                )
            private = spec.role == "worker" and args.private_subnet_ids is not None
            subnets = args.private_subnet_ids if private and args.private_subnet_ids else args.subnet_ids
            instance = aws.ec2.Instance(
                spec.name,
                ami=ami_id,
                instance_type=args.instance_type,
                subnet_id=subnets[spec.zone_index],
                # Said explicitly for private workers (the subnet maps none either), so that
                # the policy pack sees it on the instance itself.
                associate_public_ip_address=False if private else None,
                vpc_security_group_ids=args.security_group_ids[spec.role],
                key_name=key.key_name,
                user_data=user_data,
                metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",  # IMDSv2 only
                    # 1 hop: containers behind Docker's bridge cannot reach the metadata service.
                    http_put_response_hop_limit=1,
                ),
                root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                    volume_type="gp3", volume_size=args.root_volume_gb, encrypted=True
                ),
                tags={**args.tags, "Name": spec.name, "swarm-role": spec.role},
                opts=pulumi.ResourceOptions.merge(
                    child,
                    # A newer AMI or edited user data applies to new nodes only, and to a
                    # replaced node (a replacement takes the new values of ignored inputs:
                    # that is how `make roll` upgrades, one node at a time); never to all
                    # running nodes at once.
                    # A new key pair (keyName is ForceNew) replaces no node either: the
                    # nodes' authorized keys are managed over SSH (node-authorized-keys.sh).
                    pulumi.ResourceOptions(
                        ignore_changes=["ami", "userData", "keyName"],
                        depends_on=[*args.after, *(args.worker_after if private else [])],
                    ),
                ),
            )
            self.nodes.append(
                Node(
                    name=spec.name,
                    short=spec.name.removeprefix(name + "-"),
                    role=spec.role,
                    az=args.zones[spec.zone_index],
                    instance_id=instance.id,
                    # EC2 reports "" for an instance with no public address.
                    public_ip=pulumi.Output.from_input("") if private else instance.public_ip,
                    private_ip=instance.private_ip,
                    host_key=host_key,
                    instance_urn=instance.urn,
                    private=private,
                )
            )
        self.register_outputs({"nodeNames": [n.name for n in self.nodes]})

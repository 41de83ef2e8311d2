"""aws (and tls) resources in the lab.

- aws:ec2/instance:Instance -> a host from the backend. A new instance (a create, or
  the new half of a replacement) takes a host no other instance holds, so it has a
  new address, as EC2 gives a new instance a new IP; the old instance keeps its host
  until it is deleted at the end of the run, and the freed host is reset by the
  backend. The key pair's public key is installed as EC2 does. Diff: the inputs that
  aws_instance marks ForceNew (terraform-provider-aws `internal/service/ec2/
  ec2_instance.go` schema, as bridged by pulumi-aws 7.x: ami, availabilityZone,
  keyName, subnetId, privateIp, ...; userData only with userDataReplaceOnChange)
  replace it, other changes are in-place updates (recorded, nothing to do here).
  Its public address is EC2's: `associatePublicIpAddress` when set (true or false),
  else its subnet's `mapPublicIpOnLaunch` (the aws:ec2/subnet:Subnet of this stack
  whose id is the instance's subnetId). publicIp is the host's address, or "" with
  none (as EC2 / terraform-provider-aws give it); a host without one is private: the
  backend keeps this machine from reaching it (the namespace lab blocks it).
- tls:index/privateKey:PrivateKey -> a real key (pulumi-tls: every input ForceNew).
- invokes: zones, AMI, instance type, answered with the lab's values.
- aws:lb/loadBalancer:LoadBalancer -> refused: the lab has no load balancer.
- everything else of AWS is recorded (base.Recorded).
"""

from __future__ import annotations

import hashlib
import secrets as pysecrets
import threading
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from harness.run import secret, unwrap
from lab.backends import Backend
from lab.providers.base import Ctx, Diff, Old, Recorded, deep_diff, ignored, top

if TYPE_CHECKING:
    from lab.engine.state import State

ZONES = ["lab-a", "lab-b", "lab-c"]
INSTANCE = "aws:ec2/instance:Instance"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"
SUBNET = "aws:ec2/subnet:Subnet"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
INSTANCE_FORCE_NEW = ("ami", "availabilityZone", "keyName", "subnetId", "privateIp", "tenancy", "hostId",
                      "placementGroup", "ebsBlockDevices", "ephemeralBlockDevices", "networkInterfaces",
                      "associatePublicIpAddress", "ipv6Addresses", "launchTemplate")  # fmt: skip


def invoke(token: str, args: dict[str, Any]) -> dict[str, Any]:
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        return {"names": ZONES, "zoneIds": ZONES}
    if token == "aws:ec2/getAmi:getAmi":
        return {"id": "ami-lab", "name": "lab", "architecture": "x86_64"}
    if token == "aws:ec2/getInstanceType:getInstanceType":
        return {"supportedArchitectures": ["x86_64"]}
    return {}


class InstanceProvider:
    def __init__(self, backend: Backend, state: State) -> None:
        self.backend = backend
        self.state = state
        self.lock = threading.Lock()
        self.claimed: set[int] = set()  # hosts given to instances in this run

    def _taken(self) -> set[int]:
        with self.state.lock:
            held = {r.lab["host"] for r in [*self.state.resources.values(), *self.state.pending_deletes]
                    if r.type == INSTANCE and "host" in r.lab}  # fmt: skip
        return held | self.claimed

    def diff(self, ctx: Ctx, old: Old, news: dict[str, Any], ignore_changes: list[str]) -> Diff:
        changed = [p for p in deep_diff(old.inputs, news) if not ignored(p, ignore_changes)]
        force = set(INSTANCE_FORCE_NEW)
        if unwrap(news.get("userDataReplaceOnChange")):
            force |= {"userData", "userDataBase64"}
        return Diff(changed, [p for p in changed if top(p) in force])

    def replaced_when_unknown(self, keys: list[str]) -> bool:
        return any(k in INSTANCE_FORCE_NEW for k in keys)

    def _public_key(self, ctx: Ctx, key_name: str) -> str:
        for kp in ctx.lookup(KEY_PAIR):
            if unwrap(kp.outputs.get("keyName")) == key_name:
                return str(unwrap(kp.outputs["publicKey"]))
        raise RuntimeError(f"InvalidKeyPair.NotFound: The key pair '{key_name}' does not exist")

    def _public(self, ctx: Ctx, plain: dict[str, Any]) -> bool:
        """Whether EC2 gives the instance a public address at launch."""
        associate = plain.get("associatePublicIpAddress")
        if associate is not None:
            return bool(associate)
        subnet_id = plain.get("subnetId")
        for subnet in ctx.lookup(SUBNET):
            if subnet.id == subnet_id:
                return bool(unwrap(subnet.outputs.get("mapPublicIpOnLaunch")))  # (unset: false)
        raise RuntimeError(
            f"{ctx.name}: no aws:ec2/subnet:Subnet of this stack has the id {subnet_id!r} (the instance's "
            "subnetId), and associatePublicIpAddress is not set: the lab cannot tell whether the instance "
            "gets a public address (it models no default VPC or outside subnet)"
        )

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        plain = unwrap(inputs)
        public_key = self._public_key(ctx, plain["keyName"])
        public = self._public(ctx, plain)
        with self.lock:  # only the choice of host is serial; launches run in parallel
            k = self.backend.allocate(self._taken())
            self.claimed.add(k)
        host = self.backend.launch(ctx.name, k, plain["userData"], public_key, public=public)
        ctx.lab["host"] = k
        where = "public" if public else "private: not reachable from this machine"
        ctx.log(f"instance {ctx.name} -> {host.name} ({host.ip}, {where}): launched with its user data and key")
        outputs = {**inputs, "publicIp": host.ip if public else "", "privateIp": host.ip, "privateDns": host.name}
        return f"i-{pysecrets.token_hex(8)}", outputs

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        return {**news, **{k: old.outputs[k] for k in ("publicIp", "privateIp", "privateDns") if k in old.outputs}}

    def delete(self, ctx: Ctx, old: Old) -> None:
        k = old.lab.get("host")
        if k is not None:
            self.backend.terminate(old.name, k)
        ctx.log(f"instance {old.name} terminated")


class LoadBalancerProvider(Recorded):
    """The lab has no load balancer (no routing in front of the hosts to model it with)."""

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raise RuntimeError(
            f"{ctx.name}: the lab does not model load balancers (loadBalancer=true): prove it under mocks "
            "(tests/program) and on AWS; run the lab with loadBalancer=false"
        )


class KeyPairProvider(Recorded):
    def __init__(self) -> None:
        super().__init__(replace_on=("keyName", "keyNamePrefix", "publicKey"))

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = unwrap(inputs.get("keyName")) or f"{ctx.name}-{pysecrets.token_hex(4)}"
        return name, {**inputs, "keyName": name}

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        return {**news, "keyName": old.outputs.get("keyName")}


class PrivateKeyProvider(Recorded):
    """pulumi-tls PrivateKey: a new key on create, kept (sealed) in the state."""

    def __init__(self) -> None:
        super().__init__(replace_on=("algorithm", "ecdsaCurve", "rsaBits"))

    def create(self, ctx: Ctx, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if unwrap(inputs.get("algorithm")) != "ED25519":
            raise RuntimeError(f"{ctx.name}: the lab makes ED25519 keys only")
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
        public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + "\n"
        outputs = {**inputs, "publicKeyOpenssh": public, "privateKeyOpenssh": secret(private)}
        return hashlib.sha1(public.encode()).hexdigest(), outputs

    def update(self, ctx: Ctx, old: Old, news: dict[str, Any]) -> dict[str, Any]:
        return {**old.outputs, **news}

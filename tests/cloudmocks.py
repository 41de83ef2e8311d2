"""Mocks of AWS, TLS and the remote hosts for running the program in tests."""

from __future__ import annotations

import itertools
import json
import re
import threading
import zlib
from typing import Any

from pulumi.runtime import mocks as pmocks

from harness.run import RecordingMonitor, secret

FAKE_UNLOCK_KEY = "SWMKEY-1-0000fakeunlockkey0000000000000000000000"
FAKE_TOKEN = "SWMTKN-1-0000000000fake0000000000token000000000000-0000fake0000"
FAKE_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZQ==\n-----END OPENSSH PRIVATE KEY-----\n"
FAKE_DIGEST = "sha256:" + "ab" * 32
# What a manager's GET /distribution/{image}/json answers for a two-platform image.
FAKE_DISTRIBUTION = json.dumps(
    {
        "Descriptor": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": FAKE_DIGEST, "size": 1},
        "Platforms": [
            {"architecture": "amd64", "os": "linux"},
            {"architecture": "arm", "os": "linux", "variant": "v7"},
        ],
    }
)
FAKE_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyFakeKeyFakeKeyFakeKeyFakeKeyFakeKey0 mock"


# The instance types EC2 offers in the mocked region: these families in these sizes.
INSTANCE_FAMILIES = frozenset({"t2", "t3", "t3a", "t4g", "m5", "m6i", "m6g", "m7i", "m7g", "c5", "c6i", "c6g", "c7g"})
INSTANCE_SIZE = re.compile(r"nano|micro|small|medium|large|metal|[0-9]*xlarge")


class CloudMocks(pmocks.Mocks):
    """Answers like AWS would, with plausible ids and addresses; thread-safe.

    ZONES standard zones (opt-in-not-required) and LOCAL_ZONES opted-in Local Zones,
    which DescribeAvailabilityZones lists too unless filtered out by opt-in-status.
    """

    def __init__(
        self, zones: int = 3, architectures: tuple[str, ...] = ("x86_64",), local_zones: tuple[str, ...] = ()
    ) -> None:
        self.zones = [f"eu-west-1{c}" for c in "abcdef"[:zones]]
        self.opt_in = {**dict.fromkeys(self.zones, "opt-in-not-required"), **dict.fromkeys(local_zones, "opted-in")}
        self.architectures = list(architectures)
        self.monitor: RecordingMonitor | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _next(self) -> int:
        with self._lock:
            return next(self._ids)

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        with self._lock:
            self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [z for z, status in self.opt_in.items() if _passes(status, args.args.get("filters"))]
            return {"names": names, "zoneIds": [z + "-id" for z in names]}, []
        if args.token == "aws:ec2/getAmi:getAmi":
            wanted = args.args["filters"][0]
            if wanted["name"] == "image-id":  # a pinned ami: x86_64 unless its ID says arm
                arch = "arm64" if wanted["values"][0].endswith("a") else "x86_64"
                return {"id": wanted["values"][0], "name": "pinned", "architecture": arch}, []
            return {"id": "ami-0123456789abcdef0", "name": wanted["values"][0], "architecture": "x86_64"}, []
        if args.token == "aws:ec2/getInstanceType:getInstanceType":
            wanted = str(args.args.get("instanceType", ""))
            family, _, size = wanted.partition(".")
            if family not in INSTANCE_FAMILIES or not INSTANCE_SIZE.fullmatch(size):
                # What DescribeInstanceTypes answers, through the provider, as an invoke failure.
                reason = f"InvalidInstanceType: The following supplied instance types do not exist: [{wanted}]"
                return {}, [("instanceType", reason)]
            return {"supportedArchitectures": self.architectures}, []
        return {}, []

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        n = self._next()
        out = dict(args.inputs)
        t = args.typ
        if t == "aws:ec2/instance:Instance":
            # Addresses from the name, so rendered commands are the same on every run.
            role, num = args.name.rsplit("-", 2)[-2:]
            k = int(num) + (0 if role == "manager" else 10)
            out.update(publicIp=f"203.0.113.{k}", privateIp=f"10.0.{k // 200}.{k % 200 + 10}")
            return f"i-{k:017x}", out
        if t == "aws:ec2/keyPair:KeyPair":
            out.setdefault("keyName", args.name)
            return args.name, out
        if t == "tls:index/privateKey:PrivateKey":
            # A distinct public key per resource, so pinning tests can tell nodes apart.
            public = FAKE_PUBLIC_KEY.replace("FakeKey0", f"Fake{zlib.crc32(args.name.encode()) % 10000:04d}")
            out.update(
                publicKeyOpenssh=public + "\n", privateKeyOpenssh=FAKE_PRIVATE_KEY, privateKeyPem=FAKE_PRIVATE_KEY
            )
            return f"key-{n}", out
        if t == "command:remote:Command":
            create = _plain(args.inputs.get("create", ""))
            stdout = ""
            if "join-token -q" in create:
                stdout = FAKE_TOKEN
            elif "unlock-key -q" in create:
                stdout = FAKE_UNLOCK_KEY
            elif "docker swarm init" in create:
                stdout = "swarmid0123456789\n"
            elif "/distribution/" in create:
                stdout = FAKE_DISTRIBUTION
            out.update(stdout=stdout, stderr="")
            reg = getattr(self.monitor.current, "registration", None) if self.monitor else None
            for key in reg.additional_secret_outputs if reg else []:
                if key in out:
                    out[key] = secret(out[key])
            return f"cmd-{n}", out
        if t == "command:local:Command":
            out.update(stdout="", stderr="")
            return f"local-{n}", out
        if t == "aws:lb/loadBalancer:LoadBalancer":
            arn = f"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/{args.name}/0123456789abcdef"
            out.update(arn=arn, dnsName=f"{args.name}-0123456789abcdef.elb.eu-west-1.amazonaws.com")
            return arn, out
        if t == "aws:lb/targetGroup:TargetGroup":
            arn = f"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{args.name}/0123456789abcdef"
            out.update(arn=arn)
            return arn, out
        if t == "aws:ec2/eip:Eip":
            out.update(allocationId=f"eipalloc-{n:017x}", publicIp=f"198.51.100.{100 + n % 100}")
            return f"eipalloc-{n:017x}", out
        return f"{args.name}-id", out


def _passes(opt_in_status: str, filters: Any) -> bool:
    """DescribeAvailabilityZones' filter, for the one filter the program sends."""
    for f in filters or []:
        if f.get("name") == "opt-in-status" and opt_in_status not in f.get("values", []):
            return False
    return True


def _plain(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        return str(value["value"])
    return str(value or "")

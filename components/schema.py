"""Every configuration key of the stack, in one table: KEYS.

The table is the only description of the configuration. components/settings.py parses
with it; Pulumi.yaml's `config:` block and the README's configuration table are
generated from it:

    python -m components.schema docs --write     (or: make docs)

and tests/unit/test_schema.py fails when either file, or a Settings field, disagrees.
Adding a key: one Key below, its Settings field, then `make docs`.

Each rule lives with what it protects (subnets in network.py, ports and CIDRs in
firewall.py, the key pair in nodes.py, daemon.json in userdata.py, image references
in image_ref.py) and names the authority that would refuse the value later; the table
only points at them. A check returns (value to show, rule) pairs; [] means fine.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from components import firewall, image_ref, network, nodes, userdata
from components import load_balancer as lb

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PULUMI_YAML = ROOT / "Pulumi.yaml"
BEGIN, END = "<!-- BEGIN_CONFIG_DOCS -->", "<!-- END_CONFIG_DOCS -->"
REGENERATE = "python -m components.schema docs --write"

Bad = tuple[Any, str]  # (the value to show, the rule it breaks)


@dataclass(frozen=True)
class Key:
    name: str
    type: Literal["integer", "string", "boolean", "array"]  # Pulumi.yaml's types
    default: Any
    description: str
    check: Callable[[Any], Sequence[Bad]] | None = None  # on the typed value
    lo: int | None = None  # integers: bounds, both inclusive
    hi: int | None = None
    # Secret: never shown in a message, read as a secret Output, and not declared in
    # Pulumi.yaml (the CLI would merge its default as plain text, then refuse it as not
    # encrypted; and a declared key without a default is required: pulumi/pulumi
    # pkg/workspace/config.go).
    secret: bool = False
    required: bool = False  # documented as required; its check reports it missing
    convert: Callable[[Any], Any] | None = None  # typed, checked value -> Settings value
    see: str = ""  # README only: a link to where the key is explained

    @property
    def field(self) -> str:
        """The Settings field: the key in snake case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()


# --- rules that have no component of their own ------------------------------------

# swarmkit's rule for a service name (manager/controlapi/common.go, validateAnnotations):
# a DNS name component, at most 63 characters. The manager refuses anything else when
# the service is created, after the whole cluster is built.
_SWARM_NAME = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")
# An EC2 instance type's spelling (family, generation and options, a dot, the size):
# t3.micro, c7gn.16xlarge, u-6tb1.metal. Whether the region offers it: components/region.py.
_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+")
SMOKE_MODES = ("mesh", "tasks")
HARDENING = "[Hardening options](#hardening-options)"
FRONT_DOOR = "[Load balancer and private workers](#load-balancer-and-private-workers)"
_SSH_CIDR_COMMAND = "pulumi config set --path 'sshAllowedCidrs[0]' \"$(curl -s https://checkip.amazonaws.com)/32\""


def _service_name(name: str) -> list[Bad]:
    if not _SWARM_NAME.fullmatch(name) or len(name) > 63:
        return [(name, "must be a DNS name component as swarm takes it: 1-63 letters, digits, '-' or '_', "
                 "starting and ending with a letter or digit (no '.')")]  # fmt: skip
    return []


def _instance_type(value: str) -> list[Bad]:
    if not _INSTANCE_TYPE.fullmatch(value):
        return [(value, "must be an EC2 instance type, e.g. t3.micro")]
    return []


def _odd_managers(n: int) -> list[Bad]:
    return [] if n % 2 else [(n, "must be odd (1, 3, 5 or 7) so Raft keeps a majority")]


def _ssh_cidrs(values: list[str]) -> list[Bad]:
    if not values:
        return [(values, f"is required: the addresses allowed to SSH to the nodes. Set it with `{_SSH_CIDR_COMMAND}`")]
    return firewall.cidr_problems(values)


def _app_cidrs(values: list[str]) -> list[Bad]:
    if not values:
        return [(values, "must list at least one CIDR that may reach the service")]
    return firewall.cidr_problems(values)


def _public_key(text: str) -> list[Bad]:
    return nodes.public_key_problems(text) if text else []


def _additional_keys(keys: list[str]) -> list[Bad]:
    found: list[Bad] = [bad for k in keys for bad in nodes.public_key_problems(k)]
    if len(set(keys)) != len(keys):
        found.append((keys, "lists a key twice"))
    return found


def _smoke_mode(mode: str) -> list[Bad]:
    return [] if mode in SMOKE_MODES else [(mode, f"must be one of {', '.join(SMOKE_MODES)}")]


def _login_user(user: str) -> list[Bad]:
    if userdata.LOGIN_USER.fullmatch(user):
        return []
    return [(user, "must be a Linux user name (the AMI's login user, 'ubuntu' on Ubuntu)")]


KEYS: tuple[Key, ...] = (
    Key("managerCount", "integer", 1, "Number of manager nodes. Odd (1, 3, 5 or 7) so Raft keeps a majority.",
        _odd_managers, lo=1, hi=7),
    Key("workerCount", "integer", 2, "Number of worker nodes, 0 to 100.", lo=0, hi=100),
    Key("instanceType", "string", "t3.micro",
        "EC2 instance type of every node, looked up in the region before anything is created. "
        "Graviton types (t4g...) get the arm64 Ubuntu image.", _instance_type),
    Key("ami", "string", "",
        "The AMI (ami-...) of new and replaced nodes. Empty: the newest Canonical Ubuntu 24.04 image of "
        "the region, looked up on each run; a running node keeps the image it was created with either way, "
        "and a new image reaches running nodes only by replacing them (make roll). Its architecture must "
        "be one the instance type runs.", nodes.ami_problems),
    Key("rootVolumeGb", "integer", 20, "Size of each node's encrypted gp3 root volume in GiB, 8 to 1024.",
        lo=8, hi=1024),
    Key("vpcCidr", "string", "10.0.0.0/16",
        "IPv4 CIDR of the VPC, /16 to /24. Subnets are carved 4 bits smaller, one per zone; each must hold "
        "its share of the nodes.", network.vpc_cidr_problems),
    Key("azCount", "integer", 3,
        "Availability zones to spread nodes over, 1 to 6; capped by the zones the region has (its own zones: "
        "Local and Wavelength Zones are not used).", lo=1, hi=6),
    Key("sshAllowedCidrs", "array", [],
        "REQUIRED. IPv4 CIDRs allowed to SSH to the nodes (the deployer runs its remote commands over SSH). "
        "CIDRs that together cover the whole internet (0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1), or any "
        "block larger than a /8, are refused unless allowSshFromAnywhere is true.",
        _ssh_cidrs, required=True, convert=firewall.canonical_cidrs),
    Key("allowSshFromAnywhere", "boolean", False,
        "Allow sshAllowedCidrs that cover the whole internet or a block larger than a /8. Leave false."),
    Key("appAllowedCidrs", "array", ["0.0.0.0/0"],
        "IPv4 CIDRs allowed to reach the service's published port on every node.",
        _app_cidrs, convert=firewall.canonical_cidrs),
    Key("sshPublicKey", "string", "",
        "OpenSSH public key installed on the nodes, ssh-ed25519 or ssh-rsa (the types EC2 imports). Empty: a "
        "key is generated (pulumi-tls) and its private half is the secret output privateKey.", _public_key),
    Key("sshPrivateKey", "string", "",
        "Private half of sshPublicKey, for the deployer's SSH: `pulumi config set --secret sshPrivateKey < key`. "
        "Unset: the deployer's SSH agent. Not declared in Pulumi.yaml (a secret key cannot have a default).",
        secret=True),
    Key("sshAdditionalPublicKeys", "array", [],
        "More OpenSSH public keys authorized on every node, besides sshPublicKey: step 1 of rotating the key "
        "without replacing nodes (see Rotating the SSH key).", _additional_keys, convert=tuple,
        see="[Rotating the SSH key](#rotating-the-ssh-key)"),
    Key("sshUser", "string", "ubuntu", "Login user of the image (ubuntu on Ubuntu AMIs).", _login_user),
    Key("serviceName", "string", "testapp",
        "Name of the swarm service: 1 to 63 letters, digits, '-' or '_' (swarm's rule for a DNS name component).",
        _service_name),
    Key("serviceImage", "string", "shaikkhajaibrahim/qttestapp:1.0", "Image of the service (a docker reference).",
        image_ref.reference_problems),
    Key("serviceReplicas", "integer", 2, "Replicas of the service, 1 to 1000.", lo=1, hi=1000),
    Key("servicePublishedPort", "integer", 5001,
        "Port every node answers on (routing mesh), 1 to 65535. Not 22, 2377, 7946 or 4789.",
        firewall.published_port_problems, lo=1, hi=65535),
    Key("serviceTargetPort", "integer", 5000, "Port the service's containers listen on, 1 to 65535.",
        lo=1, hi=65535),
    Key("smokeTestMode", "string", "mesh",
        "mesh: the smoke test asks every node on the published port (needs IPVS, as on AWS). "
        "tasks: it asks each task directly and does not check the mesh (kernels without IPVS).", _smoke_mode),
    Key("smokeProbeImage", "string", "busybox:1.36",
        "Image with sh, nslookup and wget for the smoke test's probe (smokeTestMode tasks only).",
        image_ref.reference_problems),
    Key("dockerInsecureRegistries", "array", [],
        "Registries (host:port) the nodes' Docker may pull from over plain HTTP, e.g. a private registry "
        "inside the VPC. Empty: TLS registries only.", userdata.registry_problems, convert=tuple),
    Key("encryptedOverlay", "boolean", False,
        "Encrypt the service's overlay network (IPsec between nodes; the firewall also admits IP protocol 50, "
        "ESP, between members). Costs CPU on every packet.", see=HARDENING),
    Key("autolock", "boolean", False,
        "Initialise the swarm with autolock: a restarted manager stays locked until `docker swarm unlock` "
        "with the unlock key (the secret output unlockKey).", see=HARDENING),
    Key("loadBalancer", "boolean", False,
        "An internet-facing Network Load Balancer in front of the routing mesh: a listener on "
        "servicePublishedPort (TLS on 443 with certificateArn), every node a health-checked target, cross-zone. "
        "appAllowedCidrs then applies at the load balancer, and the nodes admit the published port only from it "
        "and from each other. Output serviceEndpoint.", see=FRONT_DOOR),
    Key("certificateArn", "string", "",
        "ACM certificate (arn:aws:acm:<region>:<account>:certificate/<id>, in the stack's region) for a TLS "
        "listener on 443; serviceEndpoint is then https://. Needs loadBalancer. Empty: a TCP listener.",
        lb.certificate_arn_problems, see=FRONT_DOOR),
    Key("privateWorkers", "boolean", False,
        "Workers in private subnets (one per zone) with no public address, egress through a NAT gateway; the "
        "deployer reaches them through manager-1 as an SSH jump host, and they admit SSH only from the managers.",
        see=FRONT_DOOR),
    Key("natGatewayPerZone", "boolean", False,
        "With privateWorkers: one NAT gateway per zone (a zone's outage leaves the other zones' workers their "
        "egress) instead of one shared, in the first zone. Costs one NAT gateway per zone. Needs privateWorkers.",
        see=FRONT_DOOR),
    Key("pinHostKeys", "boolean", True,
        "Generate each node's SSH host key (pulumi-tls), install it with cloud-init, and accept only that key "
        "from the node. False: trust the first key seen.", see=HARDENING),
)  # fmt: skip

BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}


# --- rules across keys --------------------------------------------------------------
# Each runs when all its keys have valid values; it returns (key, value to show, rule).
Values = Mapping[str, Any]


def _subnet_capacity(v: Values) -> list[tuple[str, Any, str]]:
    # With privateWorkers the workers have subnets of their own, of the same size.
    if v["privateWorkers"]:
        nodes_count = max(v["managerCount"], v["workerCount"])
    else:
        nodes_count = v["managerCount"] + v["workerCount"]
    return [("vpcCidr", *bad) for bad in network.subnet_capacity_problems(v["vpcCidr"], nodes_count, v["azCount"])]


def _ssh_exposure(v: Values) -> list[tuple[str, Any, str]]:
    if v["allowSshFromAnywhere"]:
        return []
    hint = "; use your own address/32, or set allowSshFromAnywhere: true if you really mean it"
    found = firewall.world_exposure_problems(v["sshAllowedCidrs"])
    return [("sshAllowedCidrs", shown, rule + hint) for shown, rule in found]


def _private_needs_public(v: Values) -> list[tuple[str, Any, str]]:
    if v["sshPrivateKey"] is not None and not v["sshPublicKey"]:
        return [("sshPrivateKey", None, "is set but sshPublicKey is not: set both, or neither to generate a key")]
    return []


def _needs(key: str, needed: str, unset: object) -> Callable[[Values], list[tuple[str, Any, str]]]:
    def check(v: Values) -> list[tuple[str, Any, str]]:
        if v[key] != unset and not v[needed]:
            return [(key, v[key], f"needs {needed}: true (set it, or leave {key} unset)")]
        return []

    return check


CROSS_CHECKS: tuple[tuple[tuple[str, ...], Callable[[Values], list[tuple[str, Any, str]]]], ...] = (
    # On every CIDR that parses, even when another element of the list is refused.
    (("allowSshFromAnywhere",), _ssh_exposure),
    (("sshPrivateKey", "sshPublicKey"), _private_needs_public),
    (("vpcCidr", "managerCount", "workerCount", "azCount", "privateWorkers"), _subnet_capacity),
    (("certificateArn", "loadBalancer"), _needs("certificateArn", "loadBalancer", "")),
    (("natGatewayPerZone", "privateWorkers"), _needs("natGatewayPerZone", "privateWorkers", False)),
)


# --- typing: config values arrive as strings (arrays as JSON) -------------------------
# ASCII digits only: int() would also take "+3", "٣", "1_1" (as 11); and at most 18 of
# them, far beyond any bound, and short of int()'s 4300-digit limit (a ValueError).
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def typed(key: Key, raw: Any) -> tuple[Any, list[Bad]]:
    """RAW (a config string) as KEY's type, bounds checked; the default and problems if not."""
    if key.type == "integer":
        text = raw if isinstance(raw, str) else json.dumps(raw)
        rule = f"must be an integer from {key.lo} to {key.hi}"
        if not _INTEGER.fullmatch(text):
            return key.default, [(raw, rule + " (ASCII digits only)")]
        value = int(text)
        assert key.lo is not None and key.hi is not None, key.name
        return value, ([] if key.lo <= value <= key.hi else [(value, rule)])
    if key.type == "boolean":
        if isinstance(raw, bool):
            return raw, []
        text = str(raw).strip().lower()
        if text in ("true", "false"):
            return text == "true", []
        return key.default, [(raw, "must be true or false")]
    if key.type == "array":
        value = raw
        if isinstance(raw, str):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return list(key.default), [(raw, 'must be a list of strings, e.g. ["203.0.113.7/32"]')]
        return value, []
    return str(raw).strip(), []


# --- generated documentation ----------------------------------------------------------


def _md_default(key: Key) -> str:
    if key.required:
        return "**required**"
    if key.default == "":
        return "empty"
    return f"`{json.dumps(key.default) if not isinstance(key.default, str) else key.default}`"


def readme_table() -> str:
    """The README's configuration table (between BEGIN and END)."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for k in KEYS:
        kind = {"array": "array of strings"}.get(k.type, k.type)
        kind = f"secret {kind}" if k.secret else kind
        text = k.description.replace("|", r"\|") + (f" See {k.see}." if k.see else "")
        rows.append(f"| `{k.name}` | {kind} | {_md_default(k)} | {text} |")
    return "\n".join(rows) + "\n"


_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._/,()'-]|:(?! ))*")  # safe as a plain YAML scalar


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)  # JSON is YAML: lists in flow style, strings double-quoted


def _yaml_description(text: str) -> list[str]:
    line = f"    description: {text}"
    if len(line) <= 120 and ": " not in text and " #" not in text and yaml.safe_load(text) == text:
        return [line]
    return [
        "    description: >-",
        *textwrap.wrap(
            # Folded lines join with a blank: never break inside a word ("health-checked").
            text,
            width=88,
            initial_indent=" " * 6,
            subsequent_indent=" " * 6,
            break_on_hyphens=False,
            break_long_words=False,
        ),
    ]


def pulumi_yaml_config() -> str:
    """Pulumi.yaml's `config:` block, from `config:` to the end of the file."""
    lines = ["config:"]
    for k in KEYS:
        if k.secret:
            continue
        lines += [f"  {k.name}:", f"    type: {k.type}"]
        if k.type == "array":
            lines += ["    items:", "      type: string"]
        lines += [f"    default: {_yaml_scalar(k.default)}", *_yaml_description(k.description)]
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text)["config"] != declared():  # the emitter above is hand-made: prove it
        raise AssertionError("the generated config block does not read back as the schema")
    return text


def declared() -> dict[str, dict[str, Any]]:
    """What Pulumi.yaml's `config:` block must say, key by key."""
    out: dict[str, dict[str, Any]] = {}
    for k in KEYS:
        if not k.secret:
            spec: dict[str, Any] = {"type": k.type}
            if k.type == "array":
                spec["items"] = {"type": "string"}
            out[k.name] = {**spec, "default": k.default, "description": k.description}
    return out


def with_readme_table(text: str) -> str:
    head, begin, rest = text.partition(BEGIN + "\n")
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block")
    return head + begin + readme_table() + end + tail


def with_pulumi_yaml_config(text: str) -> str:
    head, found, _ = text.partition("\nconfig:\n")
    if not found:
        raise ValueError("Pulumi.yaml has no top-level `config:` block")
    return head + "\n" + pulumi_yaml_config()


def out_of_date() -> list[Path]:
    """The generated files whose text differs from what the schema gives."""
    stale = []
    for path, render in ((README, with_readme_table), (PULUMI_YAML, with_pulumi_yaml_config)):
        text = path.read_text(encoding="utf-8")
        if render(text) != text:
            stale.append(path)
    return stale


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m components.schema", description="Generate the docs of the config schema."
    )
    parser.add_argument("what", choices=["docs"])
    parser.add_argument("--write", action="store_true", help="rewrite README.md's table and Pulumi.yaml's config:")
    args = parser.parse_args(list(argv) if argv is not None else None)
    stale = out_of_date()
    if args.write:
        for path, render in ((README, with_readme_table), (PULUMI_YAML, with_pulumi_yaml_config)):
            if path in stale:
                path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
        return 0
    for path in stale:
        print(f"{path.relative_to(ROOT)} is out of date: run {REGENERATE}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

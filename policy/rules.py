"""The swarm-guardrails rules: plain check functions, and the policy objects built from them.

Importing this module starts nothing (policy/__main__.py builds the PolicyPack, which
starts the analyzer's gRPC server), so tests call the checks, or the policies'
`validate`, directly.

What the engine hands a check, and how the checks treat it:
- `props` are the resource's inputs, camelCased, secrets already unwrapped, numbers
  possibly floats, dicts and lists wrapped in read-only proxies: test for
  `Mapping`/`Sequence`, never `dict`/`list`.
- A value unknown during `pulumi preview` raises `UnknownValueError` when read; the
  engine then notes that the policy could not run, as an advisory diagnostic. The
  user-data and docker-provider checks skip unknown values themselves (both are
  unknown on every preview of this program); `pulumi up` runs every check again on
  the known values before it creates the resource.
- Messages name what is wrong and where, never the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import email
import gzip
import ipaddress
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

# Resource types the rules look at.
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INSTANCE = "aws:ec2/instance:Instance"
DOCKER_PROVIDER = "pulumi:providers:docker"
# pulumi-aws registers aws.lb.* and its alias aws.alb.* under two tokens.
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
# ELB security policies whose lowest protocol is TLS 1.2 (TLS13-1-2-*, TLS13-1-3-*,
# TLS-1-2-*, FS-1-2-*). Any other, and an unset one (ELB then applies
# ELBSecurityPolicy-2016-08, which accepts TLS 1.0), lets clients downgrade.
TLS12_POLICY = re.compile(r"ELBSecurityPolicy-(?:TLS13-1-[23]|TLS-1-2|FS-1-2)(?:-.+)?")

# Ports that must never be reachable from the internet (the policy's description says why).
SWARM_PORTS: dict[int, str] = {22: "SSH", 2377: "swarm management", 7946: "swarm gossip", 4789: "VXLAN overlay"}

CLUSTER_TAG = "swarm-cluster"
ROLE_TAG = "swarm-role"
ROLES = ("manager", "worker")

# cloud-init's ssh_keys slots for the host's own private keys: the one place a
# private key may sit in user data (host-key pinning puts the node's key there).
HOST_KEY_SLOTS = frozenset({"rsa_private", "dsa_private", "ecdsa_private", "ed25519_private"})
JOIN_TOKEN = re.compile(r"SWMTKN-")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_B64_ENCODINGS = frozenset({"b64", "base64"})
_GZ_ENCODINGS = frozenset({"gz", "gzip"})
_GZ_B64_ENCODINGS = frozenset({"gz+b64", "gz+base64", "gzip+b64", "gzip+base64"})
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/=\s]+")

_UNKNOWN: Any = object()  # what _read returns for a value not known during preview


def _read(props: Mapping[str, Any], key: str) -> Any:
    """props[key], None when absent, _UNKNOWN when not known yet (preview)."""
    try:
        return props.get(key)
    except UnknownValueError:
        return _UNKNOWN


def _items(value: Any) -> list[Any]:
    """A list-valued property as a list ([] for None or a lone scalar's absence)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# ----------------------------------------------------------------- ingress rules


@dataclass(frozen=True)
class Ingress:
    """One ingress permission, whatever resource or block it comes from."""

    where: str  # "" for a per-rule resource, "ingress[2]" for an inline block
    protocol: str  # "all", "tcp", "udp", "icmp", "icmpv6", or an IP protocol number
    from_port: int | None
    to_port: int | None
    world: tuple[str, ...]  # the sources among its CIDRs that are the whole internet


_PROTOCOL_NAMES = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def normalize_protocol(value: Any) -> str:
    """The protocol by name: -1/all -> all, 6 -> tcp, 17 -> udp, ...; absent counts as all."""
    if value is None or value == "":
        return "all"
    text = str(value).strip().lower()
    if re.fullmatch(r"-?\d+(\.0*)?", text):  # "6", "6.0", "-1"
        text = str(int(float(text)))
    return _PROTOCOL_NAMES.get(text, text)


def is_world(cidr: Any) -> bool:
    """True for a CIDR that covers every address: 0.0.0.0/0, ::/0 (any spelling)."""
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _port(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(float(value))


def port_range(ingress: Ingress) -> tuple[int, int] | None:
    """The TCP/UDP ports the permission opens, or None when it opens none
    (ICMP, or a protocol without ports such as ESP)."""
    if ingress.protocol == "all":
        return (0, 65535)
    if ingress.protocol not in ("tcp", "udp"):
        return None
    low = 0 if ingress.from_port is None else max(ingress.from_port, 0)
    high = 65535 if ingress.to_port is None else ingress.to_port
    if high < 0:  # -1: "all ports"
        high = 65535
    return (min(low, high), max(low, high))


def ingress_permissions(resource_type: str, props: Mapping[str, Any]) -> list[Ingress]:
    """Every ingress permission a resource grants (its world-open sources listed)."""
    if resource_type == INGRESS_RULE:
        cidrs = [props.get("cidrIpv4"), props.get("cidrIpv6")]
        return [_ingress("", props.get("ipProtocol"), props, cidrs)]
    if resource_type == LEGACY_RULE:
        if _text(props.get("type")).lower() != "ingress":
            return []
        cidrs = _items(props.get("cidrBlocks")) + _items(props.get("ipv6CidrBlocks"))
        return [_ingress("", props.get("protocol"), props, cidrs)]
    if resource_type == SECURITY_GROUP:
        found = []
        for i, block in enumerate(_items(props.get("ingress"))):
            if isinstance(block, Mapping):
                cidrs = _items(block.get("cidrBlocks")) + _items(block.get("ipv6CidrBlocks"))
                found.append(_ingress(f"ingress[{i}]", block.get("protocol"), block, cidrs))
        return found
    return []


def _ingress(where: str, protocol: Any, block: Mapping[str, Any], cidrs: list[Any]) -> Ingress:
    world = tuple(str(c) for c in cidrs if c is not None and is_world(c))
    return Ingress(where, normalize_protocol(protocol), _port(block.get("fromPort")), _port(block.get("toPort")), world)


def _at(ingress: Ingress) -> str:
    return f" ({ingress.where})" if ingress.where else ""


def check_no_world_swarm_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for ingress in ingress_permissions(args.resource_type, args.props):
        ports = port_range(ingress)
        if not ingress.world or ports is None:
            continue
        exposed = [f"{p} ({what})" for p, what in SWARM_PORTS.items() if ports[0] <= p <= ports[1]]
        if exposed:
            report(
                f"ingress{_at(ingress)} opens {', '.join(exposed)} to {', '.join(ingress.world)} "
                f"(protocol {ingress.protocol}, ports {ports[0]}-{ports[1]}). Allow these ports only from "
                "the group's own members or named CIDRs.",
                None,
            )


def check_no_world_all_traffic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for ingress in ingress_permissions(args.resource_type, args.props):
        ports = port_range(ingress)
        if not ingress.world or ports is None:
            continue
        if ingress.protocol == "all" or (ports[0] <= 1 and ports[1] >= 65535):
            what = "all protocols" if ingress.protocol == "all" else f"every {ingress.protocol} port"
            report(f"ingress{_at(ingress)} allows {what} from {', '.join(ingress.world)}.", None)


def check_rule_description(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type in (INGRESS_RULE, EGRESS_RULE, LEGACY_RULE):
        if not _text(props.get("description")).strip():
            report("security group rule has no description: say what the rule is for and who it admits.", None)
    elif args.resource_type == SECURITY_GROUP:
        for kind in ("ingress", "egress"):
            for i, block in enumerate(_items(props.get(kind))):
                if isinstance(block, Mapping) and not _text(block.get("description")).strip():
                    report(f"{kind}[{i}] of the security group has no description.", None)


# ----------------------------------------------------------------- instances


def check_imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != INSTANCE:
        return
    options = args.props.get("metadataOptions")
    options = options if isinstance(options, Mapping) else {}
    if options.get("httpEndpoint") == "disabled":
        return  # no metadata service at all: nothing to steal credentials from
    if options.get("httpTokens") != "required":
        report(
            'instance allows IMDSv1: set metadata_options.http_tokens = "required" '
            f"(now {options.get('httpTokens')!r}).",
            None,
        )


def check_root_volume_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != INSTANCE:
        return
    root = args.props.get("rootBlockDevice")
    if not isinstance(root, Mapping) or root.get("encrypted") is not True:
        report("instance root volume is not encrypted: set root_block_device.encrypted = True.", None)


def _tags(props: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("tags", "tagsAll"):
        tags = _read(props, key)
        if isinstance(tags, Mapping) and tags:
            return tags
    return {}


def check_cluster_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != INSTANCE:
        return
    tags = _tags(args.props)
    missing = [t for t in (CLUSTER_TAG, ROLE_TAG) if not _text(tags.get(t)).strip()]
    if missing:
        report(f"instance lacks the tag(s) {', '.join(missing)}.", None)
    elif tags.get(ROLE_TAG) not in ROLES:
        report(f"instance tag {ROLE_TAG} is {tags.get(ROLE_TAG)!r}, not one of {', '.join(ROLES)}.", None)


# ----------------------------------------------------------------- user data


def _ungzip(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _as_text(data: bytes) -> str | None:
    try:
        return _ungzip(data).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None


def decode_base64(value: str) -> str | None:
    """Base64 (optionally of gzip) to text; None when it is not that."""
    compact = "".join(value.split())
    if not compact or not _BASE64_TEXT.fullmatch(compact):
        return None
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _as_text(data)


def user_data_texts(props: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    """(origin, text) of every user data an instance carries, decoded; None when unknown."""
    texts: list[tuple[str, str]] = []
    plain = _read(props, "userData")
    encoded = _read(props, "userDataBase64")
    if plain is _UNKNOWN or encoded is _UNKNOWN:
        return None
    if isinstance(plain, str) and plain:
        texts.append(("userData", plain))
        decoded = decode_base64(plain)  # base64 passed in the plain field
        if decoded is not None:
            texts.append(("userData (base64-decoded)", decoded))
    if isinstance(encoded, str) and encoded:
        decoded = decode_base64(encoded)
        texts.append(("userDataBase64", decoded if decoded is not None else encoded))
    return texts


def _is_cloud_config(text: str) -> bool:
    lines = text.lstrip().splitlines()[:2]
    if lines and lines[0].lower().startswith("## template:"):  # cloud-init's jinja header
        lines = lines[1:]
    return bool(lines) and lines[0].rstrip().lower() == "#cloud-config"


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string in a parsed YAML document (keys included), with its path."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield (*path, str(key)), str(key)
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, str(i)))
    elif isinstance(node, bytes):  # !!binary
        yield path, _as_text(node) or node.decode("latin-1")
    elif node is not None:
        yield path, str(node)


def _write_files_decoded(doc: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    """The decoded content of write_files entries that are base64 and/or gzip encoded."""
    for i, entry in enumerate(_items(doc.get("write_files"))):
        if not isinstance(entry, Mapping):
            continue
        encoding = _text(entry.get("encoding")).strip().lower()
        content = entry.get("content")
        path = ("write_files", str(i), "content")
        text: str | None = None
        if isinstance(content, bytes):
            text = _as_text(content)
        elif isinstance(content, str) and encoding in _B64_ENCODINGS | _GZ_B64_ENCODINGS:
            text = decode_base64(content)
        if text is not None and (encoding in _B64_ENCODINGS | _GZ_ENCODINGS | _GZ_B64_ENCODINGS):
            yield path, text


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(top level)"


def user_data_findings(text: str) -> list[str]:
    """What in one user data must not be there (join tokens, misplaced private keys)."""
    if text.lstrip()[:40].lower().startswith(("content-type:", "mime-version:")):
        message = email.message_from_string(text)
        if message.is_multipart():
            findings: list[str] = []
            for n, part in enumerate(p for p in message.walk() if not p.is_multipart()):
                payload = part.get_payload(decode=True)
                part_text = _as_text(payload) if isinstance(payload, bytes) else None
                if part_text is None:
                    part_text = _text(part.get_payload())
                findings += [f"MIME part {n}: {f}" for f in user_data_findings(part_text)]
            return findings

    doc: Any = None
    if _is_cloud_config(text):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            doc = None
    if not isinstance(doc, Mapping):
        # Not cloud-config (a script, an #include...): there is no place a key may sit.
        findings = []
        if JOIN_TOKEN.search(text):
            findings.append("a swarm join token (SWMTKN-...)")
        if PRIVATE_KEY.search(text):
            findings.append("a private key (not cloud-config, so not in ssh_keys)")
        return findings

    tokens: list[str] = []
    misplaced: list[str] = []
    in_slots = 0
    for path, value in [*_leaves(doc), *_write_files_decoded(doc)]:
        if JOIN_TOKEN.search(value):
            tokens.append(_dotted(path))
        keys = len(PRIVATE_KEY.findall(value))
        if not keys:
            continue
        if len(path) == 2 and path[0] == "ssh_keys" and path[1] in HOST_KEY_SLOTS:
            in_slots += keys
        else:
            misplaced.append(_dotted(path))
    findings = []
    tokens, misplaced = list(dict.fromkeys(tokens)), list(dict.fromkeys(misplaced))
    if tokens:
        findings.append(f"a swarm join token (SWMTKN-...) at {', '.join(tokens)}")
    elif JOIN_TOKEN.search(text):
        findings.append("a swarm join token (SWMTKN-...) outside the parsed document (e.g. in a YAML comment)")
    if misplaced:
        findings.append(f"a private key at {', '.join(misplaced)} (only ssh_keys.<type>_private may hold one)")
    elif len(PRIVATE_KEY.findall(text)) > in_slots:
        findings.append("a private key outside ssh_keys (e.g. in a YAML comment)")
    return findings


def check_user_data_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != INSTANCE:
        return
    texts = user_data_texts(args.props)
    if texts is None:
        return  # unknown during preview; `pulumi up` checks the real value
    for origin, text in texts:
        for finding in user_data_findings(text):
            report(
                f"{origin} contains {finding}. User data is readable from the instance metadata service "
                "and by anyone allowed ec2:DescribeInstanceAttribute: pass secrets over SSH instead.",
                None,
            )


# ----------------------------------------------------------------- docker provider

TLS_MATERIAL = ("certMaterial", "keyMaterial", "caMaterial")
PLAIN_SCHEMES = ("tcp", "http", "https")  # network endpoints that need client-certificate TLS


def check_docker_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DOCKER_PROVIDER:
        return
    host = _read(args.props, "host")
    if host is _UNKNOWN or not isinstance(host, str) or "://" not in host:
        return  # unknown in preview, or absent (the local socket / DOCKER_HOST)
    scheme = host.split("://", 1)[0].strip().lower()
    if scheme not in PLAIN_SCHEMES:
        return  # ssh://, unix://, npipe://: authenticated by SSH or by file permissions

    def present(key: str) -> bool:
        value = _read(args.props, key)
        return value is _UNKNOWN or bool(_text(value).strip())

    if present("certPath"):
        return
    missing = [k for k in TLS_MATERIAL if not present(k)]
    if missing:
        report(
            f"docker provider talks to {scheme}:// without TLS client authentication (missing "
            f"{', '.join(missing)}, and no certPath): anyone who reaches that port controls the daemon, "
            "which is root on the host. Use ssh:// or give the TLS material.",
            None,
        )


# ----------------------------------------------------------------- load balancers


def check_lb_security_groups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LOAD_BALANCERS:
        return
    kind = _read(args.props, "loadBalancerType")
    if kind != "network" or _read(args.props, "internal") is True:
        return
    if not _items(_read(args.props, "securityGroups")):
        report(
            "internet-facing network load balancer without security groups: nothing limits who reaches its "
            "listeners, and ELB cannot add groups to an NLB created without any (a replacement, with a new DNS "
            "name). Give it a security group that admits the allowed CIDRs on the listener port.",
            None,
        )


def check_lb_tls_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LISTENERS:
        return
    protocol = _text(_read(args.props, "protocol")).upper()
    if protocol not in ("TLS", "HTTPS"):
        return
    policy = _read(args.props, "sslPolicy")
    if policy is _UNKNOWN:
        return
    if not TLS12_POLICY.fullmatch(_text(policy)):
        shown = f"{policy!r}" if policy else "unset (ELB then applies ELBSecurityPolicy-2016-08)"
        report(
            f"{protocol} listener's ssl_policy is {shown}: it accepts TLS below 1.2. Use "
            "ELBSecurityPolicy-TLS13-1-2-2021-06 (or another TLS13-1-2 / TLS13-1-3 policy).",
            None,
        )


def check_target_health_check(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TARGET_GROUPS:
        return
    check = _read(args.props, "healthCheck")
    if isinstance(check, Mapping) and check.get("enabled") is False:
        report(
            "target group with its health check disabled: a node that stops answering (replaced, drained, "
            "down) keeps receiving clients. Enable health_check.",
            None,
        )


# ----------------------------------------------------------------- stack


def manager_counts(resources: Sequence[PolicyResource]) -> dict[str, tuple[int, int]]:
    """{cluster: (managers, swarm instances)} over the instances tagged as swarm members."""
    counts: dict[str, tuple[int, int]] = {}
    for r in resources:
        if r.resource_type != INSTANCE:
            continue
        tags = _tags(r.props)
        if CLUSTER_TAG not in tags and ROLE_TAG not in tags:
            continue
        cluster = _text(tags.get(CLUSTER_TAG))
        managers, members = counts.get(cluster, (0, 0))
        counts[cluster] = (managers + (tags.get(ROLE_TAG) == "manager"), members + 1)
    return counts


def check_private_instances_ssh(args: StackValidationArgs, report: ReportViolation) -> None:
    """An instance with no public address (associate_public_ip_address false) is reached
    through a jump host: its groups admit SSH from other groups only, never from a CIDR."""
    ssh_from_cidr: dict[str, list[str]] = {}  # group id -> the CIDRs its rules admit SSH from
    for r in args.resources:
        for ingress in ingress_permissions(r.resource_type, r.props):
            ports = port_range(ingress)
            if ports is None or not ports[0] <= 22 <= ports[1]:
                continue
            if r.resource_type == SECURITY_GROUP:
                group = _text(_read(r.props, "id"))
                blocks = [b for b in _items(_read(r.props, "ingress")) if isinstance(b, Mapping)]
                cidrs = [str(c) for b in blocks for c in _items(b.get("cidrBlocks")) + _items(b.get("ipv6CidrBlocks"))]
            else:
                group = _text(_read(r.props, "securityGroupId"))
                cidrs = [str(c) for c in (_read(r.props, "cidrIpv4"), _read(r.props, "cidrIpv6"),
                                          *_items(_read(r.props, "cidrBlocks"))) if c]  # fmt: skip
            if group and cidrs:
                ssh_from_cidr.setdefault(group, []).extend(cidrs)
    for r in args.resources:
        if r.resource_type != INSTANCE or _read(r.props, "associatePublicIpAddress") is not False:
            continue
        for group in _items(_read(r.props, "vpcSecurityGroupIds")):
            if str(group) in ssh_from_cidr:
                report(
                    f"instance {r.name} has no public address (reached through a jump host), but its security "
                    f"group {group} admits SSH from {', '.join(sorted(set(ssh_from_cidr[str(group)])))}: admit "
                    "SSH to private instances only from the jump host's security group.",
                    r.urn,
                )


def check_odd_managers(args: StackValidationArgs, report: ReportViolation) -> None:
    for cluster, (managers, members) in sorted(manager_counts(args.resources).items()):
        if managers % 2 == 0:
            name = f"swarm {cluster!r}" if cluster else "the swarm (no swarm-cluster tag)"
            report(
                f"{name} has {managers} manager(s) among {members} instance(s): Raft needs an odd number "
                "(1, 3, 5 or 7) to keep a majority; an even number tolerates no more failures than one fewer.",
                None,
            )


# ----------------------------------------------------------------- policies

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

no_world_swarm_ports = ResourceValidationPolicy(
    name="no-world-open-swarm-ports",
    description=(
        "No security group rule opens SSH (22), swarm management (2377), gossip (7946) or VXLAN (4789) "
        "to 0.0.0.0/0 or ::/0, with any protocol or a port range that contains them. From the internet "
        "these let anyone brute-force SSH, join or take over the swarm, or inject overlay traffic."
    ),
    validate=check_no_world_swarm_ports,
    enforcement_level=MANDATORY,
)

no_world_all_traffic = ResourceValidationPolicy(
    name="no-world-all-traffic-ingress",
    description=(
        "No ingress rule admits all traffic (protocol -1/all, or every port 0-65535) from 0.0.0.0/0 or ::/0: "
        "it exposes every service on the nodes, including the Docker and swarm ports, to the internet."
    ),
    validate=check_no_world_all_traffic,
    enforcement_level=MANDATORY,
)

instance_imdsv2 = ResourceValidationPolicy(
    name="instance-imdsv2-required",
    description=(
        "Every EC2 instance requires IMDSv2 (metadata_options.http_tokens = required). With IMDSv1 a "
        "server-side request forgery in any container can read the instance role's credentials."
    ),
    validate=check_imdsv2,
    enforcement_level=MANDATORY,
)

instance_root_encrypted = ResourceValidationPolicy(
    name="instance-root-volume-encrypted",
    description=(
        "Every EC2 instance has an encrypted root volume (root_block_device.encrypted = True), so "
        "snapshots and detached volumes do not leak the swarm's keys, secrets and data."
    ),
    validate=check_root_volume_encrypted,
    enforcement_level=MANDATORY,
)

no_secrets_in_user_data = ResourceValidationPolicy(
    name="no-secrets-in-user-data",
    description=(
        "Instance user data (plain, base64 or gzip+base64) holds no swarm join token (SWMTKN-) and no "
        "private key: it is readable from the metadata service and through ec2:DescribeInstanceAttribute. "
        "One exception: the node's own SSH host key in cloud-init's ssh_keys (<type>_private), put there "
        "by host-key pinning."
    ),
    validate=check_user_data_secrets,
    enforcement_level=MANDATORY,
)

docker_provider_tls = ResourceValidationPolicy(
    name="docker-provider-tls",
    description=(
        "The docker provider never talks to a daemon over plain tcp://: a tcp:// host needs TLS client "
        "certificates (certMaterial, keyMaterial and caMaterial, or certPath). An open Docker API is root "
        "on the host. ssh:// and unix:// are fine."
    ),
    validate=check_docker_tls,
    enforcement_level=MANDATORY,
)

odd_manager_count = StackValidationPolicy(
    name="odd-manager-count",
    description=(
        "Each swarm has an odd number of instances tagged swarm-role=manager (none only when the stack has "
        "no swarm instances). Raft needs a majority: an even count adds a failure point without adding "
        "fault tolerance, and zero managers leave workers without a swarm."
    ),
    validate=check_odd_managers,
    enforcement_level=MANDATORY,
)

rule_description = ResourceValidationPolicy(
    name="security-group-rule-description",
    description=("Every security group rule has a description, so a reviewer can tell why a port is open and to whom."),
    validate=check_rule_description,
    enforcement_level=ADVISORY,
)

instance_cluster_tags = ResourceValidationPolicy(
    name="instance-cluster-tags",
    description=(
        "Every EC2 instance is tagged swarm-cluster and swarm-role (manager or worker), so the manager-count "
        "rule, cost reports and operators can tell which swarm a node belongs to and what it does."
    ),
    validate=check_cluster_tags,
    enforcement_level=ADVISORY,
)

lb_security_groups = ResourceValidationPolicy(
    name="lb-internet-facing-has-security-group",
    description=(
        "An internet-facing Network Load Balancer has a security group. Without one nothing limits who "
        "reaches its listeners (appAllowedCidrs cannot hold at the door), and ELB cannot add one later "
        "to an NLB created without: it would have to be replaced, with a new DNS name."
    ),
    validate=check_lb_security_groups,
    enforcement_level=MANDATORY,
)

lb_tls_policy = ResourceValidationPolicy(
    name="lb-tls-listener-tls12",
    description=(
        "A TLS or HTTPS listener names a security policy whose lowest protocol is TLS 1.2 "
        "(ELBSecurityPolicy-TLS13-1-2-2021-06 or another TLS13-1-2, TLS13-1-3, TLS-1-2 or FS-1-2 policy). "
        "Unset, ELB applies ELBSecurityPolicy-2016-08, which still accepts TLS 1.0."
    ),
    validate=check_lb_tls_policy,
    enforcement_level=MANDATORY,
)

target_health_check = ResourceValidationPolicy(
    name="lb-target-group-health-check",
    description=(
        "Every load balancer target group keeps its health check enabled, so a node that stops answering "
        "(replaced, drained, down) is taken out of rotation."
    ),
    validate=check_target_health_check,
    enforcement_level=MANDATORY,
)

private_instances_ssh = StackValidationPolicy(
    name="private-instance-ssh-from-groups-only",
    description=(
        "An instance with no public address (associate_public_ip_address = false, e.g. privateWorkers) is "
        "reached through a jump host: its security groups admit SSH only from other security groups (the "
        "jump host's), never from a CIDR."
    ),
    validate=check_private_instances_ssh,
    enforcement_level=MANDATORY,
)

POLICIES: list[Policy] = [
    no_world_swarm_ports,
    no_world_all_traffic,
    instance_imdsv2,
    instance_root_encrypted,
    no_secrets_in_user_data,
    docker_provider_tls,
    odd_manager_count,
    rule_description,
    instance_cluster_tags,
    lb_security_groups,
    lb_tls_policy,
    target_health_check,
    private_instances_ssh,
]

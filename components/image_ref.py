"""The service's image as the docker provider will read it back. Pure.

The docker provider (kreuzwerker/terraform-provider-docker v4.5.0, bundled by
pulumi-docker 5.x) creates a service through the docker client with QueryRegistry;
the client (moby v28.5.2 client/service_create.go) first writes the image in its
familiar, tagged form (`imageWithTagString`: `nginx` -> `nginx:latest`,
`docker.io/library/nginx:1` -> `nginx:1`), then pins it to the registry's digest
(`imageWithDigestString`, kept as given when it already has one) and sets
Placement.Platforms from the registry's answer (`imageDigestAndPlatforms`, with
`arm` cleared). Read stores both as the daemon returns them, and no DiffSuppressFunc
hides a difference. So the program sends exactly that form: then create and
read-back agree, and the next `up` changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_DEFAULT_DOMAIN = "docker.io"
_OFFICIAL_PREFIX = "library/"

# An image reference as docker parses it: distribution/reference's grammar
# (reference/regexp.go: ReferenceRegexp, with NameTotalLengthMax = 255), which the
# daemon, the CLI and the docker provider all apply. Its first character is a letter or
# digit, so a reference can never be read as an option (`docker run --privileged`), and
# it holds no space, quote or newline.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?")
NAME_TOTAL_LENGTH_MAX = 255


def reference_problems(ref: str) -> list[tuple[str, str]]:
    """(value, rule) when docker would not parse REF as an image reference; [] if it would."""
    m = REFERENCE.fullmatch(ref)
    if m is None:
        rule = "must be an image reference as docker parses it, e.g. nginx:1.27 or registry:5000/team/app:v1"
        return [(ref, rule + " (lowercase repository, no spaces, not starting with '-')")]
    if len(m["name"]) > NAME_TOTAL_LENGTH_MAX:
        return [(ref, f"has a repository name longer than {NAME_TOTAL_LENGTH_MAX} characters")]
    if re.fullmatch(r"[a-f0-9]{64}", m["name"]):
        # reference.ParseNormalizedNamed: such a name could be an image ID.
        return [(ref, "must not be a 64-character hexadecimal name (docker reads it as an image ID)")]
    return []


@dataclass(frozen=True)
class PinnedImage:
    image: str  # familiar name, tag and digest: "nginx:1.27@sha256:..."
    platforms: tuple[tuple[str, str], ...]  # (architecture, os), as the client sets them


def familiar_tagged(ref: str) -> str:
    """docker/distribution's FamiliarString(TagNameOnly(ParseNormalizedNamed(ref)))."""
    name, _, digest = ref.partition("@")
    slash = name.find("/")
    first = name[:slash] if slash >= 0 else ""
    has_domain = slash >= 0 and ("." in first or ":" in first or first == "localhost")
    domain, path = (first, name[slash + 1 :]) if has_domain else (_DEFAULT_DOMAIN, name)
    if domain == "index.docker.io":
        domain = _DEFAULT_DOMAIN
    last = path.rsplit("/", 1)[-1]
    repo, tag = path.rsplit(":", 1) if ":" in last else (path, "")
    if domain == _DEFAULT_DOMAIN and "/" not in repo:
        repo = _OFFICIAL_PREFIX + repo  # the normalized form; made familiar below
    if domain == _DEFAULT_DOMAIN:
        shown = repo.removeprefix(_OFFICIAL_PREFIX) if repo.count("/") == 1 else repo
    else:
        shown = f"{domain}/{repo}"
    if not tag and not digest:
        tag = "latest"  # TagNameOnly adds it to a name-only reference
    return shown + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def pin(ref: str, distribution_inspect: str) -> PinnedImage:
    """REF pinned by the daemon's GET /distribution/{ref}/json answer (its JSON text)."""
    answer = json.loads(distribution_inspect)
    digest = answer["Descriptor"]["digest"]
    tagged = familiar_tagged(ref)
    image = tagged if "@" in tagged else f"{tagged}@{digest}"
    platforms = []
    for p in answer.get("Platforms") or []:
        arch = p.get("architecture", "")
        # moby clears "arm" (swarmkit#2294: nodes report armv7l).
        platforms.append(("" if arch.lower() == "arm" else arch, p.get("os", "")))
    return PinnedImage(image, tuple(dict.fromkeys(platforms)))

"""The image as the docker provider's create pins it (moby v28.5.2 client/service_create.go)."""

from __future__ import annotations

import json

import pytest

from components.image_ref import familiar_tagged, pin

DIGEST = "sha256:" + "0f" * 32


@pytest.mark.parametrize(
    "ref,familiar",
    [
        ("nginx", "nginx:latest"),  # TagNameOnly adds latest
        ("nginx:1.27", "nginx:1.27"),
        ("library/nginx:1.27", "nginx:1.27"),
        ("docker.io/library/nginx:1.27", "nginx:1.27"),
        ("index.docker.io/library/nginx", "nginx:latest"),
        ("docker.io/user/app:1", "user/app:1"),
        ("shaikkhajaibrahim/qttestapp:1.0", "shaikkhajaibrahim/qttestapp:1.0"),
        ("10.77.0.1:5000/testapp:lab", "10.77.0.1:5000/testapp:lab"),
        ("localhost/app", "localhost/app:latest"),
        ("reg.example:5000/team/app", "reg.example:5000/team/app:latest"),
        (f"nginx@{DIGEST}", f"nginx@{DIGEST}"),  # a digest only: no tag added
        (f"nginx:1@{DIGEST}", f"nginx:1@{DIGEST}"),
    ],
)
def test_familiar_tagged(ref: str, familiar: str) -> None:
    assert familiar_tagged(ref) == familiar


def test_pin_adds_the_digest_and_the_platforms_as_the_client_does() -> None:
    answer = json.dumps(
        {
            "Descriptor": {"digest": DIGEST},
            "Platforms": [
                {"architecture": "amd64", "os": "linux"},
                {"architecture": "arm", "os": "linux", "variant": "v6"},
                {"architecture": "arm", "os": "linux", "variant": "v7"},
                {"architecture": "arm64", "os": "linux"},
            ],
        }
    )
    p = pin("docker.io/library/nginx:1.27", answer)
    assert p.image == f"nginx:1.27@{DIGEST}"
    assert p.platforms == (("amd64", "linux"), ("", "linux"), ("arm64", "linux"))


def test_a_reference_with_a_digest_keeps_it() -> None:
    """imageWithDigestString returns a canonical reference unchanged."""
    other = "sha256:" + "11" * 32
    p = pin(f"app:1@{other}", json.dumps({"Descriptor": {"digest": DIGEST}, "Platforms": []}))
    assert p.image == f"app:1@{other}" and p.platforms == ()


@pytest.mark.parametrize(
    "ref",
    ["-x", "--privileged", "my image", "Nginx:1", "nginx:1.27 --rm", "nginx:\n", "a..b", "nginx:-1", "nginx@sha256:1",
     "/nginx", "nginx/", "reg:5000:1/x", "f" * 64, "x" * 256, "", "nginx\u0663"],
)  # fmt: skip
def test_references_docker_would_not_parse_are_refused(ref: str) -> None:
    """distribution/reference's grammar: what docker run and the docker provider parse."""
    from components.image_ref import reference_problems

    assert reference_problems(ref)


@pytest.mark.parametrize(
    "ref",
    ["nginx", "nginx:1.27", "library/nginx:latest", "shaikkhajaibrahim/qttestapp:1.0", "10.77.0.1:5000/testapp:lab",
     "registry.example.com:5000/team/app:v1@sha256:" + "ab" * 32, "localhost/a_b__c-d.e", "[fd00::1]:5000/probe"],
)  # fmt: skip
def test_references_docker_parses_pass(ref: str) -> None:
    from components.image_ref import reference_problems

    assert reference_problems(ref) == []

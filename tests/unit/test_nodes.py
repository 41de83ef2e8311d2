"""Node placement and image choice."""

from __future__ import annotations

from collections import Counter

import pytest

from components.nodes import ami_architecture, plan_nodes


@pytest.mark.parametrize(
    ("managers", "workers", "zones"), [(1, 2, 3), (3, 0, 3), (3, 30, 3), (5, 95, 6), (1, 0, 1), (7, 100, 2)]
)
def test_round_robin_over_zones(managers: int, workers: int, zones: int) -> None:
    specs = plan_nodes("swarm", managers, workers, zones)
    assert [s.role for s in specs] == ["manager"] * managers + ["worker"] * workers
    for role in ("manager", "worker"):  # each role spread evenly over the zones
        per_zone = Counter(s.zone_index for s in specs if s.role == role)
        if per_zone:
            counts = [per_zone.get(z, 0) for z in range(zones)]
            assert max(counts) - min(counts) <= 1, (role, counts)
    # Managers first take distinct zones: a 3-manager cluster survives a zone's loss.
    assert len({s.zone_index for s in specs[:managers]}) == min(managers, zones)
    assert len({s.name for s in specs}) == len(specs)


def test_names_are_stable_when_workers_change() -> None:
    three = [s.name for s in plan_nodes("swarm", 1, 3, 3)]
    two = [s.name for s in plan_nodes("swarm", 1, 2, 3)]
    assert two == three[:3] and three[-1] == "swarm-worker-3"


def test_architecture() -> None:
    assert ami_architecture(["x86_64", "i386"]) == "amd64"
    assert ami_architecture(["arm64"]) == "arm64"


ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl you@host"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= x", "EC2 imports only"),
        ("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t", "EC2 imports only"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "EC2 imports only"),
        ("ssh-ed25519", "public key line"),  # a type, no body
        ("ssh-rsa " + ED25519.split()[1], "does not match its type"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAUE=", "does not match its type"),  # a 1-byte key
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "does not match its type"),  # the type, no key
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOM", "not base64"),  # cut short
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq", "does not match its type"),  # torn
        (ED25519 + "\n" + ED25519, "public key line"),  # two keys
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----", "this is a private key"),
    ],
)
def test_keys_ec2_import_key_pair_would_refuse_are_refused(text: str, rule: str) -> None:
    from components.nodes import public_key_problems

    ((shown, found),) = public_key_problems(text)
    assert rule in found
    assert "b3Bl" not in shown  # a private key is never shown


def test_keys_ec2_imports_pass() -> None:
    from components.nodes import public_key_problems
    from tests.unit.test_settings import RSA

    assert public_key_problems(ED25519) == [] and public_key_problems(RSA) == []


@pytest.mark.parametrize("zones", [1, 2, 3, 6])
def test_a_node_never_moves_because_the_other_role_or_count_changed(zones: int) -> None:
    """A move is a replacement (the subnet is ForceNew): managerCount 1 -> 3 -> 1, or more
    workers, must leave every existing node in its zone."""
    where = {}
    for managers, workers in [(1, 2), (3, 2), (1, 2), (1, 5), (3, 9), (1, 0)]:
        for s in plan_nodes("swarm", managers, workers, zones):
            assert where.setdefault(s.name, s.zone_index) == s.zone_index, (s.name, managers, workers)


def test_the_default_stack_fills_three_zones() -> None:
    assert sorted(s.zone_index for s in plan_nodes("swarm", 1, 2, 3)) == [0, 1, 2]

"""Instances: IMDSv2, encrypted root volume, cluster tags."""

from __future__ import annotations

from typing import Any

from policy.rules import INSTANCE, check_cluster_tags, check_imdsv2, check_root_volume_encrypted
from tests.policy.helpers import Collect, resource_args

GOOD: dict[str, Any] = {
    "instanceType": "t3.micro",
    "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1.0},
    "rootBlockDevice": {"volumeType": "gp3", "volumeSize": 20.0, "encrypted": True},
    "tags": {"swarm-cluster": "docker-swarm-dev", "swarm-role": "manager", "Name": "swarm-manager-1"},
}


def check(fn: Any, **changes: Any) -> Collect:
    props = {**GOOD, **changes}
    c = Collect()
    fn(resource_args(INSTANCE, {k: v for k, v in props.items() if v is not None}), c)
    return c


def test_imdsv2_required() -> None:
    assert not check(check_imdsv2)
    assert check(check_imdsv2, metadataOptions={"httpTokens": "optional"})
    assert check(check_imdsv2, metadataOptions={"httpEndpoint": "enabled"})  # the AWS default is optional
    assert check(check_imdsv2, metadataOptions=None)
    # No metadata service at all is stricter than IMDSv2.
    assert not check(check_imdsv2, metadataOptions={"httpEndpoint": "disabled"})


def test_root_volume_encrypted() -> None:
    assert not check(check_root_volume_encrypted)
    assert check(check_root_volume_encrypted, rootBlockDevice={"volumeSize": 20.0, "encrypted": False})
    assert check(check_root_volume_encrypted, rootBlockDevice={"volumeSize": 20.0})
    assert check(check_root_volume_encrypted, rootBlockDevice=None)


def test_cluster_tags() -> None:
    assert not check(check_cluster_tags)
    assert not check(check_cluster_tags, tags={"swarm-cluster": "c", "swarm-role": "worker"})
    missing = check(check_cluster_tags, tags={"Name": "x", "swarm-role": "worker"})
    assert "swarm-cluster" in missing.text()
    assert check(check_cluster_tags, tags=None)
    assert check(check_cluster_tags, tags={"swarm-cluster": "c", "swarm-role": ""})
    assert "not one of" in check(check_cluster_tags, tags={"swarm-cluster": "c", "swarm-role": "boss"}).text()


def test_other_types_are_not_instances() -> None:
    c = Collect()
    for fn in (check_imdsv2, check_root_volume_encrypted, check_cluster_tags):
        fn(resource_args("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}), c)
    assert not c

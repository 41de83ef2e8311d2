"""The docker provider never talks plain tcp:// without TLS client certificates."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.rules import DOCKER_PROVIDER, check_docker_tls
from tests.policy.helpers import Collect, resource_args

TLS = {"certMaterial": "cert", "keyMaterial": "key", "caMaterial": "ca"}


def check(**props: Any) -> Collect:
    c = Collect()
    check_docker_tls(resource_args(DOCKER_PROVIDER, props), c)
    return c


@pytest.mark.parametrize("host", ["tcp://203.0.113.1:2375", "TCP://m:2376", "http://m:2375", "https://m:2376"])
def test_network_host_without_tls_is_refused(host: str) -> None:
    found = check(host=host)
    assert found and "certMaterial, keyMaterial, caMaterial" in found.text()


def test_partial_tls_material_is_refused() -> None:
    found = check(host="tcp://m:2376", caMaterial="ca")  # server verified, client not authenticated
    assert "certMaterial, keyMaterial" in found.text() and "caMaterial," not in found.text()
    assert check(host="tcp://m:2376", certMaterial="cert", keyMaterial="key", caMaterial="")


def test_tcp_with_tls_passes() -> None:
    assert not check(host="tcp://m:2376", **TLS)
    assert not check(host="tcp://m:2376", certPath="/home/me/.docker/swarm")
    # Material computed from other resources is unknown in preview: it is being given.
    assert not check(host="tcp://m:2376", certMaterial=UNKNOWN_STRING_VALUE, keyMaterial="k", caMaterial="c")


@pytest.mark.parametrize(
    "host", ["ssh://ubuntu@203.0.113.1", "unix:///var/run/docker.sock", "npipe:////./pipe/docker_engine", ""]
)
def test_ssh_and_local_sockets_pass(host: str) -> None:
    assert not check(host=host, sshOpts='["-o", "StrictHostKeyChecking=yes"]')


def test_absent_or_unknown_host_is_skipped() -> None:
    assert not check()
    assert not check(host=UNKNOWN_STRING_VALUE)  # ssh:// + the manager's IP, during preview


def test_other_resources_are_not_the_provider() -> None:
    c = Collect()
    check_docker_tls(resource_args("docker:index/service:Service", {"host": "tcp://m:2375"}), c)
    assert not c

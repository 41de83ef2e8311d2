"""Private instances in the lab: the instance model gives a host a public address
exactly when EC2 would (associatePublicIpAddress, else the subnet's
mapPublicIpOnLaunch), the namespace backend blocks a private host from this machine
(lab/hosts.sh block) and unblocks it when freed, the VM lab refuses one, and a load
balancer is refused (the lab has none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from lab import engine
from lab.backends import Host
from lab.backends import namespace as ns
from lab.providers import aws
from lab.providers.base import Ctx, Old
from lab.vm.backend import VmBackend


class FakeBackend:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.launches: list[tuple[str, int, bool]] = []

    def allocate(self, taken: set[int]) -> int:
        return min(set(range(1, 10)) - taken)

    def launch(self, instance: str, k: int, user_data: str, public_key: str, *, public: bool) -> Host:
        self.launches.append((instance, k, public))
        return self.host(k)

    def terminate(self, instance: str, k: int) -> None:
        pass

    def host(self, k: int) -> Host:
        return Host(k, f"swl-n{k}", f"10.77.0.{10 + k}", self.state_dir / f"swl-n{k}")


def subnet(id_: str, **inputs: Any) -> Old:
    return Old(f"urn::{id_}", aws.SUBNET, id_, id_, dict(inputs), dict(inputs))


def lookup(subnets: list[Old]):
    key_pair = Old("urn::kp", aws.KEY_PAIR, "kp", "kp", {}, {"keyName": "kp", "publicKey": "ssh-ed25519 AAAA lab"})
    return lambda t: {aws.KEY_PAIR: [key_pair], aws.SUBNET: subnets}.get(t, [])


SUBNETS = [subnet("public-a", mapPublicIpOnLaunch=True), subnet("private-a", mapPublicIpOnLaunch=False),
           subnet("plain-a")]  # fmt: skip


def create(tmp_path: Path, **inputs: Any) -> tuple[FakeBackend, dict[str, Any]]:
    backend = FakeBackend(tmp_path)
    provider = aws.InstanceProvider(backend, engine.State(tmp_path))
    ctx = Ctx("urn::node", "node", aws.INSTANCE, lookup=lookup(SUBNETS))
    _, outputs = provider.create(ctx, {"keyName": "kp", "userData": "#cloud-config\n", **inputs})
    return backend, outputs


@pytest.mark.parametrize(
    ("inputs", "public"),
    [
        ({"subnetId": "public-a"}, True),  # the subnet maps one
        ({"subnetId": "private-a"}, False),  # it does not
        ({"subnetId": "plain-a"}, False),  # mapPublicIpOnLaunch unset: false (not the default VPC's)
        ({"subnetId": "public-a", "associatePublicIpAddress": False}, False),  # the instance's own word wins
        ({"subnetId": "private-a", "associatePublicIpAddress": True}, True),
        ({"subnetId": "elsewhere", "associatePublicIpAddress": True}, True),  # no subnet needed then
    ],
)
def test_the_public_address_is_ec2s(tmp_path: Path, inputs: dict[str, Any], public: bool) -> None:
    backend, outputs = create(tmp_path, **inputs)
    assert backend.launches == [("node", 1, public)]
    assert outputs["privateIp"] == "10.77.0.11"
    assert outputs["publicIp"] == ("10.77.0.11" if public else "")  # EC2 / terraform: "" without one


def test_an_unknown_subnet_fails_before_a_host_is_taken(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"no aws:ec2/subnet:Subnet of this stack has the id 'subnet-0abc'"):
        create(tmp_path, subnetId="subnet-0abc")
    backend = FakeBackend(tmp_path)
    provider = aws.InstanceProvider(backend, engine.State(tmp_path))
    with pytest.raises(RuntimeError, match="cannot tell whether the instance gets a public address"):
        provider.create(Ctx("urn::n", "n", aws.INSTANCE, lookup=lookup([])), {"keyName": "kp", "userData": ""})
    assert backend.launches == [] and provider.claimed == set()


def test_a_load_balancer_is_refused(tmp_path: Path) -> None:
    provider = engine.providers_for(FakeBackend(tmp_path), engine.State(tmp_path))[aws.LOAD_BALANCER]
    with pytest.raises(RuntimeError, match=r"the lab does not model load balancers \(loadBalancer=true\): prove it "
                                           r"under mocks \(tests/program\)"):  # fmt: skip
        provider.create(Ctx("urn::nlb", "swarm-nlb", aws.LOAD_BALANCER), {"loadBalancerType": "network"})


def test_the_vm_lab_refuses_a_private_instance(tmp_path: Path) -> None:
    with pytest.raises(
        RuntimeError, match=r"the VM lab does not model private subnets: use the namespace lab \(make lab\)"
    ):
        VmBackend(tmp_path).launch("swarm-worker-1", 1, "#cloud-config\n", "ssh-ed25519 AAAA", public=False)
    assert not (tmp_path / "vm1").exists()  # refused before anything was made


# ---------------------------------------------------------------- the namespace backend
@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ns.NamespaceBackend, Path]:
    """Two discovered hosts; lab/hosts.sh replaced by a script that logs its arguments."""
    for k in (1, 2):
        (tmp_path / f"swl-n{k}" / "root-home").mkdir(parents=True)  # (hosts.sh makes the home)
        (tmp_path / f"swl-n{k}" / "pause.pid").write_text("1\n")
    log = tmp_path / "hosts.log"
    fake = tmp_path / "hosts.sh"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" != fail ] || {{ echo "hosts.sh: no" >&2; exit 1; }}\n')
    fake.chmod(0o755)
    monkeypatch.setattr(ns, "HOSTS_SH", fake)
    monkeypatch.setattr(ns, "check_user_data", lambda check, text, host: None)
    monkeypatch.setattr(ns, "apply_ssh_keys", lambda text, host: None)

    def no_daemon(k: int) -> Any:
        raise docker.errors.DockerException("no dockerd")

    monkeypatch.setattr(ns, "socket_client", no_daemon)
    return ns.NamespaceBackend(tmp_path), log


def test_a_private_host_is_blocked_and_unblocked_when_freed(lab: tuple[ns.NamespaceBackend, Path]) -> None:
    backend, log = lab
    backend.launch("swarm-worker-1", 2, "#cloud-config\n", "ssh-ed25519 AAAA w", public=False)
    assert log.read_text().splitlines() == ["block 2"]
    backend.terminate("swarm-worker-1", 2)
    assert log.read_text().splitlines() == ["block 2", "unblock 2"]
    assert not ns.authorized_keys(backend.host(2)).exists()


def test_a_public_host_is_unblocked(lab: tuple[ns.NamespaceBackend, Path]) -> None:
    """(idempotent: a host a crashed run left blocked serves a public instance)"""
    backend, log = lab
    host = backend.launch("swarm-manager-1", 1, "#cloud-config\n", "ssh-ed25519 AAAA m", public=True)
    assert log.read_text().splitlines() == ["unblock 1"]
    assert ns.authorized_keys(host).read_text() == "ssh-ed25519 AAAA m\n"


def test_a_failed_hosts_sh_is_an_error(lab: tuple[ns.NamespaceBackend, Path]) -> None:
    with pytest.raises(RuntimeError, match=r"lab/hosts.sh fail 3 failed: hosts.sh: no"):
        ns.hosts_sh("fail", "3")

"""Bad configuration fails the whole program before anything is registered."""

from __future__ import annotations

import os

import pytest

from components.settings import ConfigError
from harness.run import RecordingMonitor, run_program
from tests.cloudmocks import CloudMocks
from tests.program.helpers import BASE

CASES = [
    {"managerCount": 2},
    {"workerCount": 101},
    {"vpcCidr": "10.0.0.0/8"},
    {"sshAllowedCidrs": []},
    {"sshAllowedCidrs": ["0.0.0.0/0"]},
    {"servicePublishedPort": 2377},
    {"serviceReplicas": 0},
    {"azCount": 9},
    {"sshPublicKey": "not a key"},
    {"managerCount": 4, "servicePublishedPort": 22, "appAllowedCidrs": ["x"]},
    # A typo: only the list of every key that is set (PULUMI_CONFIG) reveals it.
    {"mangerCount": 3},
    # Values that used to fail only mid-deployment (more on the validators: tests/unit).
    {"sshAllowedCidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
    {"smokeProbeImage": "--privileged"},
    {"serviceName": "my.app"},
    {"dockerInsecureRegistries": ["10.0.0.5:5000\n"]},
    {"managerCount": "+3"},
    {"ami": "ubuntu-24.04"},
]


@pytest.mark.parametrize("bad", CASES, ids=[",".join(c) for c in CASES])
def test_bad_config_registers_nothing(bad: dict) -> None:
    mocks = CloudMocks()
    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    with pytest.raises(ConfigError) as err:
        run_program(mocks, {**BASE, **bad}, monitor=mon)
    assert mon.registrations == []
    assert mocks.calls == []  # not even a read-only AWS call
    assert len(err.value.problems) == len(bad)
    for key in bad:
        assert any(p.startswith(key + " = ") for p in err.value.problems)


def test_missing_ssh_cidrs_message() -> None:
    mocks = CloudMocks()
    config = {k: v for k, v in BASE.items() if k != "sshAllowedCidrs"}
    with pytest.raises(ConfigError, match=r"pulumi config set --path 'sshAllowedCidrs\[0\]'"):
        run_program(mocks, config)


def test_a_docker_context_in_the_deployers_environment_stops_the_program(monkeypatch) -> None:
    """kreuzwerker provider.go: `context` defaults from DOCKER_CONTEXT and overrides `host`;
    the provider plugin inherits the CLI's environment, so it would talk to that context."""
    from tests.program.helpers import run as run_program_with

    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    with pytest.raises(Exception, match="DOCKER_CONTEXT = 'colima'"):
        run_program_with(cached=False)
    from components.environment import problems

    assert problems({"DOCKER_CONTEXT": ""}) == []  # empty: the provider's default applies
    # Only defaults for `host` and `ssh_opts`, which the program always sets.
    assert problems({"DOCKER_HOST": "tcp://10.9.9.9:2375", "DOCKER_SSH_OPTS": "-F ~/.ssh/x"}) == []


def test_the_config_environment_lasts_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness hands the config over as the language host does (PULUMI_CONFIG) and
    takes it back after the run, so no run sees another's keys."""
    monkeypatch.setenv("PULUMI_CONFIG", '{"docker-swarm:outer": "1"}')
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS", raising=False)
    with pytest.raises(ConfigError) as err:
        run_program(CloudMocks(), {**BASE, "mangerCount": 3})
    assert [p.split(" = ")[0] for p in err.value.problems] == ["mangerCount"]
    assert os.environ["PULUMI_CONFIG"] == '{"docker-swarm:outer": "1"}'
    assert "PULUMI_CONFIG_SECRET_KEYS" not in os.environ


def _refused(mocks: CloudMocks, config: dict, **kw) -> list[str]:
    mon = RecordingMonitor(mocks)
    mocks.monitor = mon
    with pytest.raises(ConfigError) as err:
        run_program(mocks, {**BASE, **config}, monitor=mon, **kw)
    assert mon.registrations == []
    return err.value.problems


def test_an_unknown_instance_type_stops_the_program_before_any_resource() -> None:
    """A typo used to fail when the first instance was created, after the network and firewall."""
    mocks = CloudMocks()
    problems = _refused(mocks, {"instanceType": "t3.micor"})
    assert len(problems) == 1 and problems[0].startswith("instanceType = 't3.micor': is not an instance type EC2")
    assert "InvalidInstanceType" in problems[0] and "eu-west-1" in problems[0]
    assert mocks.calls[0][0] == "aws:ec2/getInstanceType:getInstanceType"


def test_a_region_without_zones_stops_the_program_with_its_name() -> None:
    problems = _refused(CloudMocks(zones=0), {"instanceType": "nope.large"})
    assert [p.split(" = ")[0] for p in problems] == ["instanceType", "aws:region"]
    assert problems[1].startswith("aws:region = 'eu-west-1': answers no available zone")


def test_a_pinned_ami_of_another_architecture_is_refused_before_any_resource() -> None:
    """An arm64 image on an x86_64 type would fail at the first RunInstances."""
    problems = _refused(CloudMocks(), {"ami": "ami-0123456789abcdefa"})  # the mock's arm64 image
    assert problems == ["ami = 'ami-0123456789abcdefa': is built for arm64; instanceType 't3.micro' runs x86_64"]


def test_a_pinned_ami_is_what_every_node_runs() -> None:
    from tests.program.helpers import run

    r = run({"ami": "ami-0123456789abcdef1"})
    assert {i.inputs["ami"] for i in r.of_type("aws:ec2/instance:Instance")} == {"ami-0123456789abcdef1"}


AZ_TOKEN = "aws:index/getAvailabilityZones:getAvailabilityZones"


def test_local_zones_are_never_chosen() -> None:
    """The mock lists an opted-in Local Zone unless the call filters on opt-in-status, as
    DescribeAvailabilityZones does; its name sorts first, so unfiltered it would be chosen."""
    local = "eu-west-1-lhr-1a"
    unfiltered = CloudMocks(zones=2, local_zones=(local,)).call(_call(AZ_TOKEN, {}))[0]["names"]
    assert sorted(unfiltered)[0] == local
    mocks = CloudMocks(zones=2, local_zones=(local,))
    r = run_program(mocks, BASE)
    zones = sorted(x.inputs["availabilityZone"] for x in r.of_type("aws:ec2/subnet:Subnet"))
    assert zones == ["eu-west-1a", "eu-west-1b"]  # azCount 3, capped at the 2 standard zones
    (az_call,) = [a for t, a in mocks.calls if t == AZ_TOKEN]
    assert az_call["filters"] == [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]


def _call(token: str, args: dict):
    from pulumi.runtime import mocks as pmocks

    return pmocks.MockCallArgs(token=token, args=args, provider="")


PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWJvZHktb2YtdGhlLWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.mark.parametrize("name", ["sshPrivatekey", "sshPrivateKey"])
def test_no_error_message_holds_the_private_key(name: str) -> None:
    """Set as a secret (the CLI would mask it only where it appears as given), misspelt or
    not, alongside other errors: the message names the key, never its value."""
    problems = _refused(CloudMocks(), {name: PRIVATE, "managerCount": 2}, secret_keys=(name,))
    text = str(ConfigError(problems))
    assert "c2VjcmV0LWJvZHkt" not in text and "PRIVATE KEY" not in text
    assert any(p.startswith(f"{name} = ") for p in problems)

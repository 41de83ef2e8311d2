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
        run_program_with()
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

"""The lab's user data check (lab/backends/cloud_config.py) says what `cloud-init schema
--config-file` says: the same verdict and the same message, document by document, from
one process."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from components.userdata import UserData, render_user_data
from lab.backends import cloud_config
from lab.backends.cloud_config import CloudConfigCheck
from tests.skips import needs

pytestmark = needs("cloud-init")

VALID = render_user_data(UserData("swarm-worker-1", "ubuntu", ("10.77.0.1:5000",)))
DOCUMENTS = {
    "valid user data": VALID,
    "no #cloud-config header": VALID.replace("#cloud-config\n", "", 1),
    "a wrong type": VALID.replace("package_update: true", "package_update: [1]"),
    "not YAML": VALID + "runcmd: [\n",
    "empty": "",
}


def command_says(text: str, tmp_path: Path) -> tuple[int, str]:
    f = tmp_path / "user-data.yaml"
    f.write_text(text)
    res = subprocess.run(["cloud-init", "schema", "--config-file", str(f)], capture_output=True, text=True)
    return res.returncode, (res.stdout + res.stderr).replace(str(f), "FILE")


@pytest.fixture
def check(cloud_config_check: CloudConfigCheck) -> CloudConfigCheck:
    """The session's checker (tests/conftest.py), the one the other user data tests use."""
    return cloud_config_check


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_same_verdict_and_message_as_the_command(check: CloudConfigCheck, name: str, tmp_path: Path) -> None:
    text = DOCUMENTS[name]
    rc, said = command_says(text, tmp_path)
    problem = check.check(text)
    assert (problem is None) == (rc == 0), (problem, said)
    if problem is not None:
        assert re.sub(r"/\S*\.yaml", "FILE", problem) == said


def test_the_invalid_ones_are_invalid(check: CloudConfigCheck) -> None:
    # Guard for the comparison above: it would pass if both accepted everything.
    assert check.check(DOCUMENTS["valid user data"]) is None
    assert "is not of type 'boolean'" in (check.check(DOCUMENTS["a wrong type"]) or "")
    assert "needs to begin with" in (check.check(DOCUMENTS["no #cloud-config header"]) or "")


def test_a_dead_server_is_cannot_tell_then_a_new_one_serves() -> None:
    check = CloudConfigCheck()  # its own: this test kills its server
    check.check(VALID)
    proc = check._proc
    assert proc is not None
    proc.kill()
    proc.wait()
    with pytest.raises(RuntimeError, match="cannot tell whether the user data is valid"):
        check.check(VALID)
    assert check.check(VALID) is None
    check.close()


def test_a_server_that_cannot_start_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cloud_config, "SERVER", tmp_path / "missing.py")
    check = CloudConfigCheck()
    with pytest.raises(RuntimeError, match=r"schema check ended: .*missing\.py"):
        check.check(VALID)
    check.close()

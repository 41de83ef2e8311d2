"""The real engine refuses a second resource with the same type and name (a duplicate
URN) and stops the deployment; the mock monitor would overwrite the first silently, so
the harness checks for it itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.program.helpers import run

TWICE = """
import pulumi_aws as aws
aws.ec2.Vpc("same", cidr_block="10.0.0.0/16")
aws.ec2.Vpc("same", cidr_block="10.1.0.0/16")
"""


def test_the_harness_refuses_a_duplicate_urn(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(TWICE)
    with pytest.raises(Exception, match=r"Duplicate resource URN .*::same'"):
        run(program=program)


def test_no_two_registrations_share_a_type_and_name() -> None:
    """Every program run in this suite goes through the check above; this one adds the
    inputs that multiply resources (more nodes and zones, several CIDRs, options)."""
    r = run(
        {"managerCount": 3, "workerCount": 5, "azCount": 2, "encryptedOverlay": True, "autolock": True,
         "pinHostKeys": False, "sshAllowedCidrs": ["198.51.100.7/32", "192.0.2.0/24"],
         "appAllowedCidrs": ["203.0.113.0/24", "0.0.0.0/0"]}
    )  # fmt: skip
    keys = [(x.type, x.name, x.parent) for x in r.registrations]
    assert len(keys) == len(set(keys)) > 40

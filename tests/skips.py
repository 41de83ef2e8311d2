"""Skip reasons, in one place: a test that needs a program names it and its Debian package."""

from __future__ import annotations

import shutil

import pytest


def needs(program: str, package: str | None = None) -> pytest.MarkDecorator:
    """Skip unless PROGRAM is on PATH; `make deps` (as root) installs PACKAGE."""
    return pytest.mark.skipif(
        shutil.which(program) is None,
        reason=f"{program} not found: install Debian package {package or program} (`sudo make deps`)",
    )

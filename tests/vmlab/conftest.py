"""The VM lab runs ssh for real: the program's key goes to the real home."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="package", autouse=True)
def _real_deployer_home() -> Iterator[None]:
    from tests.conftest import real_deployer_home

    with real_deployer_home():
        yield

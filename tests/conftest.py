import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Import hypothesis's lazily-loaded internals now, at a shallow stack: loading them
# later, while pytest formats a deep traceback from the Pulumi runtime's threads,
# hit a CPython 3.11 "AST constructor recursion depth mismatch" SystemError.
import contextlib  # noqa: E402
import os  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import hypothesis.internal.conjecture.utils  # noqa: E402, F401
import pytest  # noqa: E402

from components.access import HOME_OVERRIDE_ENV  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _deployer_home(tmp_path_factory: pytest.TempPathFactory):
    """Mock runs write the deployer's key file (components/access.py) into a temporary
    home, never the real one. The labs run ssh for real, which reads the real home:
    tests/lab and tests/vmlab lift it (real_deployer_home)."""
    old = os.environ.get(HOME_OVERRIDE_ENV)
    os.environ[HOME_OVERRIDE_ENV] = str(tmp_path_factory.mktemp("deployer-home"))
    yield
    if old is None:
        os.environ.pop(HOME_OVERRIDE_ENV, None)
    else:
        os.environ[HOME_OVERRIDE_ENV] = old


@pytest.fixture(scope="session")
def cloud_config_check():
    """`cloud-init schema --config-file`, one process for the session's documents
    (lab/backends/cloud_config.py; tests/unit/test_lab_cloud_config.py holds it to the
    command). .check(text): None if valid, else cloud-init's message."""
    from lab.backends.cloud_config import CloudConfigCheck

    check = CloudConfigCheck()
    yield check
    check.close()


@contextlib.contextmanager
def real_deployer_home() -> Iterator[None]:
    """For the labs (their conftests use it for their whole package): the program writes
    its key where ssh's %d finds it."""
    saved = os.environ.pop(HOME_OVERRIDE_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[HOME_OVERRIDE_ENV] = saved

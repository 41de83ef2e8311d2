import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import os  # noqa: E402

# Import hypothesis's lazily-loaded internals now, at a shallow stack: loading them
# later, while pytest formats a deep traceback from the Pulumi runtime's threads,
# hit a CPython 3.11 "AST constructor recursion depth mismatch" SystemError.
import hypothesis.internal.conjecture.utils  # noqa: E402, F401
import pytest  # noqa: E402

from components.access import HOME_OVERRIDE_ENV  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _deployer_home(tmp_path_factory: pytest.TempPathFactory):
    """Mock runs write the deployer's key file (components/access.py) into a temporary
    home, never the real one. The labs run ssh for real, which reads the real home:
    lab_real_home lifts this for their packages."""
    old = os.environ.get(HOME_OVERRIDE_ENV)
    os.environ[HOME_OVERRIDE_ENV] = str(tmp_path_factory.mktemp("deployer-home"))
    yield
    if old is None:
        os.environ.pop(HOME_OVERRIDE_ENV, None)
    else:
        os.environ[HOME_OVERRIDE_ENV] = old


@pytest.fixture(scope="package", autouse=True)
def lab_real_home(request: pytest.FixtureRequest, _deployer_home):
    """For the labs' packages: the program writes its key where ssh's %d finds it."""
    if Path(str(request.node.path)).name not in ("lab", "vmlab"):
        yield
        return
    saved = os.environ.pop(HOME_OVERRIDE_ENV, None)
    yield
    if saved is not None:
        os.environ[HOME_OVERRIDE_ENV] = saved

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Import hypothesis's lazily-loaded internals now, at a shallow stack: loading them
# later, while pytest formats a deep traceback from the Pulumi runtime's threads,
# hit a CPython 3.11 "AST constructor recursion depth mismatch" SystemError.
import hypothesis.internal.conjecture.utils  # noqa: E402, F401

"""Remote command texts, rendered from the files in scripts/.

A command is: one `NAME='value'` line per parameter (quoted with shlex), the
shared helpers of scripts/lib.sh, then the script itself. The lab runs exactly
the strings these functions return, because it runs what the program registers.
Secrets are never parameters: they travel on stdin.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
_PARAM = re.compile(r"^[A-Z][A-Z0-9_]*$")


@functools.cache
def script_text(name: str) -> str:
    """The text of scripts/NAME (cached: each file is read once per run)."""
    return (SCRIPTS_DIR / name).read_text(encoding="utf-8")


def render(script: str, params: Mapping[str, str | int] | None = None) -> str:
    """The full command text for scripts/SCRIPT with PARAMS set. Pure."""
    lines = []
    for key, value in sorted((params or {}).items()):
        if not _PARAM.match(key):
            raise ValueError(f"bad parameter name {key!r}")
        lines.append("=".join((key, shlex.quote(str(value)))))
    return "\n".join([*lines, script_text("lib.sh"), script_text(script)])

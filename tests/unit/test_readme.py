"""The README's first screen and its map of the repository stay true."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_first_40_lines_hold_the_three_quick_start_blocks() -> None:
    first = "\n".join(README.splitlines()[:40])
    blocks = re.findall(r"```[a-z]*\n(.*?)```", first, re.S)
    assert len(blocks) == 3
    test, lab, deploy = blocks
    assert "make test" in test and "make lab" in lab and "make up" in deploy


def test_the_layout_table_names_every_folder() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    folders = {f.split("/")[0] for f in files if "/" in f}
    folders |= {"/".join(f.split("/")[:2]) for f in files if f.startswith("lab/") and f.count("/") >= 2}
    layout = README[README.index("## Layout") : README.index("## Configuration")]
    missing = sorted(d for d in folders if f"`{d}/`" not in layout and f"`{d.split('/')[-1]}/`" not in layout)
    assert not missing, missing


def test_the_cli_version_named_is_the_locked_sdk() -> None:
    lock = (ROOT / "requirements.lock.txt").read_text()
    sdk = re.search(r"^pulumi==([0-9.]+)", lock, re.M)
    assert sdk and f"Pulumi CLI {sdk.group(1)}" in "\n".join(README.splitlines()[:40])

"""lab/vm/host.sh as-ubuntu-ships: the VM lab's apt repository serves Debian's packages
compressed with zstd, as Ubuntu's archive ships them; the files inside stay Debian's."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HOST_SH = Path(__file__).resolve().parents[2] / "lab" / "vm" / "host.sh"
TOOLS = ("dpkg-deb", "ar", "xz", "zstd")


@pytest.fixture
def deb(tmp_path: Path) -> Path:
    """A small package, built as Debian builds its own: xz members."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    reason = "host.sh needs root" if os.geteuid() != 0 else f"missing: {missing}" if missing else None
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the VM lab's repository tests, but: {reason}")
        pytest.skip(reason)
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: swv-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: lab <lab@example.org>\n"
        "Description: a package for the repository's test\n"
    )
    doc = root / "usr" / "share" / "doc" / "swv-probe"
    doc.mkdir(parents=True)
    (doc / "README").write_text("the same bytes after the recompression\n" * 200)
    out = tmp_path / "swv-probe_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(root), str(out)], check=True,
                   capture_output=True)  # fmt: skip
    return out


def _ships(deb: Path, cache: Path, path_prefix: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VMLAB_CACHE": str(cache), "VMLAB_STATE": str(cache.parent / "state")}
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    return subprocess.run([str(HOST_SH), "as-ubuntu-ships", str(deb)], env=env, capture_output=True, text=True)


def _stream(deb: Path, what: str) -> str:
    out = subprocess.run(["dpkg-deb", f"--{what}-tarfile", str(deb)], check=True, capture_output=True).stdout
    return hashlib.sha256(out).hexdigest()


def _fake(tmp_path: Path, body: str) -> Path:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "zstd").write_text(f"#!/bin/sh\n{body}\n")
    (bin_dir / "zstd").chmod(0o755)
    return bin_dir


def test_the_members_are_zstd_and_the_files_are_debians(deb: Path, tmp_path: Path) -> None:
    original = deb.read_bytes()
    fsys, ctrl = _stream(deb, "fsys"), _stream(deb, "ctrl")
    res = _ships(deb, tmp_path / "cache")
    assert res.returncode == 0, res.stderr
    members = subprocess.run(["ar", "t", str(deb)], check=True, capture_output=True, text=True).stdout.split()
    assert members == ["debian-binary", "control.tar.zst", "data.tar.zst"]
    assert (_stream(deb, "fsys"), _stream(deb, "ctrl")) == (fsys, ctrl)
    cached = tmp_path / "cache" / "deb-zstd" / f"{hashlib.sha256(original).hexdigest()}.deb"
    assert cached.read_bytes() == deb.read_bytes()

    # The same package again: served from the cache, no recompression (zstd would fail).
    again = tmp_path / "again.deb"
    again.write_bytes(original)
    res = _ships(again, tmp_path / "cache", _fake(tmp_path, "exit 1"))
    assert res.returncode == 0, res.stderr
    assert again.read_bytes() == cached.read_bytes()


def test_a_copy_whose_files_differ_is_refused_and_not_cached(deb: Path, tmp_path: Path) -> None:
    """The guard: a recompression that changes what the package installs stops the repo."""
    original = deb.read_bytes()
    real = shutil.which("zstd")
    # A zstd that writes a valid stream of other bytes: only the comparison can tell.
    res = _ships(deb, tmp_path / "cache", _fake(tmp_path, f'cat >/dev/null; printf other | "{real}" -q -f -o "$3"'))
    assert res.returncode != 0
    assert "the zstd copy's tar streams differ from the original's" in res.stderr
    assert deb.read_bytes() == original
    assert not list((tmp_path / "cache" / "deb-zstd").glob("*.deb"))


def test_a_failed_recompression_says_so(deb: Path, tmp_path: Path) -> None:
    res = _ships(deb, tmp_path / "cache", _fake(tmp_path, "exit 1"))
    assert res.returncode != 0
    assert "recompressing control.tar.xz failed" in res.stderr

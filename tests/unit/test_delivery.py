"""Delivery: the locks agree with the ranges, `make venv` / `make policy-venv` install
exactly the locks, `make up` / `make preview` build the policy pack's virtualenv first,
and every workflow runs the Pulumi CLI whose version matches the locked SDK."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock.txt"
POLICY_LOCK = ROOT / "policy" / "requirements.txt"
# (hand-edited ranges, the lock compiled from them)
PAIRS = [
    ([ROOT / "requirements.txt", ROOT / "requirements-dev.txt"], LOCK),
    ([ROOT / "policy" / "requirements.in"], POLICY_LOCK),
]


def _logical_lines(path: Path) -> list[str]:
    """The lines of a pip requirements file: continuations joined, comments dropped."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    stripped = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in text.splitlines())
    return [line for line in stripped if line]


def ranges(path: Path) -> dict[str, Requirement]:
    """The top-level requirements of PATH, following `-r` includes."""
    out: dict[str, Requirement] = {}
    for line in _logical_lines(path):
        if line.startswith(("-r ", "--requirement ")):
            out.update(ranges(path.parent / line.split(None, 1)[1]))
            continue
        assert not line.startswith("-"), f"{path.name}: unexpected option {line!r}"
        req = Requirement(line)
        out[canonicalize_name(req.name)] = req
    return out


def lock(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, hashes) of a pip-compile --generate-hashes output."""
    out: dict[str, tuple[Version, list[str]]] = {}
    for line in _logical_lines(path):
        spec = line.partition(" --")[0]
        req = Requirement(spec)
        pins = [s for s in req.specifier if s.operator == "=="]
        assert len(pins) == 1 and len(req.specifier) == 1, f"{path.name}: {spec!r} is not pinned with =="
        hashes = re.findall(r"--hash=(\S+)", line)
        out[canonicalize_name(req.name)] = (Version(pins[0].version), hashes)
    return out


@pytest.mark.parametrize(("range_files", "lock_file"), PAIRS, ids=["program", "policy"])
def test_every_range_is_locked_inside_it(range_files: list[Path], lock_file: Path) -> None:
    locked = lock(lock_file)
    problems = []
    for f in range_files:
        for name, req in ranges(f).items():
            if name not in locked:
                problems.append(f"{f.name}: {req} is not in {lock_file.name}")
            elif not req.specifier.contains(locked[name][0], prereleases=True):
                problems.append(f"{f.name}: {req}, but {lock_file.name} pins {name}=={locked[name][0]}")
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


@pytest.mark.parametrize("lock_file", [LOCK, POLICY_LOCK], ids=["program", "policy"])
def test_every_lock_entry_is_hashed(lock_file: Path) -> None:
    locked = lock(lock_file)
    assert len(locked) > 5
    unhashed = [name for name, (_, hashes) in locked.items() if not hashes]
    bad = [h for _, hashes in locked.values() for h in hashes if not re.fullmatch(r"sha256:[0-9a-f]{64}", h)]
    assert not unhashed and not bad, (unhashed, bad)


def test_the_policy_pack_runs_what_its_tests_ran() -> None:
    """tests/policy run the rules in .venv (requirements.lock.txt); the pack runs in
    policy/venv (policy/requirements.txt): every package both hold has one version."""
    root, pack = lock(LOCK), lock(POLICY_LOCK)
    assert {"pulumi", "pulumi-policy", "pyyaml"} <= pack.keys()
    differ = {n: (str(root[n][0]), str(pack[n][0])) for n in pack.keys() & root.keys() if root[n][0] != pack[n][0]}
    assert not differ, f"(requirements.lock.txt, policy/requirements.txt) versions differ: {differ}"


def test_dependabot_sees_each_lock_as_pip_compile_output() -> None:
    """Dependabot recompiles a `X.txt` with pip-compile only when `X.in` sits next to it
    (dependabot-core python/lib/dependabot/python/pip_compile_file_matcher.rb); a lock
    that it took for a plain requirements file would get unresolved single-line bumps."""
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    pip = [u for u in config["updates"] if u["package-ecosystem"] == "pip"]
    dirs = {d for u in pip for d in u.get("directories", [u.get("directory")])}
    assert dirs == {"/", "/policy"}
    assert all(u.get("versioning-strategy") == "lockfile-only" for u in pip)  # ranges stay hand-edited
    for lock_file in (LOCK, POLICY_LOCK):
        assert lock_file.with_suffix(".in").is_file(), lock_file
        assert f"--output-file={lock_file.name} " in lock_file.read_text()  # pip-compile's header
    assert {"github-actions", "pip"} <= {u["package-ecosystem"] for u in config["updates"]}


# ---------------------------------------------------------------- Makefile


def make_n(*args: str) -> list[str]:
    """`make -n ARGS` in the repository: the commands make would run, none run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    r = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def _index(lines: list[str], pattern: str) -> int:
    hits = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert hits, f"no command matches {pattern!r} in:\n" + "\n".join(lines)
    return hits[0]


def test_make_venv_installs_exactly_the_lock(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    lines = make_n("-B", f"VENV={venv}", "venv")
    fresh = _index(lines, rf"-m venv --clear {re.escape(str(venv))}$")
    install = _index(lines, r"pip install .*--require-hashes --no-deps -r requirements\.lock\.txt$")
    check = _index(lines, rf"^{re.escape(str(venv))}/bin/pip check$")
    assert fresh < install < check
    # $(VENV)/.installed depends on the lock: up to date, then not once the lock changes.
    venv.mkdir()
    (venv / ".installed").touch()
    assert not any("pip install" in line for line in make_n(f"VENV={venv}", "venv"))
    assert any("pip install" in line for line in make_n(f"VENV={venv}", "-W", "requirements.lock.txt", "venv"))


@pytest.mark.parametrize("target", ["up", "preview"])
def test_up_and_preview_build_the_policy_venv_first(target: str) -> None:
    """`pulumi up --policy-pack policy` does not install a local pack's dependencies
    (pulumi install in policy/ would); make does, from the lock, before the CLI runs."""
    virtualenv = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    lines = make_n("-B", target)
    fresh = _index(lines, rf"-m venv --clear policy/{re.escape(virtualenv)}$")
    venv = f"policy/{re.escape(virtualenv)}"
    install = _index(lines, rf"^{venv}/bin/pip install .*--require-hashes --no-deps -r policy/requirements\.txt$")
    pulumi = _index(lines, rf"^pulumi {target} .*--policy-pack policy$")
    assert fresh < install < pulumi


# ---------------------------------------------------------------- Pulumi CLI


def test_every_workflow_pins_the_cli_to_the_locked_sdk() -> None:
    """pulumi/actions installs the newest CLI unless `pulumi-version` says otherwise
    (pulumi/actions README, v7); pinned to the SDK version in requirements.lock.txt."""
    sdk = str(lock(LOCK)["pulumi"][0])
    seen = 0
    for wf in sorted((ROOT / ".github" / "workflows").glob("*.y*ml")):
        for job in yaml.safe_load(wf.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("pulumi/actions@"):
                    seen += 1
                    assert str(step.get("with", {}).get("pulumi-version")) == sdk, (wf.name, step.get("name"))
    assert seen >= 3
    assert f"Pulumi CLI {sdk}" in (ROOT / "README.md").read_text()

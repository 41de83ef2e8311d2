"""What runs on the deployer's machine must run under macOS's /bin/bash, which is 3.2.

Deployer-side: the local.Command scripts (scripts/local-*.sh, each sent after
scripts/lib.sh and run with /bin/bash -c), and what the Makefile's deployer targets
run (SHELL := /bin/bash): their recipes and any script they call. The check refuses
the constructs bash added after 3.2, by the version that added them (bash's NEWS file,
https://git.savannah.gnu.org/cgit/bash.git/tree/NEWS, sections bash-4.0 .. bash-5.0).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components.commands import SCRIPTS_DIR, render

ROOT = Path(__file__).resolve().parents[2]
FAKEBIN = Path(__file__).resolve().parent / "fakebin"
DEPLOYER_TARGETS = ["venv", "policy-venv", "lock", "up", "preview", "destroy"]

# (what, pattern, bash version that added it)
NEWER_THAN_32 = [
    ("mapfile", r"\bmapfile\b", "4.0"),
    ("readarray", r"\breadarray\b", "4.0"),
    ("associative array (declare/local -A)", r"\b(?:declare|local|typeset|readonly)\b[^;|&\n]*\s-[a-zA-Z]*A", "4.0"),
    ("case modification ${x,,} ${x^^} ${x,} ${x^}", r"\$\{[#!]?[A-Za-z_][A-Za-z0-9_]*(?:\[[^]]*\])?(?:,|\^)", "4.0"),
    ("|& (stderr into a pipe)", r"\|&", "4.0"),
    ("coproc", r"\bcoproc\b", "4.0"),
    ("&>> (append stdout and stderr)", r"&>>", "4.0"),
    (";;& (case fall-through)", r";;&", "4.0"),
    ("globstar", r"\bglobstar\b", "4.0"),
    ("$BASHPID", r"\$\{?BASHPID\b", "4.0"),
    ("declare/local -g", r"\b(?:declare|local|typeset)\b[^;|&\n]*\s-[a-zA-Z]*g\b", "4.2"),
    ("[[ -v name ]]", r"\[\[\s+!?\s*-v\s", "4.2"),
    ("printf %(fmt)T", r"%\([^)]*\)T", "4.2"),
    ("nameref (declare/local -n)", r"\b(?:declare|local|typeset)\b[^;|&\n]*\s-[a-zA-Z]*n\b", "4.3"),
    ("wait -n", r"\bwait\s+(?:-[a-zA-Z]+\s+)*-[a-zA-Z]*n\b", "4.3"),
    ("negative array index ${a[-1]}", r"\$\{[A-Za-z_][A-Za-z0-9_]*\[\s*-[0-9]", "4.3"),
    ("parameter transformation ${x@Q}", r"\$\{[^}]*@[QEPAaKkUuL]\}", "4.4"),
    ("$EPOCHSECONDS / $EPOCHREALTIME", r"\$\{?EPOCH(?:SECONDS|REALTIME)\b", "5.0"),
]


def newer_than_32(text: str) -> list[str]:
    """Line: construct (bash version) for every use of a post-3.2 construct in TEXT
    (comments are skipped: a # at the start of a line or after a blank)."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        code = re.sub(r"(^|\s)#.*$", "", line)
        found += [f"{n}: {what} (bash {v}): {line.strip()}" for what, rx, v in NEWER_THAN_32 if re.search(rx, code)]
    return found


def make_n(targets: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    r = subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def deployer_scripts() -> list[Path]:
    """lib.sh and the local.Command scripts, plus every script a deployer target runs."""
    files = [SCRIPTS_DIR / "lib.sh", *sorted(SCRIPTS_DIR.glob("local-*.sh"))]
    for word in re.findall(r"[\w./-]+", make_n(DEPLOYER_TARGETS)):
        path = (ROOT / word).resolve()
        if path.is_file() and path.suffix in (".sh", "") and path.stat().st_mode & 0o111 and path not in files:
            files.append(path)
    return files


def test_deployer_side_shell_is_bash_32() -> None:
    files = deployer_scripts()
    assert SCRIPTS_DIR / "local-on-node.sh" in files
    found = {str(p.relative_to(ROOT)): hits for p in files if (hits := newer_than_32(p.read_text()))}
    recipes = newer_than_32(make_n(DEPLOYER_TARGETS))
    if recipes:
        found[f"make -n {' '.join(DEPLOYER_TARGETS)}"] = recipes
    assert not found, f"macOS's /bin/bash is 3.2: {found}"


def test_the_local_commands_are_the_local_scripts() -> None:
    """Every local.Command in components/ renders a scripts/local-*.sh, so the scan
    above covers what pulumi-command runs on the deployer's machine."""
    rendered = set()
    for src in (ROOT / "components").rglob("*.py"):
        tree = ast.parse(src.read_text())
        # A name given as the command: the expression assigned to it in this module.
        assigned = {
            t.id: a.value for a in ast.walk(tree) if isinstance(a, ast.Assign) for t in a.targets
            if isinstance(t, ast.Name)
        }  # fmt: skip
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "local.Command":
                for kw in call.keywords:
                    if kw.arg in ("create", "update", "delete"):
                        if isinstance(kw.value, ast.Name) and kw.value.id in assigned:
                            kw.value = assigned[kw.value.id]
                        # the outermost render (breadth first): one inside its parameters
                        # (SCRIPT) is a script for a node
                        names = [
                            n.args[0].value
                            for n in ast.walk(kw.value)
                            if isinstance(n, ast.Call) and ast.unparse(n.func) == "render"
                            if n.args and isinstance(n.args[0], ast.Constant)
                        ]
                        rendered.add(names[0] if names else f"<not a render(): {ast.unparse(kw.value)}>")
    assert rendered and all(re.fullmatch(r"local-[\w-]+\.sh", s) for s in rendered), rendered


BASH4 = [
    'mapfile -t opts <<<"$SSH_OPTS"',
    "readarray -t lines < f",
    "declare -A seen=()",
    "local -A map",
    "declare -n ref=var",
    "local -rn ref=var",
    'echo "${x,,}"',
    'echo "${x^^}"',
    'echo "${x,}"',
    'echo "${x^}"',
    'echo "${arr[0]^^}"',
    "cmd |& tee log",
    "coproc nc { nc -l 1; }",
    "cmd &>> log",
    'echo "${x@Q}"',
    "wait -n",
    "wait -f -n",
    "case $x in a) echo ;;& b) echo ;; esac",
    "shopt -s globstar",
    'echo "$BASHPID"',
    "declare -g x=1",
    "[[ -v HOME ]]",
    "printf '%(%s)T' -1",
    'echo "${arr[-1]}"',
    'echo "$EPOCHSECONDS"',
]


@pytest.mark.parametrize("line", BASH4)
def test_the_check_refuses_each_bash4_construct(line: str) -> None:
    assert newer_than_32(line)


def test_the_check_passes_bash32() -> None:
    ok = """
    # mapfile is bash 4: a comment may say so
    opts=()
    while IFS= read -r opt; do opts+=("$opt"); done <<<"$SSH_OPTS"
    ssh "${opts[@]}" "$NODE" bash -s 2>"$errors" || rc=$?
    local id deadline=$((SECONDS + $1)) pause=1
    local -a files=()
    declare -r x=1
    [ ${#opts[@]} -gt 0 ] && [[ $x =~ ^a ]] && echo "${x:-d}" "${x//a/b}" "${x#*,}" "${x%,*}" "${x:1:2}"
    cmd &>/dev/null; wait "$pid"; printf '%s\\n' "$@" | sort
    case $x in a) echo ;; esac
    """
    assert newer_than_32(ok) == []


def test_leave_passes_each_ssh_option_line_as_one_argument(tmp_path: Path) -> None:
    """SSH_OPTS, one option per line, becomes ssh's argv unchanged: spaces, tabs and
    backslashes inside an option kept (KnownHostsCommand carries a whole host key)."""
    ssh = tmp_path / "ssh"
    ssh.write_text('#!/bin/sh\nprintf "%s\\0" "$@" > "$FAKE_DIR/argv"\ncat >/dev/null\n')
    ssh.chmod(0o755)
    opts = ["-o", "KnownHostsCommand=/bin/echo %H ssh-ed25519 AAAA key", "-o", "  Ident\\ityFile=/k\tx  ", "-4"]
    params = {"NODE": "ubuntu@203.0.113.9", "SSH_OPTS": "\n".join(opts), "SCRIPT": "true", "WHAT": "a test"}
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path)}
    r = subprocess.run(["/bin/bash", "-c", render("local-on-node.sh", params)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "argv").read_text().split("\0")[:-1] == [*opts, "ubuntu@203.0.113.9", "bash", "-s"]


def _fake_ssh(tmp_path: Path, body: str) -> dict[str, str]:
    """An `ssh` on PATH running BODY (sh), with $FAKE_DIR for its notes."""
    ssh = tmp_path / "ssh"
    ssh.write_text("#!/bin/sh\n" + body)
    ssh.chmod(0o755)
    # retry's pauses pass at once (it counts the time slept against its budget too)
    shutil.copy(FAKEBIN / "sleep", tmp_path / "sleep")
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path)}


# Fails the first 2 calls (as a booting node behind the jump host refuses logins), then succeeds.
FLAKY = 'n=$(cat "$FAKE_DIR/n" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_DIR/n"\n' \
        '[ "$n" -ge 2 ] || { echo "Connection closed by UNKNOWN port 65535" >&2; exit 255; }\n'  # fmt: skip


def test_reach_tries_new_connections_until_the_node_lets_it_in(tmp_path: Path) -> None:
    env = _fake_ssh(tmp_path, FLAKY)
    params = {"NODE": "ubuntu@10.0.128.5", "SSH_OPTS": "-F\nnone", "TIMEOUT": 30}
    r = subprocess.run(["/bin/bash", "-c", render("local-reach-node.sh", params)], capture_output=True, text=True,
                       env=env, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "n").read_text().strip() == "3" and "logged in through the jump host" in r.stderr


def test_reach_fails_with_the_reason_when_the_node_never_lets_it_in(tmp_path: Path) -> None:
    env = _fake_ssh(tmp_path, 'echo "Permission denied (publickey)." >&2; exit 255\n')
    params = {"NODE": "ubuntu@10.0.128.5", "SSH_OPTS": "-F\nnone", "TIMEOUT": 2}
    r = subprocess.run(["/bin/bash", "-c", render("local-reach-node.sh", params)], capture_output=True, text=True,
                       env=env, timeout=60)  # fmt: skip
    assert r.returncode == 1
    assert "cannot log in to ubuntu@10.0.128.5 through the jump host after 2s: Permission denied" in r.stderr


@pytest.mark.parametrize(("jump_answers", "rc", "says"), [
    (True, 0, "skip: cannot reach ubuntu@10.0.128.5"),
    (False, 1, "the jump host ubuntu@203.0.113.1 does not answer, so whether ubuntu@10.0.128.5 is gone cannot be told"),
])  # fmt: skip
def test_leave_through_a_jump_host_tells_a_gone_node_from_a_silent_jump(
    tmp_path: Path, jump_answers: bool, rc: int, says: str
) -> None:
    """The node does not answer (ssh 255): skipped only if the jump host itself answers."""
    jump = 'case "$*" in *ubuntu@203.0.113.1*) exit ' + ("0" if jump_answers else "255") + ";; esac\n"
    env = _fake_ssh(tmp_path, jump + 'echo "ssh: connect to host 10.0.128.5 port 22: No route to host" >&2\nexit 255\n')
    params = {"NODE": "ubuntu@10.0.128.5", "SSH_OPTS": "-o\nProxyCommand=x", "SCRIPT": "true", "WHAT": "leaving",
              "JUMP": "ubuntu@203.0.113.1", "JUMP_OPTS": "-F\nnone"}  # fmt: skip
    r = subprocess.run(["/bin/bash", "-c", render("local-on-node.sh", params)], capture_output=True, text=True,
                       env=env, timeout=60)  # fmt: skip
    assert r.returncode == rc and says in r.stderr, r.stderr

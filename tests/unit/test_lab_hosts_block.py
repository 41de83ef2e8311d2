"""lab/hosts.sh `block K` / `unblock K` (private hosts: no new connection from this
machine), without root or a network namespace: its rule as text (the script sourced),
and the subcommands against a fake iptables that keeps its chains in a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTS_SH = ROOT / "lab" / "hosts.sh"

# iptables as far as hosts.sh uses it: -w, -N/-X/-F, -L/-S, -C/-A/-I/-D; rules kept as
# their spec text (what `iptables -S` prints after "-A CHAIN"); every call logged.
FAKE_IPTABLES = r"""
import json, sys
from pathlib import Path
state_file = Path(__file__).with_name("iptables.json")
st = json.loads(state_file.read_text()) if state_file.exists() else {"OUTPUT": []}
args = [a for a in sys.argv[1:] if a not in ("-w", "-n")]
with Path(__file__).with_name("iptables.log").open("a") as log:
    log.write(" ".join(args) + "\n")
op, chain, spec = args[0], (args[1] if len(args) > 1 else None), args[2:]
def fail(msg):
    print(f"iptables: {msg}", file=sys.stderr); sys.exit(1)
def save():
    state_file.write_text(json.dumps(st))
if chain is not None and op != "-N" and chain not in st:
    fail("No chain/target/match by that name.")
if op in ("-A", "-I", "-C", "-D"):
    if op == "-I" and spec and spec[0].isdigit():
        pos, spec = int(spec[0]) - 1, spec[1:]
    else:
        pos = 0
    target = spec[spec.index("-j") + 1]
    if target not in ("ACCEPT", "DROP", "RETURN", "REJECT") and target not in st:
        fail(f"Couldn't load target `{target}'")
    text = " ".join(spec)
    if op == "-C":
        sys.exit(0 if text in st[chain] else 1)
    if op == "-D":
        if text not in st[chain]:
            fail("Bad rule (does a matching rule exist in that chain?).")
        st[chain].remove(text)
    elif op == "-A":
        st[chain].append(text)
    else:
        st[chain].insert(pos, text)
elif op == "-N":
    if chain in st:
        fail("Chain already exists.")
    st[chain] = []
elif op == "-F":
    st[chain] = []
elif op == "-X":
    if st[chain] or any(r.endswith(f"-j {chain}") for rules in st.values() for r in rules):
        fail("Directory not empty.")
    del st[chain]
elif op in ("-S", "-L"):
    for c in [chain] if chain else list(st):
        print("-P OUTPUT ACCEPT" if c == "OUTPUT" else f"-N {c}")
        for r in st[c]:
            print(f"-A {c} {r}")
else:
    fail(f"unknown option {op}")
save()
"""

RULE = "-d 10.77.0.12/32 -m conntrack --ctstate NEW -m comment --comment swl-n2 -j DROP"


@pytest.fixture
def fakebin(tmp_path: Path) -> Path:
    b = tmp_path / "bin"
    b.mkdir()
    # -IS: no site packages to import (the fake needs the standard library only), per call
    (b / "iptables").write_text(f"#!{sys.executable} -IS\n{FAKE_IPTABLES}")
    (b / "id").write_text('#!/bin/sh\n[ "$1" = -u ] && { echo 0; exit 0; }\nexec /usr/bin/id "$@"\n')  # "root"
    for f in b.iterdir():
        f.chmod(0o755)
    return b


def hosts_sh(fakebin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{fakebin}:{os.environ['PATH']}", "LAB_STATE": str(fakebin.parent / "state")}
    return subprocess.run([str(HOSTS_SH), *args], capture_output=True, text=True, env=env, timeout=30)


def sourced(fakebin: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{fakebin}:{os.environ['PATH']}", "LAB_STATE": str(fakebin.parent / "state")}
    return subprocess.run(["bash", "-c", f'source "$1"; {script}', "_", str(HOSTS_SH)],
                          capture_output=True, text=True, env=env, timeout=30)  # fmt: skip


def chains(fakebin: Path) -> dict[str, list[str]]:
    return json.loads((fakebin / "iptables.json").read_text())


def test_the_block_rule_drops_new_connections_to_the_hosts_address(fakebin: Path) -> None:
    """Sourced, hosts.sh runs nothing (no root needed); the rule is spelled as
    `iptables -S` prints it back, so status can read it and -C / -D find it."""
    res = sourced(fakebin, 'block_rule 2; echo "${RULE[*]}"; echo "$PRIVATE_CHAIN"')
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [RULE, "SWL-PRIVATE"]
    assert not (fakebin / "iptables.log").exists()


def test_block_is_idempotent_and_unblock_undoes_it(fakebin: Path) -> None:
    for _ in range(2):
        res = hosts_sh(fakebin, "block", "2")
        assert res.returncode == 0, res.stderr
    assert "already blocked" in res.stdout
    assert chains(fakebin) == {"OUTPUT": ["-j SWL-PRIVATE"], "SWL-PRIVATE": [RULE]}  # one jump, one rule
    assert hosts_sh(fakebin, "block", "3").returncode == 0
    assert chains(fakebin)["SWL-PRIVATE"] == [RULE, RULE.replace("12/32", "13/32").replace("swl-n2", "swl-n3")]

    status = hosts_sh(fakebin, "status")
    assert "private (blocked from this machine): swl-n2 (10.77.0.12) swl-n3 (10.77.0.13)" in status.stdout

    res = hosts_sh(fakebin, "unblock", "2")
    assert res.returncode == 0 and "swl-n2 10.77.0.12: unblocked" in res.stdout
    res = hosts_sh(fakebin, "unblock", "2")
    assert res.returncode == 0 and "not blocked, nothing to do" in res.stdout
    assert chains(fakebin)["SWL-PRIVATE"] == [RULE.replace("12/32", "13/32").replace("swl-n2", "swl-n3")]
    assert "private (blocked from this machine): swl-n3 (10.77.0.13)" in hosts_sh(fakebin, "status").stdout


def test_unblock_without_a_chain_is_nothing_to_do_and_bad_numbers_are_refused(fakebin: Path) -> None:
    res = hosts_sh(fakebin, "unblock", "4")
    assert res.returncode == 0 and "not blocked, nothing to do" in res.stdout
    assert hosts_sh(fakebin, "block", "0").returncode != 0
    assert hosts_sh(fakebin, "block").returncode == 2  # usage
    assert "block K | unblock K" in hosts_sh(fakebin, "help").stderr


def test_down_removes_the_chain_and_its_jump(fakebin: Path) -> None:
    """`down` calls private_chain_remove (run sourced here: down itself removes hosts)."""
    assert hosts_sh(fakebin, "block", "2").returncode == 0
    res = sourced(fakebin, "private_chain_remove; private_chain_remove")
    assert res.returncode == 0, res.stderr
    assert chains(fakebin) == {"OUTPUT": []}
    assert "private_chain_remove" in HOSTS_SH.read_text().split("\ndown() {", 1)[1].split("\n}\n", 1)[0]


def test_parallel_blocks_add_one_jump_and_every_rule(fakebin: Path) -> None:
    """The engine launches instances in parallel: hosts.sh changes the chain under a
    lock (the fake iptables would lose updates without it)."""
    env = {**os.environ, "PATH": f"{fakebin}:{os.environ['PATH']}", "LAB_STATE": str(fakebin.parent / "state")}
    procs = [subprocess.Popen([str(HOSTS_SH), "block", str(k)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for k in range(1, 9)]  # fmt: skip
    assert [p.wait(timeout=60) for p in procs] == [0] * 8, [p.stderr.read() for p in procs if p.stderr]
    st = chains(fakebin)
    assert st["OUTPUT"] == ["-j SWL-PRIVATE"]
    assert sorted(st["SWL-PRIVATE"]) == sorted(RULE.replace("12/32", f"{10 + k}/32").replace("swl-n2", f"swl-n{k}")
                                               for k in range(1, 9))  # fmt: skip

"""Is a lab host's dockerd still part of its overlay networks' gossip? Read from its log.

A dockerd's NetworkDB (the overlay's gossip, over hashicorp/memberlist) can evict its
own node: when it hears of a node at its own address under another memberlist name (its
previous incarnation, still believed alive by a peer after a restart or a leave whose
message was lost), `purgeReincarnation` moves every node at that address to the left
nodes, itself included; from then on `rejoinClusterBootstrap` logs "unable to find local
node info" every 60 s and does nothing, and nothing in dockerd brings the entry back
until a new NetworkDB is made (a dockerd restart, or a swarm leave and join). Tasks on
that host then never get the overlay's records. Read in moby/moby docker-v29.7.2-150
(b985e2313a): daemon/libnetwork/networkdb/event_delegate.go NotifyJoin ->
nodemgmt.go purgeReincarnation (logs "is the new incarnation of the active node") and
cluster.go rejoinClusterBootstrap; the lab's dockerd (Debian's 20.10.24) has the same
messages. Fixed upstream after that version (moby/moby#53688).

This module only reads: the lab's tests decide what to do (tests/lab/conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

_STARTED = 'msg="Starting up"'  # dockerd's first line (cmd/dockerd)
_NODE_ID = re.compile(r"New memberlist node - Node:\S+ will use memberlist nodeID:([0-9a-f]+)")


def self_evicted(log: str) -> str | None:
    """The log line saying that this dockerd's current NetworkDB evicted its own node, or
    None. Only the lines since dockerd last started, after its newest NetworkDB began
    (each swarm join makes a new one, with a new node ID), count."""
    since_start = log[log.rfind(_STARTED) :] if _STARTED in log else log
    ids = list(_NODE_ID.finditer(since_start))
    if not ids:
        return None  # no NetworkDB since this dockerd started: nothing to tell
    me = ids[-1].group(1)
    tail = since_start[ids[-1].end() :]
    for line in tail.splitlines():
        if f"is the new incarnation of the active node {me}/" in line or (
            "rejoinClusterBootstrap unable to find local node info" in line and f"ID:{me}" in line
        ):
            return line.strip()
    return None


def gossip_lines(log: str, last: int = 5) -> list[str]:
    """The newest lines about the gossip's health (for a failed test's report)."""
    keys = ("healthscore", "new incarnation", "unable to find local node info", "memberlist: ", "Bulk sync")
    return [ln.strip() for ln in log.splitlines() if any(k in ln for k in keys)][-last:]


def dockerd_log(state_dir: Path, k: int) -> str:
    path = state_dir / f"swl-n{k}" / "log" / "dockerd.log"
    return path.read_text(errors="replace") if path.exists() else ""

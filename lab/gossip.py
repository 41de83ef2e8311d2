"""Does each lab host's dockerd still see every live node in its overlay gossip? Read
from the hosts' dockerd logs.

A dockerd's NetworkDB (the overlay's gossip, over hashicorp/memberlist) draws a new node
ID each time it starts (each swarm join, each dockerd start). When it hears of a node
at an address it already knows under another ID, `purgeReincarnation` moves the one it
knew to the left nodes, even one still active: if the news is gossip about a departed
incarnation that arrives after its successor, the live node is the one evicted (itself,
too). Nothing brings it back (handleNodeEvent ignores a node not in the active list, and
memberlist does not announce again a node it believes alive): that dockerd stops
resolving the evicted node's tasks on the overlay, and an evicted self logs
"rejoinClusterBootstrap unable to find local node info" every 60 s, until it makes a new
NetworkDB. Read in moby/moby docker-v29.7.2-150 (b985e2313a):
daemon/libnetwork/networkdb/event_delegate.go NotifyJoin -> nodemgmt.go
purgeReincarnation ("is the new incarnation of the active node"), delegate.go
handleNodeEvent, cluster.go rejoinClusterBootstrap. Fixed after that version by
moby/moby#53688 (the active list is left alone); the lab's dockerd, Debian's 20.10.24,
logs the same messages.

A second way to lose the overlay, seen in the lab under CPU contention: a swarm leave
whose memberlist leave broadcast times out (1 s). NetworkDB.Close -> clusterLeave
returned that error before it shut memberlist down ("Could not close DB: timeout
waiting for leave broadcast"), so the old gossip kept running and holding its port, and
the next swarm's agent could not start there ("error in agentInit: failed to create
memberlist: ... address already in use"): that host's tasks stayed in "starting". Read
in moby/moby libnetwork/networkdb/cluster.go clusterLeave at 16ed51d864^ and
networkdb.go Close; fixed by 16ed51d864 ("always shut down memberlist", 2025-05-30,
first tagged docker-v29.0.0), after the lab's 20.10.24.

A swarm leave returns once the agent stopped (daemon/cluster/swarm.go Leave ->
daemon.go DaemonLeavesCluster -> libnetwork/controller.go AgentStopWait, docker-v29.7.2-150),
so after it no NetworkDB of that dockerd should hold the gossip port:
`holds_gossip_port` tells whether one still does (what the lab's resets check,
lab/backends/namespace.py).

This module only reads; the lab decides what to do (lab/backends/namespace.py,
tests/lab/conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

_STARTED = 'msg="Starting up"'  # dockerd's first line (cmd/dockerd)
_NODE_ID = re.compile(r"New memberlist node - Node:\S+ will use memberlist nodeID:([0-9a-f]+)")
_EVICTED = re.compile(r"is the new incarnation of the active node ([0-9a-f]+)/")
_AGENT_INIT_FAILED = "error in agentinit"  # "error in agentInit" (20.10), "Error in agentInit" (29.x)
_NOT_CLOSED = "could not close db"  # networkdb.go Close, when clusterLeave failed
GOSSIP_PORT = 7946  # NetworkDB's memberlist, TCP and UDP: DefaultLANConfig's (agent.go sets no BindPort)
_TCP_LISTEN = "0A"  # st of a listening socket in /proc/net/tcp (include/net/tcp_states.h)


def since_start(log: str) -> str:
    """The log from dockerd's last start on (all of it when no start is logged)."""
    return log[log.rfind(_STARTED) :] if _STARTED in log else log


def current(log: str) -> tuple[str, str] | None:
    """(node ID, the log since) of this dockerd's newest NetworkDB, or None when it has
    made none since it last started."""
    started = since_start(log)
    ids = list(_NODE_ID.finditer(started))
    if not ids:
        return None
    return ids[-1].group(1), started[ids[-1].end() :]


def broken(logs: dict[int, str]) -> dict[int, str]:
    """Host -> the line of its log that says its dockerd's overlay gossip is broken since it
    last started: its current NetworkDB evicted a node that is live now (the current node
    ID of a host, its own included) or misses its own node; an older NetworkDB still runs
    beside it (its own-node-missing line, with an older ID, after the current one began),
    or one was not closed when its swarm was left; or an agent failed to start. A host
    whose dockerd evicted only an old incarnation (a node that came back with a new ID:
    the normal case) is not in the answer."""
    now = {k: c for k, c in ((k, current(log)) for k, log in logs.items()) if c is not None}
    live_ids = {node_id for node_id, _ in now.values()}
    found: dict[int, str] = {}
    for k, log in logs.items():
        leaked = next((ln for ln in since_start(log).splitlines()
                       if _AGENT_INIT_FAILED in ln.lower() or _NOT_CLOSED in ln.lower()), None)  # fmt: skip
        if leaked is not None:
            found[k] = leaked.strip()
            continue
        if k not in now:
            continue
        _, tail = now[k]
        for line in tail.splitlines():
            m = _EVICTED.search(line)
            if (m and m.group(1) in live_ids) or "rejoinClusterBootstrap unable to find local node info" in line:
                found[k] = line.strip()
                break
    return found


def left_open(log: str) -> int:
    """How many times this dockerd left a NetworkDB running when its swarm was left (over
    its whole log: every start)."""
    return sum(1 for ln in log.splitlines() if _NOT_CLOSED in ln.lower())


def gossip_lines(log: str, last: int = 5) -> list[str]:
    """The newest lines about the gossip's health (for a failed test's report)."""
    keys = ("healthscore", "new incarnation", "unable to find local node info", "memberlist: ", "Bulk sync")
    return [ln.strip() for ln in log.splitlines() if any(k in ln for k in keys)][-last:]


def dockerd_log(state_dir: Path, k: int) -> str:
    path = state_dir / f"swl-n{k}" / "log" / "dockerd.log"
    return path.read_text(errors="replace") if path.exists() else ""


def holds_gossip_port(proc_net: Path) -> bool:
    """Whether a socket of the network namespace whose /proc/PID/net is PROC_NET is bound to
    the gossip port: a TCP listener or a UDP socket (no UDP socket listens as such)."""
    port = f":{GOSSIP_PORT:04X}"
    for name, listening_only in (("tcp", True), ("tcp6", True), ("udp", False), ("udp6", False)):
        path = proc_net / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(port) and (not listening_only or fields[3] == _TCP_LISTEN):
                return True
    return False

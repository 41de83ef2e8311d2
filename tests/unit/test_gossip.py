"""lab/gossip.py: telling, from the hosts' dockerd logs, a dockerd whose overlay gossip
evicted a live node (moby's purgeReincarnation) from one that saw a node come back."""

from __future__ import annotations

from lab import gossip

START = 'time="t0" level=info msg="Starting up"\n'
N3_OLD, N3, N1 = "0c70a5359bda", "d246970d7519", "7e2eedb9cdea"


def joined(node_id: str) -> str:
    return (f'time="t1" level=info msg="New memberlist node - Node:swl-n1 will use memberlist nodeID:{node_id} '
            'with config:&{}"\n')  # fmt: skip


def purged(new: str, active: str) -> str:
    return (f'time="t2" level=info msg="Node {new}/10.77.0.13, is the new incarnation of the active node '
            f'{active}/10.77.0.13"\n')  # fmt: skip


WEDGED = f'time="t3" level=warning msg="rejoinClusterBootstrap unable to find local node info using ID:{N3}"\n'


def test_a_node_that_came_back_with_a_new_id_is_not_an_eviction() -> None:
    """swl-n3's dockerd restarted (new ID N3); swl-n1 retires the old one: normal."""
    logs = {1: START + joined(N1) + purged(N3, N3_OLD), 3: START + joined(N3)}
    assert gossip.broken(logs) == {}


def test_evicting_a_live_node_is_found_on_the_host_that_did_it() -> None:
    """Gossip of the departed N3_OLD reached swl-n1 after N3: it evicted the live N3."""
    logs = {1: START + joined(N1) + purged(N3_OLD, N3), 3: START + joined(N3)}
    assert list(gossip.broken(logs)) == [1]
    assert f"active node {N3}/" in gossip.broken(logs)[1]


def test_its_own_node_missing_is_found() -> None:
    logs = {1: START + joined(N1), 3: START + joined(N3) + WEDGED}
    assert list(gossip.broken(logs)) == [3]


def test_only_the_newest_gossip_since_the_last_start_counts() -> None:
    """A swarm leave and join makes a new NetworkDB (a new ID); a dockerd start begins anew."""
    logs = {1: START + joined(N1), 3: START + joined(N3) + WEDGED + joined("aaaaaaaaaaaa")}
    assert gossip.broken(logs) == {}
    logs = {1: START + joined(N1) + purged(N3_OLD, N3) + START, 3: START + joined(N3)}
    assert gossip.broken(logs) == {}
    assert gossip.broken({1: "", 2: START}) == {}


def test_an_older_networkdb_still_running_is_found() -> None:
    """After a leave and a join, the old NetworkDB (N3_OLD) still logs its own node missing:
    it was never closed (the lab, CI beside the VM lab)."""
    stale = WEDGED.replace(N3, N3_OLD)
    assert list(gossip.broken({3: START + joined(N3_OLD) + joined(N3) + stale})) == [3]


def test_an_agent_that_failed_to_start_is_found() -> None:
    failed = ('time="t4" level=error msg="error in agentInit: failed to create memberlist: Could not set up network '
              'transport: failed to obtain an address: Failed to start TCP listener on port 7946"\n')  # fmt: skip
    assert list(gossip.broken({1: START + joined(N3_OLD) + failed + joined(N1), 3: START + joined(N3)})) == [1]
    assert gossip.broken({1: START + joined(N3_OLD) + failed + START + joined(N1)}) == {}


def test_a_networkdb_not_closed_when_its_swarm_was_left_is_found() -> None:
    """As swl-n1 logged it in the lab: the leave broadcast timed out, so its memberlist was
    never shut down (moby 16ed51d864^ clusterLeave), even before any new swarm's agent."""
    not_closed = (f'time="t4" level=error msg="swl-n1({N1}) Could not close DB: timeout waiting for leave '
                  'broadcast"\n')  # fmt: skip
    assert list(gossip.broken({1: START + joined(N1) + not_closed, 3: START + joined(N3)})) == [1]
    assert gossip.broken({1: START + joined(N1) + not_closed + START}) == {}


# /proc/PID/net/{tcp,udp} as the kernel writes them (net/ipv4/tcp_ipv4.c get_tcp4_sock):
# local address and port in hex, st 0A = LISTEN, 06 = TIME_WAIT.
HEAD = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def sock(local: str, st: str, remote: str = "00000000:0000") -> str:
    return f"   0: {local} {remote} {st} 00000000:00000000 00:00000000 00000000     0        0 1 1\n"


def proc_net(tmp_path, tcp: str = "", udp: str = "", tcp6: str = "", udp6: str = ""):
    for name, body in (("tcp", tcp), ("udp", udp), ("tcp6", tcp6), ("udp6", udp6)):
        (tmp_path / name).write_text(HEAD + body)
    return tmp_path


def test_the_gossip_port_is_held_by_a_listener_or_a_udp_socket(tmp_path) -> None:
    ssh = sock("0B004D0A:0016", "0A")  # 10.77.0.11:22
    assert not gossip.holds_gossip_port(proc_net(tmp_path, tcp=ssh))
    assert gossip.holds_gossip_port(proc_net(tmp_path, tcp=ssh + sock("0B004D0A:1F0A", "0A")))
    assert gossip.holds_gossip_port(proc_net(tmp_path, udp=sock("0B004D0A:1F0A", "07")))
    assert gossip.holds_gossip_port(proc_net(tmp_path, tcp6=sock("00000000000000000000000000000000:1F0A", "0A")))
    # A connection of the gossip that closed (TIME_WAIT) binds nothing; nor does a peer's port.
    assert not gossip.holds_gossip_port(proc_net(tmp_path, tcp=sock("0B004D0A:1F0A", "06", "0C004D0A:D431")))
    assert not gossip.holds_gossip_port(proc_net(tmp_path, tcp=sock("0B004D0A:D431", "01", "0C004D0A:1F0A")))


def test_leaves_that_left_the_gossip_running_are_counted_over_every_start() -> None:
    not_closed = f'time="t4" level=error msg="swl-n1({N1}) Could not close DB: timeout waiting for leave broadcast"\n'
    assert gossip.left_open(START + joined(N1) + not_closed + START + joined(N1) + not_closed) == 2
    assert gossip.left_open(START + joined(N1) + purged(N3, N3_OLD)) == 0

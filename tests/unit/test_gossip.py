"""lab/gossip.py: telling a dockerd whose overlay gossip evicted its own node from its log."""

from __future__ import annotations

from lab import gossip

START = 'time="t0" level=info msg="Starting up"\n'


def joined(node_id: str) -> str:
    return (f'time="t1" level=info msg="New memberlist node - Node:swl-n3 will use memberlist nodeID:{node_id} '
            'with config:&{}"\n')  # fmt: skip


EVICTED_ME = ('time="t2" level=info msg="Node 0c70a5359bda/10.77.0.13, is the new incarnation of the active node '
              'd246970d7519/10.77.0.13"\n')  # fmt: skip
WEDGED = 'time="t3" level=warning msg="rejoinClusterBootstrap unable to find local node info using ID:d246970d7519"\n'
# What a peer logs when another node comes back with a new ID: normal, not about itself.
PEER_PURGE = ('time="t2" level=info msg="Node d246970d7519/10.77.0.13, is the new incarnation of the active node '
              '0c70a5359bda/10.77.0.13"\n')  # fmt: skip


def test_its_own_eviction_is_found() -> None:
    assert "new incarnation of the active node d246970d7519" in (
        gossip.self_evicted(START + joined("d246970d7519") + EVICTED_ME) or ""
    )
    assert "unable to find local node info" in (gossip.self_evicted(START + joined("d246970d7519") + WEDGED) or "")


def test_a_peers_purge_is_not_its_own() -> None:
    assert gossip.self_evicted(START + joined("7e2eedb9cdea") + PEER_PURGE) is None


def test_only_its_newest_gossip_counts() -> None:
    """A swarm leave and join makes a new NetworkDB (a new ID); a restart begins anew."""
    assert gossip.self_evicted(START + joined("d246970d7519") + WEDGED + joined("aaaaaaaaaaaa")) is None
    assert gossip.self_evicted(START + joined("d246970d7519") + WEDGED + START) is None
    assert gossip.self_evicted("") is None

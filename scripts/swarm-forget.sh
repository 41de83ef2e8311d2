#!/usr/bin/env bash
# On a manager, the last step of taking a node out: once the node has left (or
# its host is gone), remove it from the node list. Parameters: NODE_ADDR.
#
# Every entry at NODE_ADDR goes (lib.sh nodes_at): the node itself, which has left
# (the leave ran before this, or its host is gone) but may still show Ready for a few
# heartbeats, and any stale Down entry of an older node at that address. Each is
# removed by its ID; one still a Raft member is demoted first (node rm refuses it).
# Cannot tell (daemon down, swarm locked, no leader): fail, so a later run does it.
set -euo pipefail
: "${NODE_ADDR:?}"
live="" stale=""
removal_targets "$NODE_ADDR"
for id in $live $stale; do
  demote_node "$id"
  # --force: the node has left (or its host is gone); without it, node rm waits a
  # few heartbeats for the manager to see the node down.
  docker node rm --force "$id" >/dev/null
  log "removed node $id ($NODE_ADDR, $(node_field "$id" state)) from the swarm"
done

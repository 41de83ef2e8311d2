#!/usr/bin/env bash
# On a manager, the last step of taking a node out: once the node has left (or
# its host is gone), remove it from the node list. Parameters: NODE_ADDR.
set -euo pipefail
: "${NODE_ADDR:?}"
if [ "$(swarm_state)" != active ]; then
  log "skip: this manager is not in a swarm any more"
  exit 0
fi
id=$(node_by_addr "$NODE_ADDR") || { log "skip: no node has address $NODE_ADDR (removed already)"; exit 0; }
# The node has left (or its host is gone): --force removes it at once instead of
# waiting a few heartbeats for the manager to see it down.
docker node rm --force "$id" >/dev/null
log "removed node $id ($NODE_ADDR) from the swarm"

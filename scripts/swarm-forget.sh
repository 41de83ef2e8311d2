#!/usr/bin/env bash
# On a manager, the last step of taking a node out: once the node has left (or
# its host is gone), remove it from the node list. Parameters: NODE_ADDR.
set -euo pipefail
: "${NODE_ADDR:?}"
id=""
member_to_remove "$NODE_ADDR" || exit 0
# The node has left (or its host is gone): --force removes it at once instead of
# waiting a few heartbeats for the manager to see it down.
docker node rm --force "$id" >/dev/null
log "removed node $id ($NODE_ADDR) from the swarm"

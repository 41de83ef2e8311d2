#!/usr/bin/env bash
# On a manager, when a node is taken out (scale-down or destroy): drain it so
# its tasks move elsewhere, demote it if it is a manager, wait for it to leave
# (the node's own daemon leaves the swarm once removed, or it is gone already)
# and remove it from the node list. Works when the node's host no longer exists.
# Parameters: NODE_ADDR.
set -euo pipefail
: "${NODE_ADDR:?}"
if [ "$(swarm_state)" != active ]; then
  log "skip: this manager is not in a swarm any more"
  exit 0
fi
id=$(node_by_addr "$NODE_ADDR") || { log "skip: no node has address $NODE_ADDR (removed already)"; exit 0; }

docker node update --availability drain "$id" >/dev/null
no_tasks_left() { [ -z "$(docker node ps -q --filter desired-state=running "$id" 2>/dev/null)" ]; }
retry 60 no_tasks_left || log "warning: tasks still running on $id after 60 s; removing anyway"
if [ "$(docker node inspect --format '{{.Spec.Role}}' "$id")" = manager ]; then
  docker node demote "$id" >/dev/null
  log "demoted $id"
fi
docker node rm --force "$id" >/dev/null
log "drained and removed node $id ($NODE_ADDR)"

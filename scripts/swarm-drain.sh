#!/usr/bin/env bash
# On a manager, the first step of taking a node out (scale-down or destroy):
# drain it so its tasks move elsewhere, and demote it if it is a manager (waiting
# until it has left the Raft group). The node then leaves (local-on-node.sh) and
# is removed (swarm-forget.sh). Parameters: NODE_ADDR.
#
# Entries at NODE_ADDR (lib.sh nodes_at): the live one is drained and demoted. Down
# ones next to a live one are stale (an old node whose host was reused): demoted if
# they are still managers, and removed. With only Down entries there is nothing to
# drain (the node's tasks were rescheduled when it went down), but a manager among
# them is demoted, so it no longer counts against quorum; forget removes them.
# Cannot tell (daemon down, swarm locked, no leader): fail, so a later run does it.
set -euo pipefail
: "${NODE_ADDR:?}"
live="" stale=""
removal_targets "$NODE_ADDR"

if [ -z "$live" ]; then
  log "node $stale ($NODE_ADDR) is Down: nothing to drain on it"
  for id in $stale; do demote_node "$id"; done
  exit 0
fi

id=$live
node_change update --availability drain "$id"
no_tasks_left() { [ -z "$(docker node ps -q --filter desired-state=running "$id" 2>/dev/null)" ]; }
retry 60 no_tasks_left || log "warning: tasks still running on $id after 60 s"
# Return once the moved tasks run elsewhere, so the cluster is whole when the node goes.
# (Counted per task: `service ls` still counts a drained task that is stopping.)
services_whole() {
  local svc want have
  for svc in $(docker service ls -q --filter mode=replicated); do
    want=$(docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' "$svc")
    have=$(docker service ps --filter desired-state=running --format '{{.CurrentState}}' "$svc" | grep -c '^Running' || true)
    [ "$have" -ge "$want" ] || return 1
  done
}
retry 120 services_whole || log "warning: some services are short of replicas after 120 s"
demote_node "$id"
log "drained node $id ($NODE_ADDR)"

for old in $stale; do
  demote_node "$old"
  docker node rm --force "$old" >/dev/null
  log "removed stale node $old (Down) at $NODE_ADDR, next to the live node $id"
done

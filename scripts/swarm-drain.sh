#!/usr/bin/env bash
# On a manager, the first step of taking a node out (scale-down or destroy):
# drain it so its tasks move elsewhere, and demote it if it is a manager.
# The node then leaves (local-node-leave.sh) and is removed (swarm-forget.sh).
# Parameters: NODE_ADDR.
set -euo pipefail
: "${NODE_ADDR:?}"
id=""
member_to_remove "$NODE_ADDR" || exit 0
docker node update --availability drain "$id" >/dev/null
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
if [ "$(docker node inspect --format '{{.Spec.Role}}' "$id")" = manager ]; then
  docker node demote "$id" >/dev/null
  log "demoted $id"
fi
log "drained node $id ($NODE_ADDR)"

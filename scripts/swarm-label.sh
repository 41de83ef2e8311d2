#!/usr/bin/env bash
# On a manager: label the node whose address is NODE_ADDR with its role and
# availability zone, so services can spread over zones. Idempotent.
# The node is the live entry at NODE_ADDR (lib.sh nodes_at), never a stale Down one.
# Parameters: NODE_ADDR, ROLE, AZ.
set -euo pipefail
: "${NODE_ADDR:?}" "${ROLE:?}" "${AZ:?}"
live="" stale=""
manager_ready || fail "this node is in no swarm: cannot label $NODE_ADDR"
# A node that has just joined may take a moment to show up.
find_node() {
  nodes_at "$NODE_ADDR"
  [ -n "$live" ] && return 0
  read_nodes || true # for the next try
  return 1
}
retry 30 find_node || fail "no live swarm node has address $NODE_ADDR${stale:+ (only Down entries: $stale)}"
id=$live
want="az=$AZ role=$ROLE"
have=$(docker node inspect --format '{{with .Spec.Labels}}az={{.az}} role={{.role}}{{end}}' "$id")
if [ "$have" = "$want" ]; then
  log "skip: node $id ($NODE_ADDR) already labelled $want"
else
  node_change update --label-add "az=$AZ" --label-add "role=$ROLE" "$id"
  log "labelled node $id ($NODE_ADDR): $want"
fi
echo "$id"

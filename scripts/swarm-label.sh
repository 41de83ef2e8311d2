#!/usr/bin/env bash
# On a manager: label the node whose address is NODE_ADDR with its role and
# availability zone, so services can spread over zones. Idempotent.
# Parameters: NODE_ADDR, ROLE, AZ.
set -euo pipefail
: "${NODE_ADDR:?}" "${ROLE:?}" "${AZ:?}"
id=""
find_node() { id=$(node_by_addr "$NODE_ADDR"); }
retry 30 find_node || fail "no swarm node has address $NODE_ADDR"
want="az=$AZ role=$ROLE"
have=$(docker node inspect --format '{{with .Spec.Labels}}az={{.az}} role={{.role}}{{end}}' "$id")
if [ "$have" = "$want" ]; then
  log "skip: node $id ($NODE_ADDR) already labelled $want"
else
  docker node update --label-add "az=$AZ" --label-add "role=$ROLE" "$id" >/dev/null
  log "labelled node $id ($NODE_ADDR): $want"
fi
echo "$id"

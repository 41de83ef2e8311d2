#!/usr/bin/env bash
# On manager-1's old host, when it is replaced (a delete-before-replace step, so it
# runs before the new host joins): keep a manager in the swarm while this one goes.
# Another manager is Ready and reachable: nothing to do, the new host joins through it.
# Else the node at PROMOTE_ADDR is promoted for the duration: the new host joins
# through it, and once this node is removed, swarm-forget.sh (HAND_BACK) demotes it
# again. No such node: refused, as the new host would have no swarm to join.
# Parameters: PROMOTE_ADDR (the private IP of the node the new host joins through;
# empty when the swarm has no other node).
# Cannot tell (daemon down, swarm locked, no leader): fail, so nothing is replaced.
set -euo pipefail
: "${PROMOTE_ADDR=}"
manager_ready || {
  log "skip: this node is in no swarm: nothing to hand over"
  exit 0
}
me=$(docker_info '{{.Swarm.NodeID}}') || exit 1
others=$(other_managers "$me")
if [ -n "$others" ]; then
  log "skip: other managers are Ready and reachable ($others): the new host joins through them"
  exit 0
fi
[ -n "$PROMOTE_ADDR" ] || fail "refusing to replace the only node of the swarm: its replacement would have no swarm to join (back up /var/lib/docker/swarm and see the README, 'Recovering a swarm')"
# shellcheck disable=SC2034 # stale: set by nodes_at, unused here
live="" stale=""
nodes_at "$PROMOTE_ADDR"
[ -n "$live" ] || fail "cannot hand over: no live node at $PROMOTE_ADDR (Down or not in the swarm); nothing was changed"
[ "$(node_field "$live" state)" = ready ] || fail "cannot hand over: node $live at $PROMOTE_ADDR is $(node_field "$live" state), not ready"
if [ "$(node_field "$live" role)" != manager ]; then
  node_change promote "$live"
  log "promoted $live ($PROMOTE_ADDR) while this manager is replaced"
fi
promoted() { [ "$(reachability "$live")" = reachable ]; }
retry 60 promoted || fail "node $live ($PROMOTE_ADDR) is not a reachable manager 60 s after its promotion: run again"
log "node $live ($PROMOTE_ADDR) is a reachable manager: the new host joins through it"

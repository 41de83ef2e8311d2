#!/usr/bin/env bash
# On a manager, the last step of taking a node out: once the node has left (or
# its host is gone), remove it from the node list. Parameters: NODE_ADDR.
#
# Every entry at NODE_ADDR goes (lib.sh nodes_at): the node itself, which has left
# (the leave ran before this, or its host is gone) but may still show Ready for a few
# heartbeats, and any stale Down entry of an older node at that address. Each is
# removed by its ID; one still a Raft member is demoted first (node rm refuses it).
# HAND_BACK=true (manager-1's removal, run on the node its replacement joined through):
# afterwards, if this node is a manager only for that handover (swarm-handover.sh) and
# another manager is reachable, it demotes itself and waits until it is a worker again.
# Cannot tell (daemon down, swarm locked, no leader): fail, so a later run does it.
# Parameters: NODE_ADDR, HAND_BACK (true|false), SELF_ROLE (this node's role in the
# program: worker | manager).
set -euo pipefail
: "${NODE_ADDR:?}" "${HAND_BACK:=false}" "${SELF_ROLE:=manager}"
hand_back() {
  [ "$HAND_BACK" = true ] && [ "$SELF_ROLE" = worker ] || return 0
  local control me others
  control=$(docker_info '{{.Swarm.ControlAvailable}}') || exit 1
  [ "$control" = true ] || return 0
  read_nodes || fail "cannot tell which nodes the swarm has: $NODES_ERROR"
  me=$(docker_info '{{.Swarm.NodeID}}') || exit 1
  others=$(other_managers "$me")
  [ -n "$others" ] || fail "this node ($me) was promoted for manager-1's replacement, but no other manager is reachable yet: not demoting it; run again"
  node_change demote "$me"
  # shellcheck disable=SC2317 # called by retry
  worker_again() { [ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" = false ]; }
  retry 60 worker_again || fail "this node ($me) is still a manager 60 s after demoting itself: run again"
  log "demoted this node ($me) again: it was a manager only while manager-1 was replaced"
}
# On EXIT: removal_targets exits 0 when nothing is left to remove (a later run), and the
# hand-back must still happen then; never after a failure.
on_exit() {
  local rc=$?
  [ "$rc" -ne 0 ] || hand_back
}
trap on_exit EXIT
live="" stale=""
removal_targets "$NODE_ADDR"
for id in $live $stale; do
  demote_node "$id"
  # --force: the node has left (or its host is gone); without it, node rm waits a
  # few heartbeats for the manager to see the node down.
  docker node rm --force "$id" >/dev/null
  log "removed node $id ($NODE_ADDR, $(node_field "$id" state)) from the swarm"
done

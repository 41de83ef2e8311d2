#!/usr/bin/env bash
# On the node manager-1's replacement joins through (manager-2, or with one manager a
# worker that swarm-handover.sh promoted for the duration): the manager join token, if
# this node is a manager now. A worker, or a node in no swarm, has none to give: it
# prints nothing, and manager-1's join (which needs the token only to join) says why
# if it needs one. Parameters: none. Stdout: the token, or nothing.
set -euo pipefail
info=$(docker_info '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}') || exit 1
read -r state control <<<"$info"
case "$state:$control" in
  active:true) docker swarm join-token -q manager ;;
  active:false) log "this node is a worker: no join token from here" ;;
  inactive:*) log "this node is in no swarm: no join token from here" ;;
  locked:*) fail "the swarm is locked on this node (autolock: Docker restarted): run docker swarm unlock with the unlock key (stack output unlockKey), then run again" ;;
  *) fail "cannot tell: this node's swarm state is '$state'" ;;
esac

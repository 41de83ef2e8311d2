NODE_ADDR=10.0.0.21
# shellcheck shell=bash
# Helpers shared by the swarm scripts. components/commands.py prepends this file
# (after the exported parameters) to every script it sends, so each remote
# command is one self-contained text: no files need to exist on the node.

# log MESSAGE: progress goes to stderr, so stdout stays the command's result.
log() { printf '%s\n' "$*" >&2; }

# fail MESSAGE: stop with a message Pulumi shows as the reason.
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# swarm_state: inactive | pending | active | error | locked
swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }

# node_by_addr ADDR: the ID of the swarm node whose address is ADDR (manager only).
node_by_addr() {
  local id
  for id in $(docker node ls -q); do
    if [ "$(docker node inspect --format '{{.Status.Addr}}' "$id")" = "$1" ]; then
      printf '%s\n' "$id"
      return 0
    fi
  done
  return 1
}

# member_to_remove ADDR (manager only): set `id` to the node at ADDR; false, with
# the reason logged, when there is nothing to remove (no swarm here, or no such node).
member_to_remove() {
  if [ "$(swarm_state)" != active ]; then
    log "skip: this manager is not in a swarm any more"
    return 1
  fi
  id=$(node_by_addr "$1") || { log "skip: no node has address $1 (removed already)"; return 1; }
}

# retry SECONDS COMMAND...: run COMMAND until it succeeds or SECONDS pass,
# backing off from 1 s to 8 s between tries.
retry() {
  local deadline=$((SECONDS + $1)) pause=1
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep "$pause"
    [ "$pause" -ge 8 ] || pause=$((pause * 2))
  done
}

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

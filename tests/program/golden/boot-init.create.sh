ADVERTISE_ADDR=10.0.0.11
AUTOLOCK=false
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
# Make this node the first manager of a new swarm, unless it is in one already.
# Parameters: ADVERTISE_ADDR (this node's private IP), AUTOLOCK (true|false:
# managers need the unlock key after a restart).
# Stdout: the swarm's ID, and nothing else (init's own output holds join
# tokens, so it is never printed).
set -euo pipefail
: "${ADVERTISE_ADDR:?}" "${AUTOLOCK:=false}"
case "$AUTOLOCK" in true | false) ;; *) fail "AUTOLOCK must be true or false" ;; esac

state=$(swarm_state)
case "$state" in
  active)
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] \
      || fail "this node is in a swarm already, but not as a manager"
    log "skip: already a manager of swarm $(docker info --format '{{.Swarm.Cluster.ID}}')"
    if [ "$(docker info --format '{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}')" != "$AUTOLOCK" ]; then
      docker swarm update --autolock="$AUTOLOCK" >/dev/null # prints the unlock key: not here
      log "autolock set to $AUTOLOCK"
    fi
    ;;
  inactive)
    docker swarm init --advertise-addr "$ADVERTISE_ADDR" --autolock="$AUTOLOCK" >/dev/null
    log "initialised a new swarm, advertising $ADVERTISE_ADDR (autolock $AUTOLOCK)"
    ;;
  locked) fail "the swarm on this node is locked: run 'docker swarm unlock' with the unlock key" ;;
  *) fail "unexpected swarm state '$state'" ;;
esac
docker info --format '{{.Swarm.Cluster.ID}}'

#!/usr/bin/env bash
# Make this node the first manager of a new swarm, unless it is in one already.
# Parameters: ADVERTISE_ADDR (this node's private IP).
# Stdout: the swarm's ID, and nothing else (init's own output holds join
# tokens, so it is never printed).
set -euo pipefail
: "${ADVERTISE_ADDR:?}"

state=$(swarm_state)
case "$state" in
  active)
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] \
      || fail "this node is in a swarm already, but not as a manager"
    log "skip: already a manager of swarm $(docker info --format '{{.Swarm.Cluster.ID}}')"
    ;;
  inactive)
    docker swarm init --advertise-addr "$ADVERTISE_ADDR" >/dev/null
    log "initialised a new swarm, advertising $ADVERTISE_ADDR"
    ;;
  locked) fail "the swarm on this node is locked: run 'docker swarm unlock' with the unlock key" ;;
  *) fail "unexpected swarm state '$state'" ;;
esac
docker info --format '{{.Swarm.Cluster.ID}}'

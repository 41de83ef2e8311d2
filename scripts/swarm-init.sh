#!/usr/bin/env bash
# Make this node the first manager of a new swarm, unless it is in one already.
# Runs once in a stack's life (components/swarm: bootstrap): autolock changes later
# are swarm-autolock.sh's.
# Parameters: ADVERTISE_ADDR (this node's private IP), AUTOLOCK (true|false:
# managers need the unlock key after a restart).
# Stdout: the swarm's ID, and nothing else (init's own output holds join
# tokens, so it is never printed).
set -euo pipefail
: "${ADVERTISE_ADDR:?}" "${AUTOLOCK:=false}"
case "$AUTOLOCK" in true | false) ;; *) fail "AUTOLOCK must be true or false" ;; esac

docker_ready # the daemon answers, and this login may use it (else: why not)
state=$(swarm_state)
case "$state" in
  active)
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] \
      || fail "this node is in a swarm already, but not as a manager"
    log "skip: already a manager of swarm $(docker info --format '{{.Swarm.Cluster.ID}}')"
    ;;
  inactive)
    docker swarm init --advertise-addr "$ADVERTISE_ADDR" --autolock="$AUTOLOCK" >/dev/null
    log "initialised a new swarm, advertising $ADVERTISE_ADDR (autolock $AUTOLOCK)"
    ;;
  locked) fail "the swarm on this node is locked (autolock: Docker restarted): run docker swarm unlock with the unlock key (stack output unlockKey), then run again" ;;
  *) fail "unexpected swarm state '$state'" ;;
esac
docker info --format '{{.Swarm.Cluster.ID}}'

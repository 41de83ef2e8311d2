MODE=mesh
NETWORK=testapp-net
NODE_ADDRS='10.0.0.11 10.0.0.21 10.0.0.22'
PROBE_IMAGE=busybox:1.36
PUBLISHED_PORT=5001
REPLICAS=2
SERVICE=testapp
TARGET_PORT=5000
TIMEOUT=300
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
# On a manager, after the service is deployed: succeed only when the service
# has all its replicas running and answers HTTP.
#   MODE=mesh : every node answers on the published port (the routing mesh).
#   MODE=tasks: each task answers on its target port, asked from a probe
#               container on the service's overlay network (for kernels
#               without IPVS, where the mesh cannot work); the mesh is NOT checked.
# Parameters: SERVICE, REPLICAS, PUBLISHED_PORT, TARGET_PORT, NODE_ADDRS
# (space-separated), MODE, NETWORK, PROBE_IMAGE, TIMEOUT (seconds).
set -euo pipefail
: "${SERVICE:?}" "${REPLICAS:?}" "${PUBLISHED_PORT:?}" "${TARGET_PORT:?}" "${NODE_ADDRS:?}" "${MODE:?}"
TIMEOUT=${TIMEOUT:-300}

running() {
  [ "$(docker service ps --filter desired-state=running --format '{{.CurrentState}}' "$SERVICE" | grep -c '^Running')" -ge "$REPLICAS" ]
}
retry "$TIMEOUT" running || fail "service $SERVICE: fewer than $REPLICAS replicas running after ${TIMEOUT}s: $(docker service ps --no-trunc --format '{{.Node}} {{.CurrentState}} {{.Error}}' "$SERVICE" | head -5 | tr '\n' ';')"
log "service $SERVICE: $REPLICAS/$REPLICAS replicas running"

answers() { curl -fsS -m 5 -o /dev/null "http://$1/"; }
case "$MODE" in
  mesh)
    for addr in $NODE_ADDRS; do
      retry 60 answers "$addr:$PUBLISHED_PORT" || fail "node $addr does not answer on port $PUBLISHED_PORT (routing mesh)"
      log "mesh: $addr:$PUBLISHED_PORT answers"
    done
    echo "ok: $REPLICAS/$REPLICAS running; routing mesh answers on all $(echo "$NODE_ADDRS" | wc -w) nodes"
    ;;
  tasks)
    : "${NETWORK:?}" "${PROBE_IMAGE:?}"
    # One probe container on the overlay asks each task (tasks.NAME lists them) directly.
    # shellcheck disable=SC2016 # expanded inside the probe, not here
    probe='set -e; n=0; for ip in $(nslookup "tasks.$0" 2>/dev/null | awk "/^Address/ && \$NF !~ /:/ && NR>2 {print \$NF}"); do
      timeout 5 wget -q -O /dev/null "http://$ip:$1/" || { echo "task $ip does not answer"; exit 1; }; n=$((n+1)); done
      [ "$n" -ge "$2" ] || { echo "only $n tasks found"; exit 1; }; echo "$n"'
    check_tasks() { docker run --rm --network "$NETWORK" "$PROBE_IMAGE" sh -c "$probe" "$SERVICE" "$TARGET_PORT" "$REPLICAS" >/dev/null 2>&1; }
    retry 60 check_tasks || fail "not every task of $SERVICE answers on port $TARGET_PORT"
    echo "ok: $REPLICAS/$REPLICAS running; every task answers on $TARGET_PORT; routing mesh NOT checked (MODE=tasks)"
    ;;
  *) fail "MODE must be mesh or tasks" ;;
esac

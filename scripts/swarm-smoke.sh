#!/usr/bin/env bash
# On a manager, after the service is deployed: succeed only when every node of the
# stack (NODE_ADDRS) is in the swarm and Ready, and the service has all its replicas
# running and answers HTTP.
#   MODE=mesh : every node answers on the published port (the routing mesh).
#   MODE=tasks: each task answers on its target port, asked from a probe
#               container on the service's overlay network (for kernels
#               without IPVS, where the mesh cannot work); the mesh is NOT checked.
# Parameters: SERVICE, REPLICAS, PUBLISHED_PORT, TARGET_PORT, NODE_ADDRS
# (space-separated), MODE, NETWORK, PROBE_IMAGE, TIMEOUT (seconds).
set -euo pipefail
: "${SERVICE:?}" "${REPLICAS:?}" "${PUBLISHED_PORT:?}" "${TARGET_PORT:?}" "${NODE_ADDRS:?}" "${MODE:?}"
TIMEOUT=${TIMEOUT:-300}
# Cannot tell (daemon down, swarm locked, no leader): say why now, not after TIMEOUT.
manager_ready || fail "this node is in no swarm"

# A node of the stack Ready at ADDR (its address, or a manager's Raft address). After a
# leader change every node is "unknown" until its next heartbeat (swarmkit
# manager/dispatcher/dispatcher.go, markNodesUnknown): waited for like the service.
ready_at() {
  local addr state raft
  while read -r _ addr state _ raft; do
    if [ "$state" = ready ] && { [ "$addr" = "$1" ] || [ "${raft%:*}" = "$1" ]; }; then return 0; fi
  done <<<"$NODES"
  return 1
}
all_ready() {
  local a
  read_nodes || return 1
  for a in $NODE_ADDRS; do ready_at "$a" || return 1; done
}
retry "$TIMEOUT" all_ready || fail "not every node of the stack is Ready in the swarm after ${TIMEOUT}s: $(for a in $NODE_ADDRS; do ready_at "$a" || printf '%s ' "$a"; done)"
log "all $(echo "$NODE_ADDRS" | wc -w) nodes of the stack are Ready"

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
    probe_said=""
    check_tasks() { probe_said=$(docker run --rm --network "$NETWORK" "$PROBE_IMAGE" sh -c "$probe" "$SERVICE" "$TARGET_PORT" "$REPLICAS" 2>&1); }
    # Two waits, for two causes. Fewer tasks listed than replicas: tasks.NAME lists a task
    # on another node only once the overlay's NetworkDB has brought its record here, by
    # gossip or by the bulk sync every memberlist PushPullInterval, 30 s (moby
    # docker-v29.7.2-150: daemon/libnetwork/networkdb/cluster.go bulkSyncTables; vendored
    # hashicorp/memberlist config.go DefaultLANConfig): waited for within TIMEOUT. A listed
    # task that does not answer (or a probe that cannot run): 60 s, as a node of the mesh
    # gets; waiting longer on the same answer would only delay the failure.
    answered=no
    listed() {
      if check_tasks; then answered=yes; return 0; fi
      case $probe_said in *"tasks found"*) return 1 ;; *) return 0 ;; esac
    }
    retry "$TIMEOUT" listed || fail "service $SERVICE: fewer than $REPLICAS tasks listed on $NETWORK after ${TIMEOUT}s: $(one_line "$probe_said" | cut -c1-400)"
    [ "$answered" = yes ] || retry 60 check_tasks || fail "not every task of $SERVICE answers on port $TARGET_PORT: $(one_line "$probe_said" | cut -c1-400)"
    echo "ok: $REPLICAS/$REPLICAS running; every task answers on $TARGET_PORT; routing mesh NOT checked (MODE=tasks)"
    ;;
  *) fail "MODE must be mesh or tasks" ;;
esac

#!/usr/bin/env bash
# Join this node to swarm SWARM_ID, whose manager listens on MANAGER_ADDR, unless
# it is a member already. The join token arrives on stdin and goes to the Docker
# Engine API on stdin too, so it never appears in any process's argv.
# Parameters: SWARM_ID, MANAGER_ADDR (empty: no node can let this one in),
# ADVERTISE_ADDR. Stdin: the join token (needed only to join: manager-1, which
# created the swarm, runs this too and skips; see swarm-sponsor-token.sh).
set -euo pipefail
: "${SWARM_ID:?}" "${MANAGER_ADDR=}" "${ADVERTISE_ADDR:?}"
IFS= read -r token || true

sock=/var/run/docker.sock
# The daemon answers, and this login may use it: a login session older than our
# docker group membership goes through sudo -n (lib.sh docker_ready), else: why not.
docker_ready
as_root=()
if [ "$DOCKER_SUDO" = true ]; then as_root=(sudo -n); fi

# The swarm this node belongs to, from its node certificate (O = cluster ID). A
# worker's `docker info` cannot tell one swarm from another that had the same
# manager address (a manager re-created on a reused IP), but its certificate can.
cluster_of_node() {
  local crt
  crt="$(docker info --format '{{.DockerRootDir}}')/swarm/certificates/swarm-node.crt"
  [ -r "$crt" ] || as_root=(sudo -n)
  "${as_root[@]}" openssl x509 -noout -subject -in "$crt" | grep -o 'O *= *[a-z0-9]*' | head -n 1 | sed 's/.*= *//'
}
managers() { docker info --format '{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}'; }

state=$(swarm_state)
if [ "$state" = pending ]; then
  # An earlier join is still under way (e.g. interrupted): give it a moment.
  not_pending() { [ "$(swarm_state)" != pending ]; }
  retry 20 not_pending || true
  state=$(swarm_state)
fi
case "$state" in
  active)
    theirs=$(cluster_of_node) || true
    [ -n "$theirs" ] || fail "cannot read this node's swarm certificate to tell which swarm it is in"
    if [ "$theirs" = "$SWARM_ID" ]; then
      log "skip: already a member of swarm $SWARM_ID"
      exit 0
    fi
    managers | grep -qw "$MANAGER_ADDR:2377" \
      || fail "this node is in another swarm ($theirs, managers: $(managers)): not touching it"
    # Same manager address, other swarm: a stale membership of an earlier swarm here.
    log "left stale swarm $theirs (its manager address is now swarm $SWARM_ID's)"
    docker swarm leave --force >/dev/null
    ;;
  error | pending)
    log "the last join did not complete (state $state): leaving and joining again"
    docker swarm leave --force >/dev/null 2>&1 || true
    ;;
  inactive) ;;
  *) fail "unexpected swarm state '$state'" ;;
esac

[ -n "$MANAGER_ADDR" ] || fail "this node is not in swarm $SWARM_ID and no other node can let it in: the only node of a swarm cannot be replaced (README, 'Recovering a swarm')"
[ -n "$token" ] || fail "no join token on stdin: the node at $MANAGER_ADDR gave none (it is not a manager of swarm $SWARM_ID now; see its step's log)"

# printf is a shell builtin: the token is written to the pipe, not passed to a program.
# On an HTTP error curl prints the API's answer ({"message":"..."}): its reason.
answer=$(printf '{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s:2377"],"JoinToken":"%s"}' \
  "$ADVERTISE_ADDR" "$MANAGER_ADDR" "$token" \
  | "${as_root[@]}" curl -sS --fail-with-body --unix-socket "$sock" -X POST -H 'Content-Type: application/json' --data-binary @- http://localhost/swarm/join) \
  || {
    reason=$(printf '%s' "$answer" | sed -n 's/^{"message":"\(.*\)"}[[:space:]]*$/\1/p')
    reason=$(one_line "${reason:-${answer:-no answer from the Docker API (curl says why, above)}}")
    # The token never goes into a message, even if an answer were to quote it.
    fail "joining the swarm at $MANAGER_ADDR failed: ${reason//"$token"/<token>}"
  }
unset token answer
log "joined the swarm at $MANAGER_ADDR as $(docker info --format '{{if .Swarm.ControlAvailable}}manager{{else}}worker{{end}}')"
docker info --format '{{.Swarm.NodeID}}'

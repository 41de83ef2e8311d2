#!/usr/bin/env bash
# Join this node to the swarm whose manager listens on MANAGER_ADDR, unless it
# is a member already. The join token arrives on stdin and goes to the Docker
# Engine API on stdin too, so it never appears in any process's argv.
# Parameters: MANAGER_ADDR, ADVERTISE_ADDR. Stdin: the join token.
set -euo pipefail
: "${MANAGER_ADDR:?}" "${ADVERTISE_ADDR:?}"
IFS= read -r token || true
[ -n "$token" ] || fail "no join token on stdin"

member_of_ours() {
  docker info --format '{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}' | grep -qw "$MANAGER_ADDR:2377"
}

state=$(swarm_state)
if [ "$state" = pending ]; then
  # An earlier join is still under way (e.g. interrupted): give it a moment.
  not_pending() { [ "$(swarm_state)" != pending ]; }
  retry 20 not_pending || true
  state=$(swarm_state)
fi
case "$state" in
  active)
    member_of_ours || fail "this node is in another swarm (managers: $(docker info --format '{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}'))"
    log "skip: already a member of the swarm at $MANAGER_ADDR"
    exit 0
    ;;
  error | pending)
    log "the last join did not complete (state $state): leaving and joining again"
    docker swarm leave --force >/dev/null 2>&1 || true
    ;;
  inactive) ;;
  *) fail "unexpected swarm state '$state'" ;;
esac

sock=/var/run/docker.sock
as_docker=()
# A login session older than our docker group membership needs sudo for the socket.
if [ -e "$sock" ] && [ ! -w "$sock" ]; then as_docker=(sudo -n); fi
# printf is a shell builtin: the token is written to the pipe, not passed to a program.
printf '{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s:2377"],"JoinToken":"%s"}' \
  "$ADVERTISE_ADDR" "$MANAGER_ADDR" "$token" \
  | "${as_docker[@]}" curl -sS --fail-with-body --unix-socket "$sock" -X POST -H 'Content-Type: application/json' --data-binary @- http://localhost/swarm/join >/dev/null \
  || fail "joining the swarm at $MANAGER_ADDR failed"
unset token
log "joined the swarm at $MANAGER_ADDR as $(docker info --format '{{if .Swarm.ControlAvailable}}manager{{else}}worker{{end}}')"
docker info --format '{{.Swarm.NodeID}}'

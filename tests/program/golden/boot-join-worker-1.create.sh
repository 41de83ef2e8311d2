ADVERTISE_ADDR=10.0.0.21
MANAGER_ADDR=10.0.0.11
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

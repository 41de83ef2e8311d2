ADVERTISE_ADDR=10.0.0.21
MANAGER_ADDR=10.0.0.11
SWARM_ID=swarmid0123456789
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
# Join this node to swarm SWARM_ID, whose manager listens on MANAGER_ADDR, unless
# it is a member already. The join token arrives on stdin and goes to the Docker
# Engine API on stdin too, so it never appears in any process's argv.
# Parameters: SWARM_ID, MANAGER_ADDR, ADVERTISE_ADDR. Stdin: the join token.
set -euo pipefail
: "${SWARM_ID:?}" "${MANAGER_ADDR:?}" "${ADVERTISE_ADDR:?}"
IFS= read -r token || true
[ -n "$token" ] || fail "no join token on stdin"

sock=/var/run/docker.sock
as_root=()
# A login session older than our docker group membership needs sudo for the socket.
if [ -e "$sock" ] && [ ! -w "$sock" ]; then as_root=(sudo -n); fi

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

# printf is a shell builtin: the token is written to the pipe, not passed to a program.
printf '{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s:2377"],"JoinToken":"%s"}' \
  "$ADVERTISE_ADDR" "$MANAGER_ADDR" "$token" \
  | "${as_root[@]}" curl -sS --fail-with-body --unix-socket "$sock" -X POST -H 'Content-Type: application/json' --data-binary @- http://localhost/swarm/join >/dev/null \
  || fail "joining the swarm at $MANAGER_ADDR failed"
unset token
log "joined the swarm at $MANAGER_ADDR as $(docker info --format '{{if .Swarm.ControlAvailable}}manager{{else}}worker{{end}}')"
docker info --format '{{.Swarm.NodeID}}'

LEAVE_SCRIPT='# shellcheck shell=bash
# Helpers shared by the swarm scripts. components/commands.py prepends this file
# (after the exported parameters) to every script it sends, so each remote
# command is one self-contained text: no files need to exist on the node.

# log MESSAGE: progress goes to stderr, so stdout stays the command'"'"'s result.
log() { printf '"'"'%s\n'"'"' "$*" >&2; }

# fail MESSAGE: stop with a message Pulumi shows as the reason.
fail() { printf '"'"'error: %s\n'"'"' "$*" >&2; exit 1; }

# swarm_state: inactive | pending | active | error | locked
swarm_state() { docker info --format '"'"'{{.Swarm.LocalNodeState}}'"'"' 2>/dev/null; }

# node_by_addr ADDR: the ID of the swarm node whose address is ADDR (manager only).
node_by_addr() {
  local id
  for id in $(docker node ls -q); do
    if [ "$(docker node inspect --format '"'"'{{.Status.Addr}}'"'"' "$id")" = "$1" ]; then
      printf '"'"'%s\n'"'"' "$id"
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
# Leave the swarm (the first manager, when the whole cluster is destroyed).
# Parameters: none.
set -euo pipefail
case "$(swarm_state)" in
  inactive) log "skip: not in a swarm" ;;
  *) docker swarm leave --force >/dev/null && log "left the swarm" ;;
esac
'
NODE=ubuntu@203.0.113.11
SSH_OPTS='-F
none
-o
BatchMode=yes
-o
ConnectTimeout=15
-o
StrictHostKeyChecking=yes
-o
UserKnownHostsFile=/dev/null
-o
GlobalKnownHostsFile=/dev/null
-o
KnownHostsCommand=/bin/echo %H ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyFakeKeyFakeKeyFakeKeyFakeKeyFake2702
-o
IdentitiesOnly=yes
-o
IdentityFile=%d/.ssh/pulumi-docker-swarm/dev/id'
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
# On the deployer's machine, when a node is taken out: make the node leave the
# swarm (after the manager drained it, before the manager removes it). Runs the
# deployer's ssh, not pulumi-command's, so that a host that is already gone
# (terminated, unreachable) is reported and skipped instead of failing the delete.
# Parameters: NODE (user@host), SSH_OPTS (one ssh option per line), LEAVE_SCRIPT.
set -euo pipefail
: "${NODE:?}" "${SSH_OPTS:?}" "${LEAVE_SCRIPT:?}"
# One array element per line of SSH_OPTS. Not mapfile: it is bash 4, and macOS runs
# this with /bin/bash 3.2 (tests/unit/test_deployer_bash.py).
opts=()
while IFS= read -r opt; do
  opts+=("$opt")
done <<<"$SSH_OPTS"
rc=0
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
ssh "${opts[@]}" "$NODE" bash -s <<<"$LEAVE_SCRIPT" 2>"$errors" || rc=$?
cat "$errors" >&2
case "$rc" in
  0) ;;
  255)
    if grep -q "Host key verification failed" "$errors"; then
      # Another machine answers at this address: run nothing there.
      log "skip: $NODE does not present the node's pinned host key: not running anything there; the manager removes the node"
    else
      log "skip: cannot reach $NODE (host gone?): nothing to leave; the manager removes the node"
    fi
    ;;
  *) fail "leaving the swarm on $NODE failed (exit $rc)" ;;
esac

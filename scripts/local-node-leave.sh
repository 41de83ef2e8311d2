#!/usr/bin/env bash
# On the deployer's machine, when a node is taken out: make the node leave the
# swarm (after the manager drained it, before the manager removes it). Runs the
# deployer's ssh, not pulumi-command's, so that a host that is already gone
# (terminated, unreachable) is reported and skipped instead of failing the delete.
# Parameters: NODE (user@host), SSH_OPTS (one ssh option per line), LEAVE_SCRIPT.
set -euo pipefail
: "${NODE:?}" "${SSH_OPTS:?}" "${LEAVE_SCRIPT:?}"
mapfile -t opts <<<"$SSH_OPTS"
rc=0
ssh "${opts[@]}" "$NODE" bash -s <<<"$LEAVE_SCRIPT" || rc=$?
case "$rc" in
  0) ;;
  255) log "skip: cannot reach $NODE (host gone?): nothing to leave; the manager removes the node" ;;
  *) fail "leaving the swarm on $NODE failed (exit $rc)" ;;
esac

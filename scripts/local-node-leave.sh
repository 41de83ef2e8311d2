#!/usr/bin/env bash
# On the deployer's machine, when a node is taken out: make the node leave the
# swarm (after the manager drained it, before the manager removes it). Runs the
# deployer's ssh, not pulumi-command's, so that a host that is already gone
# (terminated, unreachable) is reported and skipped instead of failing the delete.
# Parameters: NODE (user@host), SSH_OPTS (one ssh option per line), LEAVE_SCRIPT.
set -euo pipefail
: "${NODE:?}" "${SSH_OPTS:?}" "${LEAVE_SCRIPT:?}"
# One array element per line of SSH_OPTS, read line by line: macOS runs this with
# /bin/bash 3.2, which lacks bash 4's array builtins (tests/unit/test_deployer_bash.py).
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

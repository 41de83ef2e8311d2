#!/usr/bin/env bash
# On the deployer's machine: run SCRIPT on a node that is being taken out (its leave
# from the swarm; manager-1's handover before its replacement joins). Runs the
# deployer's ssh, not pulumi-command's, so that a host that is already gone
# (terminated, unreachable) is reported and skipped instead of failing the delete.
# Parameters: NODE (user@host), SSH_OPTS (one ssh option per line), SCRIPT, WHAT
# (what SCRIPT does, for the messages); for a node behind a jump host, JUMP (its
# user@host) and JUMP_OPTS (its own options, one per line), else both empty.
set -euo pipefail
: "${NODE:?}" "${SSH_OPTS:?}" "${SCRIPT:?}" "${WHAT:?}"
JUMP=${JUMP:-}
JUMP_OPTS=${JUMP_OPTS:-}
# One array element per line of SSH_OPTS, read line by line: macOS runs this with
# /bin/bash 3.2, which lacks bash 4's array builtins (tests/unit/test_deployer_bash.py).
opts=()
while IFS= read -r opt; do
  opts+=("$opt")
done <<<"$SSH_OPTS"
rc=0
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
ssh "${opts[@]}" "$NODE" bash -s <<<"$SCRIPT" 2>"$errors" || rc=$?
cat "$errors" >&2
case "$rc" in
  0) ;;
  255)
    # Through a jump host, "unreachable" may be the jump's fault: ask it alone first.
    # If it does not answer, whether NODE is gone cannot be told.
    if [ -n "$JUMP" ]; then
      jump_opts=()
      while IFS= read -r opt; do
        jump_opts+=("$opt")
      done <<<"$JUMP_OPTS"
      ssh "${jump_opts[@]}" "$JUMP" true </dev/null 2>>"$errors" ||
        fail "$WHAT on $NODE: the jump host $JUMP does not answer, so whether $NODE is gone cannot be told: $(one_line "$(cat "$errors")")"
    fi
    if grep -q "Host key verification failed" "$errors"; then
      # Another machine answers at this address: run nothing there.
      log "skip: $NODE does not present the node's pinned host key: not running anything there ($WHAT)"
    else
      log "skip: cannot reach $NODE (host gone?): nothing to do there ($WHAT)"
    fi
    ;;
  *) fail "$WHAT on $NODE failed (exit $rc)" ;;
esac

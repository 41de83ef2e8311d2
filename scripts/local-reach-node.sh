#!/usr/bin/env bash
# On the deployer's machine, before the readiness gate of a node reached through a jump
# host (privateWorkers): wait until the deployer's ssh logs in to NODE through the jump,
# trying a new connection each time. pulumi-command's proxy path cannot wait for that
# itself: it retries the SSH handshake over the one channel it opened, which the first
# failure closed (pulumi-command v1.2.1 remote/connection.go Connection.Dial; x/crypto
# ssh.NewClientConn closes it), so a node still booting (sshd up, logins not yet
# allowed) would hold the gate until its timeout.
# Parameters: NODE (user@address), SSH_OPTS (one ssh option per line), TIMEOUT (seconds).
set -euo pipefail
: "${NODE:?}" "${SSH_OPTS:?}" "${TIMEOUT:?}"
# One array element per line of SSH_OPTS, read line by line (macOS runs this with bash 3.2).
opts=()
while IFS= read -r opt; do
  opts+=("$opt")
done <<<"$SSH_OPTS"
said=""
logs_in() {
  said=$(ssh "${opts[@]}" "$NODE" true 2>&1 </dev/null) && return 0
  said=$(one_line "$said")
  return 1
}
retry "$TIMEOUT" logs_in || fail "cannot log in to $NODE through the jump host after ${TIMEOUT}s: ${said:-no message}"
log "$NODE: logged in through the jump host"

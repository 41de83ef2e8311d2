#!/usr/bin/env bash
# Print the current join token for ROLE (worker|manager). The token is this
# command's stdout, which the program marks secret and never logs.
# Parameters: ROLE.
set -euo pipefail
case "${ROLE:?}" in worker | manager) ;; *) fail "ROLE must be worker or manager" ;; esac
manager_ready || fail "this node is in no swarm"
docker swarm join-token -q "$ROLE"

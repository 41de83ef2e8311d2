#!/usr/bin/env bash
# Print the swarm's unlock key (autolock). It is this command's stdout, which the
# program marks secret and exports only as a secret. Parameters: none.
set -euo pipefail
manager_ready || fail "this node is in no swarm"
docker swarm unlock-key -q

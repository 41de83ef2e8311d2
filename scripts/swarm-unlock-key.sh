#!/usr/bin/env bash
# Print the swarm's unlock key (autolock). It is this command's stdout, which the
# program marks secret and exports only as a secret. Parameters: none.
set -euo pipefail
[ "$(swarm_state)" = active ] || fail "this node is not in a swarm"
docker swarm unlock-key -q

#!/usr/bin/env bash
# Rotate both join tokens, so the tokens read while bootstrapping admit no one.
# Nodes added later use a token read after this (the read runs again when the
# node set changes). Parameters: none. Prints no token.
set -euo pipefail
manager_ready || fail "this node is in no swarm"
for role in worker manager; do
  docker swarm join-token --rotate -q "$role" >/dev/null
done
log "rotated the worker and manager join tokens"

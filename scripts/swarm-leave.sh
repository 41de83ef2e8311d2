#!/usr/bin/env bash
# Leave the swarm (a node taken out, through local-on-node.sh; the first
# manager, when the whole cluster is destroyed). Parameters: none.
# Not in a swarm: nothing to do. The daemon not answering: cannot tell, fail.
# Locked, pending or in error: --force leaves all the same.
set -euo pipefail
state=$(swarm_state)
case "$state" in
  inactive) log "skip: not in a swarm" ;;
  *)
    docker swarm leave --force >/dev/null
    log "left the swarm"
    ;;
esac

#!/usr/bin/env bash
# Leave the swarm (the first manager, when the whole cluster is destroyed).
# Parameters: none.
set -euo pipefail
case "$(swarm_state)" in
  inactive) log "skip: not in a swarm" ;;
  *) docker swarm leave --force >/dev/null && log "left the swarm" ;;
esac

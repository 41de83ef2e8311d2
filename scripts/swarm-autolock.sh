#!/usr/bin/env bash
# On a manager: autolock as configured (the managers then need the unlock key after a
# restart). Parameters: AUTOLOCK (true|false).
set -euo pipefail
: "${AUTOLOCK:?}"
case "$AUTOLOCK" in true | false) ;; *) fail "AUTOLOCK must be true or false" ;; esac
manager_ready || fail "this node is in no swarm: cannot set autolock"
have=$(docker_info '{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}') || exit 1
if [ "$have" = "$AUTOLOCK" ]; then
  log "skip: autolock is $AUTOLOCK already"
  exit 0
fi
docker swarm update --autolock="$AUTOLOCK" >/dev/null # prints the unlock key: not here
log "autolock set to $AUTOLOCK"

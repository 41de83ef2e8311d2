#!/usr/bin/env bash
# On the deployer's machine: keep the cluster's SSH private key in KEY_FILE
# (mode 0600) for the docker provider's ssh client, or remove it on destroy.
# Parameters: KEY_FILE, ACTION (write|remove). Stdin (write): the private key.
set -euo pipefail
: "${KEY_FILE:?}" "${ACTION:?}"
case "$ACTION" in
  write)
    umask 077
    mkdir -p "$(dirname "$KEY_FILE")"
    cat >"$KEY_FILE.tmp"
    mv -f "$KEY_FILE.tmp" "$KEY_FILE"
    log "wrote the SSH key for the docker provider to $KEY_FILE"
    ;;
  remove) rm -f "$KEY_FILE" && log "removed $KEY_FILE" ;;
  *) fail "ACTION must be write or remove" ;;
esac

#!/usr/bin/env bash
# Readiness gate: succeeds once cloud-init has finished without error and the
# Docker daemon answers. Every swarm step on this node waits for it.
# Parameters: none.
set -euo pipefail

if command -v cloud-init >/dev/null 2>&1; then
  # --wait blocks inside this one SSH session until cloud-init is done: no polling
  # from the deployer. Bounded here too: the provider does not kill a hung command.
  rc=0
  status=$(timeout 900 cloud-init status --wait --long 2>&1) || rc=$?
  case "$status" in
    *"status: done"*) log "cloud-init: done" ;;
    *"status: disabled"*) log "cloud-init: disabled on this host (nothing to wait for)" ;;
    *) fail "cloud-init did not succeed (exit $rc): $(printf '%s' "$status" | tr '\n' ' ')" ;;
  esac
else
  log "cloud-init: not installed on this host (nothing to wait for)"
fi

# The login session may predate the usermod that added us to the docker group.
docker_info() { docker info >/dev/null 2>&1 || sudo -n docker info >/dev/null 2>&1; }
retry 30 docker_info || fail "the Docker daemon did not answer within 30 s"
echo "ready: $(hostname) docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || sudo -n docker version --format '{{.Server.Version}}')"

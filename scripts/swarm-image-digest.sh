#!/usr/bin/env bash
# On a manager: the digest and platforms the docker provider's create will pin the
# service's image to, so the program can send them itself (components/image_ref.py).
# kreuzwerker/terraform-provider-docker v4.5.0 creates a service with QueryRegistry;
# its docker client (moby v28.5.2 client/service_create.go, resolveContainerSpecImage)
# asks the daemon it talks to (this manager's) GET /distribution/{image}/json, then
# stores image@digest and Placement.Platforms, and Read gives both back. A spec written
# without them differs from the read-back on the next `up`.
# Parameters: IMAGE. Stdout: the API's JSON answer.
set -euo pipefail
: "${IMAGE:?}"
sock=/var/run/docker.sock
[ -S "$sock" ] || fail "no Docker daemon socket at $sock on this manager"
as_root=()
if [ ! -w "$sock" ]; then as_root=(sudo -n); fi
if ! out=$("${as_root[@]}" curl -sS --fail-with-body --max-time 120 --unix-socket "$sock" \
  "http://localhost/distribution/$IMAGE/json" 2>&1); then
  fail "the manager's Docker daemon cannot resolve $IMAGE with its registry: $out"
fi
printf '%s\n' "$out"

#!/bin/bash
# Writes the root filesystem of the lab test image, as a tar stream, to stdout.
# Usage: build.sh | docker import --change 'CMD ["/bin/start"]' --change 'EXPOSE 5000' - IMAGE
# Needs only busybox-static (/bin/busybox); no registry, no Docker Hub.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "build.sh: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d /tmp/testapp-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh hostname ip awk cat echo sleep httpd wget nc nslookup ping timeout kill ls ps; do
  ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/start.sh" "$root/bin/start"
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
tar -C "$root" --owner=0 --group=0 --numeric-owner -c .

#!/bin/bash
# lab/vm/build-image.sh OUTDIR - the VM lab's guest image: Debian bookworm built with
# mmdebstrap from Debian packages, carrying what a cloud image (an AMI) already has and
# nothing the user data is meant to install (no Docker, no curl).
#
# OUTDIR receives: base.raw (ext4, 4 GiB sparse, no partition table), vmlinuz,
# initrd.img, dpkg-status (the image's dpkg database, to resolve the local apt repo
# against) and packages.txt ("name version" per installed package).
# lab/vm/host.sh caches OUTDIR by the sha256 of this file: edit it and the image is
# rebuilt on the next run.
#
# What an AMI has, and why the lab's image needs it:
#  - cloud-init (NoCloud datasource only: the seed ISO), default user `debian` with
#    passwordless sudo (Debian's cloud.cfg default_user), the key from meta-data
#  - openssh-server, host keys removed (cloud-init makes them per instance)
#  - a generated en_US.UTF-8 locale: without it cloud-init's locale module fails and
#    `cloud-init status --wait` returns before the end
#  - e2fsprogs (cloud-init's resizefs grows the root file system to the disk)
#  - apt sources = the lab's repository on the bridge, kept as they are
#    (apt: preserve_sources_list), as an AMI's point at the regional mirror
#  - manage_etc_hosts: the hostname set by the user data resolves (sudo, docker)
#  - apparmor: "AppArmor is installed and loaded by default" on Ubuntu Server (Ubuntu
#    Server Guide, Security > AppArmor), so on AWS the user data's `apparmor` is already
#    installed; here too, and the user data's install of it is the same no-op. Its
#    profiles are compiled by apparmor.service at first boot, as on a new instance.
set -euo pipefail

out=${1:?usage: build-image.sh OUTDIR}
suite=bookworm
repo_line="deb [trusted=yes] http://10.78.0.1:8000/repo ./"
includes=linux-image-amd64,initramfs-tools,systemd-sysv,udev,dbus,openssh-server,cloud-init,ifupdown,sudo
includes+=,iproute2,iputils-ping,netbase,kmod,procps,less,e2fsprogs,locales
includes+=,apparmor

# The host's Debian sources (its mirror) if it has them, else deb.debian.org.
mirrors=()
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirrors=(/etc/apt/sources.list.d/debian.sources)
else
  mirrors=("deb http://deb.debian.org/debian $suite main"
           "deb http://deb.debian.org/debian $suite-updates main"
           "deb http://deb.debian.org/debian-security $suite-security main")
fi

mkdir -p "$out"
rootfs=$out/rootfs
rm -rf "$rootfs"

# shellcheck disable=SC2016  # "$1" is expanded by mmdebstrap's hook shell (the rootfs)
mmdebstrap --variant=apt --mode=root --include="$includes" \
  --aptopt='APT::Install-Recommends "false"' \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"
    echo MODULES=list > "$1/etc/initramfs-tools/conf.d/lab.conf"
    printf "virtio_pci\nvirtio_blk\nvirtio_net\next4\n" > "$1/etc/initramfs-tools/modules"' \
  --customize-hook='echo "/dev/vda / ext4 defaults,noatime 0 1" > "$1/etc/fstab"' \
  --customize-hook="echo '$repo_line' > \"\$1/etc/apt/sources.list\"
    rm -f \"\$1\"/etc/apt/sources.list.d/* \"\$1/etc/apt/apt.conf.d/99mmdebstrap\"" \
  --customize-hook='mkdir -p "$1/etc/cloud/cloud.cfg.d"
    printf "datasource_list: [ NoCloud, None ]\nmanage_etc_hosts: true\napt:\n  preserve_sources_list: true\n" \
      > "$1/etc/cloud/cloud.cfg.d/90-vmlab.cfg"' \
  --customize-hook=': > "$1/etc/machine-id"; rm -f "$1/var/lib/dbus/machine-id"; echo localhost > "$1/etc/hostname"' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook='printf "# The lab bridge has no DNS server (addresses only).\n" > "$1/etc/resolv.conf"' \
  --customize-hook='sed -i "s/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/" "$1/etc/locale.gen"
    chroot "$1" locale-gen
    echo LANG=en_US.UTF-8 > "$1/etc/default/locale"' \
  --customize-hook='chroot "$1" apt-get clean; rm -rf "$1"/var/lib/apt/lists/*' \
  "$suite" "$rootfs" "${mirrors[@]}"

# Guard: the user data must be what installs Docker.
if [ -e "$rootfs/usr/bin/dockerd" ] || [ -e "$rootfs/usr/sbin/dockerd" ]; then
  echo "build-image.sh: the image has dockerd; it must come from the user data" >&2
  exit 1
fi
cp "$rootfs"/boot/vmlinuz-* "$out/vmlinuz"
cp "$rootfs"/boot/initrd.img-* "$out/initrd.img"
cp "$rootfs/var/lib/dpkg/status" "$out/dpkg-status"
dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' |
  awk '$1 == "ii" {print $2, $3}' | sort > "$out/packages.txt"
mkfs.ext4 -q -F -L root -d "$rootfs" "$out/base.raw" 4G
rm -rf "$rootfs"
du -sh "$out"/*

#!/bin/bash
# lab/vm/host.sh - the host side of the VM lab: tools, the guest image, the local apt
# repository, the registry, the bridge, and one QEMU VM per instance.
#
#   bridge     swv-br0 10.78.0.1/24, one tap per VM (swv-tapK), no uplink; ip_forward untouched
#   VM K       10.78.0.(10+K), MAC 52:54:00:78:00:KK, 2 vCPUs, 1 GiB, TCG (KVM is unusable here);
#              2 vCPUs even on a 2-core host: measured 745 s vs 1191 s for the whole lab with 1
#              disk: qcow2 overlay on the cached base image; seed: NoCloud ISO (volid cidata)
#              built from $STATE/vmK/seed/{user-data,meta-data,network-config} (lab/vm/backend.py
#              writes them)
#   apt repo   http://10.78.0.1:8000/repo  (python3 -m http.server; what the user data installs)
#   registry   10.78.0.1:5000 (Debian's docker-registry, plain HTTP)
#   image      $CACHE/img-<sha256 of build-image.sh>/ (base.raw, vmlinuz, initrd.img, packages.txt)
#
# Usage: host.sh install | image | repo PKG... | as-ubuntu-ships DEB... | net | serve
#                | vm-start K | vm-stop K | status | down
# Env:   VMLAB_STATE (default /tmp/swarm-vmlab-state), VMLAB_CACHE (default
#        /var/cache/swarm-vmlab), VMLAB_MEM (MiB, default 1024), VMLAB_SMP (vCPUs, default 2),
#        VMLAB_ACCEL (default tcg), VMLAB_CPU (default qemu64), VMLAB_KERNEL_ARGS (default none)
# Every process is stopped by its PID, never by name. Needs root.
set -euo pipefail

STATE=${VMLAB_STATE:-/tmp/swarm-vmlab-state}
CACHE=${VMLAB_CACHE:-/var/cache/swarm-vmlab}
MEM=${VMLAB_MEM:-1024}
SMP=${VMLAB_SMP:-2}
ACCEL=${VMLAB_ACCEL:-tcg,thread=multi,tb-size=512}
# The guest CPU model and extra kernel arguments: knobs for `make bench`'s comparisons
# (lab/vm/vmlab.py records them with each run); qemu64 measured faster than max here.
CPU=${VMLAB_CPU:-qemu64}
KERNEL_ARGS=${VMLAB_KERNEL_ARGS:-}
BR=swv-br0
NET=10.78.0
GW=$NET.1
REPO_PORT=8000
REGISTRY=$GW:5000
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lab/apt-install.sh
source "$HERE/../apt-install.sh"
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PKGS=(qemu-system-x86 qemu-utils mmdebstrap genisoimage e2fsprogs docker-registry busybox-static
      dpkg-dev zstd curl iproute2 openssh-client python3)
MAX_VMS=99
T0=${EPOCHREALTIME/./}

# ---------------------------------------------------------------- helpers
step() {  # progress on stderr, prefixed with the seconds since the command started
  local us=$(( ${EPOCHREALTIME/./} - T0 ))
  printf '[%3d.%01ds] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}
die()  { echo "vm/host.sh: $*" >&2; exit 1; }
vdir() { echo "$STATE/vm$1"; }
ipof() { echo "$NET.$((10 + $1))"; }
tapof() { echo "swv-tap$1"; }
macof() { printf '52:54:00:78:00:%02x' "$1"; }

check_k() {
  if ! [[ $1 =~ ^[1-9][0-9]*$ ]] || [ "$1" -gt $MAX_VMS ]; then die "bad VM number '$1' (1..$MAX_VMS)"; fi
}

check_dirs() {
  case $STATE in /?*/*) ;; *) die "VMLAB_STATE must be an absolute path two levels deep" ;; esac
  case $CACHE in /?*/*) ;; *) die "VMLAB_CACHE must be an absolute path two levels deep" ;; esac
}

# running PID: exists and is not a zombie (daemons are reparented, reaped late)
running() {
  local stat
  [ -n "$1" ] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  case ${stat%% *} in Z|X) return 1 ;; esac
}
# alive PID COMM: PID runs and is the program we started (guards against PID reuse)
alive() { running "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }
pidfile_pid() { cat "$1" 2>/dev/null || true; }

# wait_gone SECONDS PID...: until none of the PIDs runs
wait_gone() {
  local tries=$(( $1 * 10 )) p left; shift
  while [ "$tries" -gt 0 ]; do
    left=0
    for p in "$@"; do if running "$p"; then left=1; fi; done
    [ $left = 0 ] && return 0
    sleep 0.1; tries=$((tries - 1))
  done
  return 1
}

# stop PIDFILE COMM: TERM the process the pid file names (if it is still ours), then KILL
stop_pid() {
  local pid
  pid=$(pidfile_pid "$1")
  if alive "$pid" "$2"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 15 "$pid" || { kill -KILL "$pid" 2>/dev/null || true; wait_gone 5 "$pid" || true; }
    step "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

# the VM numbers that exist in any form (state dir, tap)
known_vms() {
  local f
  {
    for f in "$STATE"/vm*; do [ -d "$f" ] && echo "${f##*/vm}"; done
    ip -o link show 2>/dev/null | sed -n 's/^[0-9]*: swv-tap\([0-9]*\)[@:].*/\1/p'
  } | grep -E '^[0-9]+$' | sort -nu
}

# ---------------------------------------------------------------- install
# apt starts no docker-registry on *:5000 in the root namespace (the lab runs its own,
# on the bridge address only).
install() { apt_install_missing docker-registry.service swv-saved "${PKGS[@]}"; }

check_tools() {
  local t
  for t in qemu-system-x86_64 qemu-img mmdebstrap genisoimage mkfs.ext4 docker-registry dpkg-scanpackages \
           zstd ar xz curl ip python3; do
    command -v "$t" >/dev/null || die "$t missing: run '$0 install'"
  done
}

# ---------------------------------------------------------------- image
image_hash() { sha256sum "$HERE/build-image.sh" | cut -c1-16; }
image_dir() { echo "$CACHE/img-$(image_hash)"; }

vms_running() {
  local k
  for k in $(known_vms); do
    alive "$(pidfile_pid "$(vdir "$k")/qemu.pid")" qemu-system-x86 && return 0
  done
  return 1
}

# image: build the guest image unless the cache holds one for this recipe; print its dir
image() {
  local dir tmp d
  check_dirs
  dir=$(image_dir)
  if [ -s "$dir/base.raw" ] && [ -s "$dir/packages.txt" ]; then
    step "image: cached $dir"
  else
    mkdir -p "$CACHE"
    tmp=$CACHE/tmp-$(image_hash)
    rm -rf "$tmp"
    step "image: building $dir (mmdebstrap, Debian bookworm)"
    "$HERE/build-image.sh" "$tmp" > "$CACHE/build-$(image_hash).log" 2>&1 ||
      die "image build failed: $(tail -5 "$CACHE/build-$(image_hash).log")"
    rm -rf "$dir"; mv "$tmp" "$dir"
    step "image: built $dir ($(du -sh --apparent-size "$dir/base.raw" | cut -f1) raw," \
      "$(du -sh "$dir/base.raw" | cut -f1) used, $(wc -l < "$dir/packages.txt") packages)"
  fi
  # Older images (another recipe) go, unless a running VM still reads one.
  if ! vms_running; then
    for d in "$CACHE"/img-* "$CACHE"/tmp-* "$CACHE"/build-*.log; do
      [ -e "$d" ] || continue
      case $d in "$dir"|"$CACHE/build-$(image_hash).log") continue ;; esac
      rm -rf "$d"; step "image: removed stale $d"
    done
  fi
  echo "$dir"
}

# ---------------------------------------------------------------- apt repository
# repo PKG...: the .debs that installing PKG... on the image needs (dependencies and
# recommends, as apt on the guest resolves them), with a Packages index
repo() {
  local dir www=$STATE/www/repo pkgs=() tries deb used=() f
  [ $# -gt 0 ] || die "repo: name the packages the user data installs"
  dir=$(image_dir)
  [ -s "$dir/dpkg-status" ] || die "no image: run '$0 image'"
  mkdir -p "$STATE"; chmod 700 "$STATE"
  rm -rf "$www"; mkdir -p "$www"
  for tries in 1 2; do
    mapfile -t pkgs < <(apt-get -q -o Dir::State::status="$dir/dpkg-status" -o APT::Install-Recommends=true \
      -s install "$@" 2>/dev/null | awk '/^Inst /{print $2}')
    if [ ${#pkgs[@]} -gt 0 ] && (cd "$www" && apt-get -q download "${pkgs[@]}" >/dev/null 2>"$STATE/apt-download.log"); then
      break
    fi
    [ "$tries" = 1 ] || die "repo: apt-get download failed: $(grep -v unsandboxed "$STATE/apt-download.log" | tail -3)"
    step "repo: package lists look stale; apt-get update"
    apt-get update -qq
  done
  for deb in "$www"/*.deb; do used+=("$(as_ubuntu_ships "$deb")"); done
  for f in "$CACHE"/deb-zstd/*.deb; do  # copies of packages this repo no longer has
    [ -e "$f" ] || continue
    case " ${used[*]} " in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac
  done
  (cd "$www" && dpkg-scanpackages -m . /dev/null > Packages 2>/dev/null)
  step "repo: $(grep -c '^Package:' "$www/Packages") packages ($(du -sh "$www" | cut -f1), zstd) for: $*"
}

# as_ubuntu_ships DEB: DEB's members recompressed with zstd, as Ubuntu's archive ships
# them ("Hello zstd compressed .debs in Ubuntu!", Ubuntu 21.10 on: built by dpkg >=
# 1.20.9ubuntu2); Debian's are xz. The tar streams stay byte for byte what Debian built
# (checked), so the guest installs the same files; only the unpack's decompression is
# Ubuntu's: zstd, which the guest's dpkg reads (dpkg 1.21.18 debian/changelog: "libdpkg:
# Add zstd support for .deb archives"; bookworm has 1.21.22+). Cached by DEB's sha256;
# prints the cached copy's name.
as_ubuntu_ships() {
  local deb sum out tmp
  deb=$(readlink -f "$1")
  sum=$(sha256sum "$deb" | cut -d' ' -f1)
  out=$CACHE/deb-zstd/$sum.deb
  if [ ! -s "$out" ]; then
    mkdir -p "${out%/*}"
    tmp=$(mktemp -d "$CACHE/tmp-zstd.XXXXXX")
    # in a subshell: its `die` ends only the copy, and the work directory goes either way
    ( zstd_copy "$deb" "$tmp" ) || { rm -rf "$tmp"; exit 1; }
    mv "$tmp/new.deb" "$out"; rm -rf "$tmp"
  fi
  ln -f "$out" "$deb" 2>/dev/null || cp "$out" "$deb"
  echo "${out##*/}"
}

# zstd_copy DEB DIR: DIR/new.deb, DEB with its tar members recompressed with zstd; dies
# with the reason unless both of its tar streams are DEB's, byte for byte.
zstd_copy() {
  local deb=$1 dir=$2 m unpack members=() zmembers=()
  mapfile -t members < <(ar t "$deb")
  if [ "${members[0]:-}" != debian-binary ] || [ ${#members[@]} != 3 ]; then
    die "repo: $deb: unexpected members: ${members[*]}"
  fi
  (cd "$dir" && ar x "$deb") || die "repo: $deb: ar x failed"  # (no errexit in here: the caller tests the subshell)
  for m in "${members[@]}"; do
    case $m in
      debian-binary | *.tar.zst) zmembers+=("$m"); continue ;;
      *.tar.xz) unpack=xz ;;
      *.tar.gz) unpack=gzip ;;
      *) die "repo: $deb: member $m: unknown compression" ;;
    esac
    "$unpack" -dc "$dir/$m" | zstd -q -o "$dir/${m%.*}.zst" || die "repo: $deb: recompressing $m failed"
    zmembers+=("${m%.*}.zst")
  done
  (cd "$dir" && ar rc new.deb "${zmembers[@]}") || die "repo: $deb: ar failed"
  for m in --fsys-tarfile --ctrl-tarfile; do
    [ "$(dpkg-deb "$m" "$deb" | sha256sum)" = "$(dpkg-deb "$m" "$dir/new.deb" | sha256sum)" ] ||
      die "repo: $deb: the zstd copy's tar streams differ from the original's"
  done
}

# ---------------------------------------------------------------- bridge, servers
net() {
  if ! ip link show $BR >/dev/null 2>&1; then
    ip link add $BR type bridge
    ip addr add "$GW/24" dev $BR
  fi
  ip link set $BR up
  step "bridge $BR $GW/24 (no uplink)"
}

wait_http() {  # wait_http URL LOG
  local i
  for i in $(seq 100); do
    curl -sf --noproxy '*' -o /dev/null "$1" && return 0
    [ "$i" = 100 ] || sleep 0.05
  done
  die "$1 did not answer: $(tail -3 "$2")"
}

serve() {
  local pid yml=$STATE/registry.yml
  # (not `ip | grep -q`: with pipefail, grep's early exit can fail the pipeline)
  [[ $(ip -o -4 addr show dev $BR 2>/dev/null) == *" inet $GW/"* ]] || die "bridge $BR is not up: run '$0 net'"
  mkdir -p "$STATE/www/repo" "$STATE/registry" "$STATE/log"; chmod 700 "$STATE"
  pid=$(pidfile_pid "$STATE/http.pid")
  if ! alive "$pid" python3; then
    setsid env -i PATH=$CLEAN_PATH python3 -m http.server --bind $GW --directory "$STATE/www" $REPO_PORT \
      </dev/null >>"$STATE/log/http.log" 2>&1 &
    echo $! > "$STATE/http.pid"
  fi
  wait_http "http://$GW:$REPO_PORT/repo/" "$STATE/log/http.log"
  pid=$(pidfile_pid "$STATE/registry.pid")
  if ! alive "$pid" docker-registry; then
    cat > "$yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $STATE/registry}, delete: {enabled: true}}
http: {addr: "$REGISTRY"}
EOF
    setsid env -i PATH=$CLEAN_PATH docker-registry serve "$yml" </dev/null >>"$STATE/log/registry.log" 2>&1 &
    echo $! > "$STATE/registry.pid"
  fi
  wait_http "http://$REGISTRY/v2/" "$STATE/log/registry.log"
  step "serving: apt repo http://$GW:$REPO_PORT/repo (pid $(cat "$STATE/http.pid")), registry $REGISTRY (pid $(cat "$STATE/registry.pid"))"
}

# ---------------------------------------------------------------- one VM
vm_start() {
  local k=$1 d img tap ip mac pid
  check_k "$k"
  d=$(vdir "$k"); img=$(image_dir); tap=$(tapof "$k"); ip=$(ipof "$k"); mac=$(macof "$k")
  [ -s "$img/base.raw" ] || die "no image: run '$0 image'"
  for f in user-data meta-data network-config; do [ -s "$d/seed/$f" ] || die "$d/seed/$f missing"; done
  pid=$(pidfile_pid "$d/qemu.pid")
  if alive "$pid" qemu-system-x86; then step "vm$k: already running (pid $pid)"; return 0; fi
  ip link show $BR >/dev/null 2>&1 || die "bridge $BR is not up: run '$0 net'"
  rm -f "$d/disk.qcow2" "$d/seed.iso" "$d/console.log" "$d/qemu.pid"
  # The seed may carry secrets (a host key in the user data): readable by root only.
  (umask 077 && genisoimage -quiet -output "$d/seed.iso" -volid cidata -joliet -rock \
    "$d/seed/user-data" "$d/seed/meta-data" "$d/seed/network-config")
  # An 8 GiB disk on the 4 GiB image: cloud-init's resizefs grows the root file system.
  qemu-img create -q -f qcow2 -b "$img/base.raw" -F raw "$d/disk.qcow2" 8G
  ip link del "$tap" 2>/dev/null || true
  ip tuntap add dev "$tap" mode tap
  ip link set "$tap" master $BR
  ip link set "$tap" up
  qemu-system-x86_64 -name "swv-vm$k" -accel "$ACCEL" -cpu "$CPU" -smp "$SMP" -m "$MEM" \
    -nodefaults -display none -no-user-config \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 mitigations=off $KERNEL_ARGS" \
    -drive "file=$d/disk.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap" \
    -drive "file=$d/seed.iso,if=virtio,format=raw,readonly=on" \
    -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=n0,mac=$mac" \
    -device virtio-rng-pci \
    -serial "file:$d/console.log" \
    -pidfile "$d/qemu.pid" -daemonize 2>"$d/qemu.log" || die "vm$k: qemu failed: $(cat "$d/qemu.log")"
  step "vm$k: started $ip (pid $(cat "$d/qemu.pid"), tap $tap, mac $mac)"
}

vm_stop() {
  local k=$1 d
  check_k "$k"; d=$(vdir "$k")
  stop_pid "$d/qemu.pid" qemu-system-x86
  ip link del "$(tapof "$k")" 2>/dev/null || true
  rm -rf "$d"
}

# ---------------------------------------------------------------- status, down
status() {
  local k d pid st
  if ip link show $BR >/dev/null 2>&1; then echo "bridge $BR: up"; else echo "bridge $BR: absent"; fi
  for st in http:python3 registry:docker-registry; do
    pid=$(pidfile_pid "$STATE/${st%%:*}.pid")
    [ -n "$pid" ] || continue
    if alive "$pid" "${st#*:}"; then echo "${st%%:*}: pid $pid alive"; else echo "${st%%:*}: pid $pid dead"; fi
  done
  for k in $(known_vms); do
    d=$(vdir "$k"); pid=$(pidfile_pid "$d/qemu.pid")
    if alive "$pid" qemu-system-x86; then st="qemu=$pid(alive)"; else st="qemu=${pid:--}(dead)"; fi
    echo "vm$k $(ipof "$k") $st tap=$(ip link show "$(tapof "$k")" >/dev/null 2>&1 && echo up || echo -)"
  done
  echo "image: $(image_dir) $([ -s "$(image_dir)/base.raw" ] && echo cached || echo 'not built')"
}

down() {
  local k vms
  check_dirs
  mapfile -t vms < <(known_vms)
  for k in "${vms[@]}"; do vm_stop "$k"; done
  stop_pid "$STATE/http.pid" python3
  stop_pid "$STATE/registry.pid" docker-registry
  ip link del $BR 2>/dev/null || true
  rm -rf "$STATE"
  step "down: ${#vms[@]} VM(s), servers, taps, bridge $BR and $STATE removed (image cache kept: $CACHE)"
}

usage() {
  cat >&2 <<EOF
usage: $0 install | image | repo PKG... | as-ubuntu-ships DEB... | net | serve | vm-start K | vm-stop K
          | status | down
env:   VMLAB_STATE (default /tmp/swarm-vmlab-state), VMLAB_CACHE (default /var/cache/swarm-vmlab)
EOF
  exit 2
}

[ "$(id -u)" = 0 ] || die "must run as root"
cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
  install)  [ $# = 0 ] || usage; install ;;
  image)    [ $# = 0 ] || usage; check_tools; image ;;
  repo)     check_tools; repo "$@" ;;
  as-ubuntu-ships) [ $# -gt 0 ] || usage; for d in "$@"; do as_ubuntu_ships "$d" >/dev/null; done ;;
  net)      [ $# = 0 ] || usage; net ;;
  serve)    [ $# = 0 ] || usage; check_tools; serve ;;
  vm-start) [ $# = 1 ] || usage; check_tools; vm_start "$1" ;;
  vm-stop)  [ $# = 1 ] || usage; vm_stop "$1" ;;
  status)   [ $# = 0 ] || usage; status ;;
  down)     [ $# = 0 ] || usage; down ;;
  *)        usage ;;
esac

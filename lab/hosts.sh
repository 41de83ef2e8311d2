#!/bin/bash
# lab/hosts.sh - N lab "hosts" on this Linux machine, each a small Linux box with its
# own network stack, hostname, dockerd and sshd, on a private bridge with no uplink.
#
# Host K is swl-nK: a network namespace plus a private mount + UTS namespace held
# open by a pause process.  Inside, /run, /var/lib/docker, /etc/docker,
# /etc/resolv.conf, /etc/hosts and /etc/hostname are bind-mounted per host, so dockerd
# and sshd run with their default paths, like on a real machine.
#   address      10.77.0.(10+K)/24 on bridge swl-br0 (10.77.0.1/24, no uplink, no route out)
#   docker       from the root namespace: unix:///run/swl-nK/docker.sock
#   ssh          root@10.77.0.(10+K):22, key only, keys in the host's own /root/.ssh/authorized_keys
#                (starts empty: append the public key you log in with)
#   cloud-init   not run; `cloud-init status` reports "disabled" (see cloudinit_marker)
#   registry     Debian docker-registry on 10.77.0.1:5000 (insecure, listed in each daemon.json)
#   private      `block K` makes host K a private instance (no public address): this
#                machine (the root network namespace, where the deployer runs) can open
#                no new connection to it, any protocol or port (iptables chain SWL-PRIVATE,
#                jumped to from OUTPUT: `-m conntrack --ctstate NEW -j DROP`).  Replies to
#                what the host opens itself (pulls from the registry) still flow, and
#                host-to-host traffic on the bridge never passes OUTPUT: a jump host
#                reaches it.  `unblock K` undoes it; `down` removes the chain.
#
# Usage: hosts.sh install | up [N] | image | status | down
#                 | kill-daemon K dockerd|sshd [SIGNAL] | start-daemon K dockerd|sshd
#                 | set-host-key K PRIVATE_KEY_FILE | block K | unblock K
# Env:   LAB_STATE  state directory (default /tmp/swarmlab-state)
# Every process is stopped by its PID, never by name.  Needs root.  (Sourced, it only
# defines its functions and settings: for tests.)
set -euo pipefail

STATE=${LAB_STATE:-/tmp/swarmlab-state}
BR=swl-br0
NET=10.77.0
GW=$NET.1
REGISTRY=$GW:5000
IMAGE=$REGISTRY/testapp:lab
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lab/apt-install.sh
source "$HERE/apt-install.sh"
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PKGS=(docker.io containerd runc iptables tini openssh-server busybox-static curl
      docker-registry cloud-init shellcheck iproute2)
MAX_HOSTS=99
PRIVATE_CHAIN=SWL-PRIVATE                   # iptables chain (root namespace) of `block`
STOPPED=()                                  # PIDs signalled by this run (down waits for them)
T0=${EPOCHREALTIME/./}

# ---------------------------------------------------------------- helpers
step() {  # one line, prefixed with the seconds since the command started
  local us=$(( ${EPOCHREALTIME/./} - T0 ))
  printf '[%3d.%01ds] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*"
}
die()  { echo "hosts.sh: $*" >&2; exit 1; }
name() { echo "swl-n$1"; }
ipof() { echo "$NET.$((10 + $1))"; }
hdir() { echo "$STATE/swl-n$1"; }          # per-host state: config, pid files, logs, docker data
rdir() { echo "/run/swl-n$1"; }            # per-host /run (docker.sock lives here)
dk()   { local k=$1; shift; docker -H "unix://$(rdir "$k")/docker.sock" "$@"; }

check_k() {
  if ! [[ $1 =~ ^[1-9][0-9]*$ ]] || [ "$1" -gt $MAX_HOSTS ]; then die "bad host number '$1' (1..$MAX_HOSTS)"; fi
}

# running PID: the process exists and is not a zombie.  Daemons outlive the hosts.sh
# that started them, so their parent is PID 1, which may reap them only seconds later.
running() {
  local stat
  [ -n "$1" ] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  case ${stat%% *} in Z|X) return 1 ;; esac
}
# alive PID COMM: PID runs and is the program we started (guards against PID reuse)
alive() {
  running "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}
pidfile_pid() { cat "$1" 2>/dev/null || true; }
comm_of() { case $1 in pause) echo sleep ;; registry) echo docker-registry ;; *) echo "$1" ;; esac; }

# wait_gone SECONDS PID...: wait until none of the PIDs exists
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

# the host numbers that exist in any form (state dir, /run dir, netns, veth)
known_hosts() {
  local f
  {
    for f in "$STATE"/swl-n* /run/swl-n* /run/netns/swl-n*; do [ -e "$f" ] && echo "${f##*/swl-n}"; done
    ip -o link show 2>/dev/null | sed -n 's/^[0-9]*: veth-swl-n\([0-9]*\)[@:].*/\1/p'
  } | grep -E '^[0-9]+$' | sort -nu
}

check_state_dir() {
  case $STATE in
    /*) ;;
    *) die "LAB_STATE must be an absolute path" ;;
  esac
  # inside a host these are replaced by per-host mounts, so sshd would not see the state there
  case $STATE/ in
    /run/*|/var/run/*|/var/lib/docker/*|/etc/*|/proc/*|/sys/*|/dev/*)
      die "LAB_STATE=$STATE lies under a path that is private to each host" ;;
  esac
}

check_tools() {
  local t
  for t in dockerd docker sshd ssh-keygen docker-registry nsenter unshare setsid ip curl cloud-init; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || die "$t missing: run '$0 install'"
  done
  [ -x /bin/busybox ] || die "/bin/busybox missing: run '$0 install'"
}

# A dockerd in the root network namespace sets the FORWARD policy to DROP, which
# blocks traffic across the bridge.  Refuse to run next to one.
check_no_root_dockerd() {
  local me p
  me=$(readlink /proc/$$/ns/net)
  for p in $(pgrep -x dockerd || true); do
    if [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$me" ]; then
      die "a dockerd (pid $p) runs in the root network namespace; its iptables rules (FORWARD DROP)
block the lab bridge.  Stop it first, e.g.:  systemctl stop docker.service docker.socket
(or: kill -TERM $p), then reset the policy:  iptables -P FORWARD ACCEPT"
    fi
  done
  if [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 0)" = 1 ] &&
     iptables -S FORWARD 2>/dev/null | grep -qx -- '-P FORWARD DROP'; then
    echo "hosts.sh: warning: root iptables FORWARD policy is DROP and bridged traffic is filtered;" \
         "hosts may not reach each other (iptables -P FORWARD ACCEPT)" >&2
  fi
}

# ---------------------------------------------------------------- install
# apt starts no dockerd, sshd or registry in the root namespace (a root dockerd's
# FORWARD DROP would block the bridge).
install() { apt_install_missing docker.service swl-saved "${PKGS[@]}"; }

# ---------------------------------------------------------------- bridge, registry
bridge_up() {
  if ! ip link show $BR >/dev/null 2>&1; then
    ip link add $BR type bridge
    ip addr add "$GW/24" dev $BR
  fi
  ip link set $BR up
}

registry_up() {
  local pid yml=$STATE/registry.yml i
  pid=$(pidfile_pid "$STATE/registry.pid")
  alive "$pid" docker-registry && return 0
  mkdir -p "$STATE/registry" "$STATE/log"
  cat > "$yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $STATE/registry}, delete: {enabled: true}}
http: {addr: "$REGISTRY"}
EOF
  setsid env -i PATH=$CLEAN_PATH docker-registry serve "$yml" </dev/null >>"$STATE/log/registry.log" 2>&1 &
  echo $! > "$STATE/registry.pid"
  for i in $(seq 100); do
    curl -sf --noproxy '*' -o /dev/null "http://$REGISTRY/v2/" && return 0
    [ "$i" = 100 ] || sleep 0.05
  done
  die "registry did not answer on $REGISTRY: $(tail -3 "$STATE/log/registry.log")"
}

# ---------------------------------------------------------------- one host
# cloud-init is installed on the hosts but never runs.  `cloud-init status` then
# reports "not run" and `--wait` loops for ever.  Give each host, in its private
# /run, what a systemd boot whose cloud-init generator found nothing to do leaves:
# /run/systemd/system and /run/cloud-init/disabled.  status then says "disabled"
# (boot_status_code disabled-by-generator) and exits 0, without touching /etc/cloud.
cloudinit_marker() {
  local r; r=$(rdir "$1")
  mkdir -p "$r/systemd/system" "$r/cloud-init"
  : > "$r/cloud-init/disabled"
}

write_host_files() {
  local k=$1 n h r ip
  n=$(name "$k"); h=$(hdir "$k"); r=$(rdir "$k"); ip=$(ipof "$k")
  mkdir -p "$h/lib-docker" "$h/etc-docker" "$h/log" "$h/root-home" "$r/sshd"
  chmod 700 "$h"; chmod 755 "$r" "$r/sshd"
  # root's home, private to the host and fresh like a new machine's
  chmod 700 "$h/root-home"
  [ -e "$h/root-home/.bashrc" ] || cp /usr/share/base-files/dot.bashrc "$h/root-home/.bashrc" 2>/dev/null || true
  [ -e "$h/root-home/.profile" ] || cp /usr/share/base-files/dot.profile "$h/root-home/.profile" 2>/dev/null || true
  # resolver = the host's own loopback: name look-ups fail at once and nothing leaves
  echo "nameserver 127.0.0.1" > "$h/resolv.conf"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n' "$ip" "$n" > "$h/hosts"
  echo "$n" > "$h/hostname"
  [ -e "$h/etc-docker/daemon.json" ] || cat > "$h/etc-docker/daemon.json" <<EOF
{
  "dns": ["$GW"],
  "insecure-registries": ["$REGISTRY"],
  "cgroup-parent": "/$n",
  "exec-opts": ["native.cgroupdriver=cgroupfs"]
}
EOF
  [ -e "$h/ssh_host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C "root@$n" -f "$h/ssh_host_ed25519_key"
  # Ubuntu's default sshd_config in effect (key-only root, AcceptEnv LANG LC_*,
  # authorized keys in ~/.ssh/authorized_keys of the host's own /root), plus this host's
  # key and pid file; bind-mounted as /etc/ssh/sshd_config in the host, so `sshd -T` there
  # reads it as on a real machine.  PAM is off: there is no login stack in a namespace;
  # StrictModes is off because $STATE sits under /tmp.
  cat > "$h/sshd_config" <<EOF
# $n
Port 22
HostKey $h/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  cloudinit_marker "$k"
}

# start the pause process that holds host K's namespaces; returns at once
host_start() {
  local k=$1 n h r ip
  n=$(name "$k"); h=$(hdir "$k"); r=$(rdir "$k"); ip=$(ipof "$k")
  rm -f "$h/pause.pid"
  ip netns add "$n"
  ip link add "veth-$n" type veth peer name eth0 netns "$n"
  ip link set "veth-$n" master $BR up
  ip -n "$n" addr add "$ip/24" dev eth0
  ip -n "$n" link set lo up
  ip -n "$n" link set eth0 up
  # nsenter (net) -> unshare (mount, uts) -> sh -> sleep: all exec, one PID
  # shellcheck disable=SC2016  # $1.. expand in the inner sh
  setsid nsenter --net="/run/netns/$n" -- unshare --mount --uts --propagation private -- sh -c '
    set -e
    hostname "$1"
    mount --bind "$2" /run
    mount --bind "$3/lib-docker" /var/lib/docker
    mount --bind "$3/etc-docker" /etc/docker
    mount --bind "$3/resolv.conf" /etc/resolv.conf
    mount --bind "$3/hosts" /etc/hosts
    mount --bind "$3/hostname" /etc/hostname
    mount --bind "$3/root-home" /root
    mount --bind "$3/sshd_config" /etc/ssh/sshd_config
    cd /
    echo $$ > "$3/pause.pid.new"; mv "$3/pause.pid.new" "$3/pause.pid"
    exec sleep infinity' sh "$n" "$r" "$h" </dev/null >"$h/log/pause.log" 2>&1 &
}

# daemon_start K dockerd|sshd: start it inside host K (pause must be up); returns at once
daemon_start() {
  local k=$1 d=$2 h r pp
  h=$(hdir "$k"); r=$(rdir "$k"); pp=$(pidfile_pid "$h/pause.pid")
  alive "$pp" sleep || die "$(name "$k") is not up"
  case $d in
    dockerd)
      rm -f "$r/docker.pid"
      # After dockerd was killed, its containerd may still be an unreaped zombie (PID 1
      # here reaps late).  dockerd would take it for a live containerd, wait for its
      # socket and give up after 15 s; so forget a containerd that no longer runs.
      running "$(pidfile_pid "$r/docker/containerd/containerd.pid")" ||
        rm -f "$r/docker/containerd/containerd.pid"
      setsid nsenter -t "$pp" -m -n -u -r -w -- env -i PATH=$CLEAN_PATH \
        dockerd </dev/null >>"$h/log/dockerd.log" 2>&1 & ;;
    sshd)
      rm -f "$r/sshd.pid"
      setsid nsenter -t "$pp" -m -n -u -r -w -- env -i PATH=$CLEAN_PATH \
        /usr/sbin/sshd -D -f "$h/sshd_config" -E "$h/log/sshd.log" </dev/null >/dev/null 2>&1 & ;;
    *) die "daemon must be dockerd or sshd" ;;
  esac
  echo $! > "$h/$d.pid"
}

ssh_banner() {  # ssh_banner K: host K's sshd identification line, asked inside the host
  # (its own network namespace: a private host is blocked from this one, see `block`)
  local pp
  pp=$(pidfile_pid "$(hdir "$1")/pause.pid")
  # shellcheck disable=SC2016  # expands in the inner bash
  timeout 2 nsenter -t "$pp" -n -- bash -c 'exec 3<>"/dev/tcp/$1/22" && IFS= read -r -t 2 l <&3 && echo "$l"' \
    _ "$(ipof "$1")" 2>/dev/null || true
}

daemon_ready() {  # daemon_ready K dockerd|sshd
  case $2 in
    dockerd) dk "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1 ;;
    sshd)    [[ $(ssh_banner "$1") == SSH-2.0-* ]] ;;
  esac
}

# wait_ready SECONDS "K:daemon"...: until every daemon answers (or one died)
wait_ready() {
  local tries=$(( $1 * 10 )) item k d pid pending; shift
  while :; do
    pending=()
    for item in "$@"; do
      k=${item%%:*}; d=${item#*:}
      daemon_ready "$k" "$d" && continue
      pid=$(pidfile_pid "$(hdir "$k")/$d.pid")
      running "$pid" || die "$d on $(name "$k") exited: $(tail -3 "$(hdir "$k")/log/$d.log" 2>/dev/null)"
      pending+=("$item")
    done
    [ ${#pending[@]} = 0 ] && return 0
    tries=$((tries - 1))
    [ $tries -gt 0 ] || die "not ready after timeout: ${pending[*]}"
    sleep 0.1
    set -- "${pending[@]}"
  done
}

# kill every process that belongs to host K, except its pause: processes in its mount
# or network namespace (daemons, shims, ssh sessions) and in its cgroups (containers)
kill_leftovers() {
  local k=$1 n pp mns nns pids=()
  n=$(name "$k"); pp=$(pidfile_pid "$(hdir "$k")/pause.pid")
  mns=""; nns=""
  if alive "$pp" sleep; then
    mns=$(readlink "/proc/$pp/ns/mnt" 2>/dev/null || true)
    nns=$(readlink "/proc/$pp/ns/net" 2>/dev/null || true)
  fi
  if [ -n "$mns" ] && [ -n "$nns" ]; then    # one pass over /proc/*/ns/{mnt,net}
    mapfile -t pids < <(find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/*' \
        \( -name mnt -o -name net \) -printf '%h %l\n' 2>/dev/null |
      awk -v m="$mns" -v n="$nns" '$2 == m || $2 == n { sub("^/proc/", "", $1); sub("/ns$", "", $1); print $1 }')
  fi
  [ -e "/run/netns/$n" ] && mapfile -t -O ${#pids[@]} pids < <(ip netns pids "$n" 2>/dev/null || true)
  mapfile -t -O ${#pids[@]} pids < <(cat /sys/fs/cgroup/"$n"/cgroup.procs /sys/fs/cgroup/*/"$n"/cgroup.procs \
    /sys/fs/cgroup/"$n"/*/cgroup.procs /sys/fs/cgroup/*/"$n"/*/cgroup.procs 2>/dev/null || true)
  mapfile -t pids < <(printf '%s\n' "${pids[@]}" | grep -E '^[0-9]+$' | grep -vx -- "${pp:-x}" | sort -nu)
  [ ${#pids[@]} = 0 ] && return 0
  echo "  $n: killing ${#pids[@]} leftover process(es): ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  STOPPED+=("${pids[@]}")
  wait_gone 5 "${pids[@]}" || true
}

# remove host K entirely; its daemons should already be stopped
host_remove() {
  local k=$1 n pp c i
  n=$(name "$k"); pp=$(pidfile_pid "$(hdir "$k")/pause.pid")
  kill_leftovers "$k"
  if alive "$pp" sleep; then
    kill -TERM "$pp" 2>/dev/null || true; STOPPED+=("$pp")
    wait_gone 5 "$pp" || kill -KILL "$pp" 2>/dev/null || true
  fi
  ip link del "veth-$n" 2>/dev/null || true      # explicit: netns deletion is asynchronous
  ip netns del "$n" 2>/dev/null || true
  for c in /sys/fs/cgroup/"$n" /sys/fs/cgroup/*/"$n"; do
    [ -d "$c" ] || continue
    for i in $(seq 20); do
      find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$c" ] || break
      sleep 0.1
    done
    [ -d "$c" ] && echo "  warning: cgroup $c not removed" >&2
  done
  rm -rf "$(rdir "$k")" "$(hdir "$k")"
}

# ---------------------------------------------------------------- commands
# host_new K: host K from nothing (leftovers of a crashed run removed first): its files,
# namespace and mounts (the pause process), then its dockerd and sshd, started.
host_new() {
  local k=$1
  host_remove "$k" >/dev/null
  write_host_files "$k"
  host_start "$k"
  for _ in $(seq 100); do [ -s "$(hdir "$k")/pause.pid" ] && break; sleep 0.05; done
  [ -s "$(hdir "$k")/pause.pid" ] || die "$(name "$k"): pause failed: $(cat "$(hdir "$k")/log/pause.log")"
  daemon_start "$k" dockerd
  daemon_start "$k" sshd
}

up() {
  local n=${1:-3} k d i todo=() want=() pp jobs_started=() failed=()
  check_k "$n"; check_state_dir; check_tools; check_no_root_dockerd
  mkdir -p "$STATE" /var/lib/docker /etc/docker; chmod 700 "$STATE"
  bridge_up
  registry_up
  step "bridge $BR $GW/24, registry $REGISTRY"
  for k in $(seq "$n"); do
    pp=$(pidfile_pid "$(hdir "$k")/pause.pid")
    alive "$pp" sleep || todo+=("$k")
  done
  # New hosts side by side: one host's setup is mostly waiting on small commands, and a
  # dockerd (most of the CPU) starts as soon as its own host is there.
  for k in "${todo[@]}"; do
    host_new "$k" & jobs_started+=($!)
  done
  for i in "${!jobs_started[@]}"; do
    wait "${jobs_started[$i]}" || failed+=("${todo[$i]}")
  done
  [ ${#failed[@]} = 0 ] || die "host(s) not started: ${failed[*]/#/swl-n} (see above)"
  [ ${#todo[@]} = 0 ] || step "namespaces: ${todo[*]/#/swl-n}"
  for k in $(seq "$n"); do
    for d in dockerd sshd; do
      alive "$(pidfile_pid "$(hdir "$k")/$d.pid")" "$d" || daemon_start "$k" "$d"
      want+=("$k:$d")
    done
  done
  wait_ready $((60 + 5 * n)) "${want[@]}"
  step "up: $n host(s) swl-n1..swl-n$n ($NET.11-$(ipof "$n")), dockerd + sshd ready"
}

image() {
  local ref
  alive "$(pidfile_pid "$(hdir 1)/dockerd.pid")" dockerd || die "swl-n1's dockerd is not up ('$0 up')"
  registry_up
  "$HERE/image/build.sh" | dk 1 import --change 'CMD ["/bin/start"]' --change 'EXPOSE 5000' - "$IMAGE" >/dev/null
  step "image: imported $IMAGE on swl-n1"
  ref=$(dk 1 push "$IMAGE" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')
  [ -n "$ref" ] || die "push of $IMAGE failed"
  step "image: pushed $IMAGE ($ref); nodes pull it from $REGISTRY"
}

status() {
  local k n h d pid st line any=0
  if ip link show $BR >/dev/null 2>&1; then echo "bridge $BR: up"; else echo "bridge $BR: absent"; fi
  pid=$(pidfile_pid "$STATE/registry.pid")
  if alive "$pid" docker-registry; then st=alive; else st=dead; fi
  [ -n "$pid" ] && echo "registry $REGISTRY: pid $pid $st"
  for k in $(known_hosts); do
    any=1; n=$(name "$k"); h=$(hdir "$k")
    line="$n $(ipof "$k")"
    for d in pause dockerd sshd; do
      pid=$(pidfile_pid "$h/$d.pid")
      if [ -z "$pid" ]; then st="$d=-"
      elif alive "$pid" "$(comm_of "$d")"; then st="$d=$pid(alive)"
      else st="$d=$pid(dead)"; fi
      line+="  $st"
    done
    echo "$line"
  done
  [ $any = 1 ] || echo "no hosts"
  if command -v iptables >/dev/null; then
    line=""
    while read -r k h; do line+=" $(name "$k") ($h)"; done < <(blocked_hosts)
    echo "private (blocked from this machine):${line:- none}"
  fi
}

down() {
  local k h d pid hosts
  check_state_dir
  mapfile -t hosts < <(known_hosts)
  for k in "${hosts[@]}"; do                     # graceful: dockerd stops its containers
    h=$(hdir "$k")
    for d in sshd dockerd; do
      pid=$(pidfile_pid "$h/$d.pid")
      if alive "$pid" "$d"; then kill -TERM "$pid" 2>/dev/null || true; STOPPED+=("$pid"); fi
    done
  done
  # the registry: by its pid file, or (state lost) as the process listening on $REGISTRY
  pid=$(pidfile_pid "$STATE/registry.pid")
  alive "$pid" docker-registry ||
    pid=$(ss -Hltnp "src $REGISTRY" 2>/dev/null | sed -n 's/.*"docker-registry",pid=\([0-9]*\),.*/\1/p' | head -1)
  if alive "$pid" docker-registry; then kill -TERM "$pid" 2>/dev/null || true; STOPPED+=("$pid"); fi
  if [ ${#STOPPED[@]} -gt 0 ]; then
    wait_gone 30 "${STOPPED[@]}" || echo "  some daemons did not stop in 30 s; killing what is left" >&2
    step "down: stopped ${#STOPPED[@]} daemon(s) (dockerd, sshd, registry)"
  fi
  if alive "$pid" docker-registry; then kill -KILL "$pid" 2>/dev/null || true; fi
  for k in "${hosts[@]}"; do host_remove "$k"; done
  ip link del $BR 2>/dev/null || true
  private_chain_remove
  rm -rf "$STATE"
  # Stopped processes stay zombies until PID 1 reaps them (here: up to ~2 s); wait
  # a little so that `ps` right after down shows nothing.  Harmless if it times out.
  for _ in $(seq 50); do
    pid=""
    for k in "${STOPPED[@]}"; do [ -e "/proc/$k" ] && pid=$k; done
    [ -z "$pid" ] && break
    sleep 0.1
  done
  step "down: ${#hosts[@]} host(s), bridge, registry, $PRIVATE_CHAIN and $STATE removed"
}

kill_daemon() {  # kill_daemon K dockerd|sshd [SIGNAL]
  local k=$1 d=$2 sig=${3:-TERM} pid h
  check_k "$k"; h=$(hdir "$k")
  case $d in dockerd|sshd) ;; *) die "daemon must be dockerd or sshd" ;; esac
  pid=$(pidfile_pid "$h/$d.pid")
  alive "$pid" "$d" || { step "$(name "$k") $d: not running"; return 0; }
  kill -s "$sig" "$pid"
  wait_gone 30 "$pid" || die "$d (pid $pid) on $(name "$k") still runs 30 s after SIG$sig"
  rm -f "$h/$d.pid"
  step "$(name "$k") $d: pid $pid stopped (SIG$sig)"
}

start_daemon() {  # start_daemon K dockerd|sshd
  local k=$1 d=$2 pid
  check_k "$k"; check_no_root_dockerd
  case $d in dockerd|sshd) ;; *) die "daemon must be dockerd or sshd" ;; esac
  pid=$(pidfile_pid "$(hdir "$k")/$d.pid")
  if alive "$pid" "$d"; then step "$(name "$k") $d: already running (pid $pid)"; return 0; fi
  daemon_start "$k" "$d"
  wait_ready 60 "$k:$d"
  step "$(name "$k") $d: started (pid $(pidfile_pid "$(hdir "$k")/$d.pid"))"
}

# set_host_key K FILE: make FILE (an OpenSSH ed25519 private key) host K's SSH host
# key and restart its sshd - what cloud-init's ssh module does with `ssh_keys`.
set_host_key() {
  local k=$1 f=$2 h
  check_k "$k"; h=$(hdir "$k")
  [ -r "$f" ] || die "no key file $f"
  # (`command`: this script has a function named install)
  command install -m 600 "$f" "$h/ssh_host_ed25519_key"
  ssh-keygen -y -f "$h/ssh_host_ed25519_key" > "$h/ssh_host_ed25519_key.pub" || die "$f is not a private key"
  kill_daemon "$k" sshd
  start_daemon "$k" sshd
}

# ---------------------------------------------------------------- private hosts
need_iptables() { command -v iptables >/dev/null || die "iptables missing: run '$0 install'"; }
# One change of the chain at a time (the lab engine launches instances in parallel):
# a lock on this script itself (open for reading: no writable place needed), held
# until this run exits.
private_lock() { exec 9<"${BASH_SOURCE[0]}"; flock 9; }

# block_rule K: sets RULE to the rule that drops every new connection from this machine
# to host K, any protocol and port, spelled as `iptables -S` prints it back (hence /32).
# Only NEW: replies to connections the host opened itself (ESTABLISHED, RELATED) pass.
block_rule() {
  RULE=(-d "$(ipof "$1")/32" -m conntrack --ctstate NEW -m comment --comment "$(name "$1")" -j DROP)
}

# blocked_hosts: "K IP" for each host that `block` blocked, in the chain's order
blocked_hosts() {
  local octet ip
  iptables -w -S "$PRIVATE_CHAIN" 2>/dev/null |
    sed -n "s|^-A $PRIVATE_CHAIN -d \\($NET\\.\\([0-9]*\\)\\)/32 .* -j DROP\$|\\2 \\1|p" |
    while read -r octet ip; do echo "$((octet - 10)) $ip"; done
}

block() {  # block K: host K gets no new connection from this machine (a private instance)
  local k=$1
  check_k "$k"; need_iptables; block_rule "$k"; private_lock
  iptables -w -n -L "$PRIVATE_CHAIN" >/dev/null 2>&1 || iptables -w -N "$PRIVATE_CHAIN"
  iptables -w -C OUTPUT -j "$PRIVATE_CHAIN" 2>/dev/null || iptables -w -I OUTPUT 1 -j "$PRIVATE_CHAIN"
  if iptables -w -C "$PRIVATE_CHAIN" "${RULE[@]}" 2>/dev/null; then
    step "$(name "$k") $(ipof "$k"): already blocked"
    return 0
  fi
  iptables -w -A "$PRIVATE_CHAIN" "${RULE[@]}"
  step "$(name "$k") $(ipof "$k"): blocked (no new connection from this machine)"
}

unblock() {  # unblock K: undo `block K` (the chain and its jump stay, empty)
  local k=$1 n=0
  check_k "$k"; need_iptables; block_rule "$k"; private_lock
  while iptables -w -D "$PRIVATE_CHAIN" "${RULE[@]}" 2>/dev/null; do n=$((n + 1)); done
  if [ "$n" = 0 ]; then
    step "$(name "$k") $(ipof "$k"): not blocked, nothing to do"
  else
    step "$(name "$k") $(ipof "$k"): unblocked"
  fi
}

private_chain_remove() {  # down: the chain and its jump from OUTPUT
  command -v iptables >/dev/null || return 0
  private_lock
  while iptables -w -D OUTPUT -j "$PRIVATE_CHAIN" 2>/dev/null; do :; done
  if iptables -w -n -L "$PRIVATE_CHAIN" >/dev/null 2>&1; then
    iptables -w -F "$PRIVATE_CHAIN"
    iptables -w -X "$PRIVATE_CHAIN"
  fi
}

usage() {
  cat >&2 <<EOF
usage: $0 install | up [N] | image | status | down
          | kill-daemon K dockerd|sshd [SIGNAL] | start-daemon K dockerd|sshd
          | set-host-key K PRIVATE_KEY_FILE | block K | unblock K
env:   LAB_STATE  state directory (default /tmp/swarmlab-state)
EOF
  exit 2
}

main() {
  local cmd
  [ "$(id -u)" = 0 ] || die "must run as root"
  cmd=${1:-}; [ $# -gt 0 ] && shift
  case $cmd in
    install)      [ $# = 0 ] || usage; install ;;
    up)           [ $# -le 1 ] || usage; up "${1:-3}" ;;
    image)        [ $# = 0 ] || usage; image ;;
    status)       [ $# = 0 ] || usage; status ;;
    down)         [ $# = 0 ] || usage; down ;;
    kill-daemon)  [ $# = 2 ] || [ $# = 3 ] || usage; kill_daemon "$@" ;;
    start-daemon) [ $# = 2 ] || usage; start_daemon "$@" ;;
    set-host-key) [ $# = 2 ] || usage; set_host_key "$@" ;;
    block)        [ $# = 1 ] || usage; block "$1" ;;
    unblock)      [ $# = 1 ] || usage; unblock "$1" ;;
    *)            usage ;;
  esac
}

# Run as a command (not when sourced: tests call the functions).
[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"

# shellcheck shell=bash
# Sourced by lab/hosts.sh and lab/vm/host.sh (which define step and die).
#
# apt_install_missing PROBE_SERVICE SUFFIX PKG...: install those of PKG that are not
# installed, without letting apt start their daemons in the root namespace: a
# policy-rc.d that exits 101 is put in place for the install (an existing one is kept
# if it already refuses PROBE_SERVICE, else moved aside to policy-rc.d.SUFFIX and back).
apt_install_missing() {
  local probe=$1 suffix=$2 p st missing=() prc=/usr/sbin/policy-rc.d saved="" made=0 rc=0 updated=0
  shift 2
  for p in "$@"; do
    st=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
  done
  if [ ${#missing[@]} = 0 ]; then step "install: all $# packages present"; return 0; fi
  if [ -e $prc ]; then
    rc=0; $prc "$probe" start >/dev/null 2>&1 || rc=$?
    if [ $rc != 101 ]; then saved=$prc.$suffix; mv $prc "$saved"; fi
  fi
  if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' > $prc; chmod 755 $prc; made=1; fi
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-get update -qq; updated=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  if [ $rc != 0 ] && [ $updated = 0 ]; then   # stale lists: update once, try again
    apt-get update -qq && { rc=0; apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?; }
  fi
  if [ $made = 1 ]; then rm -f $prc; fi
  if [ -n "$saved" ]; then mv "$saved" $prc; fi
  [ $rc = 0 ] || die "apt-get install failed (rc $rc)"
  step "install: ${missing[*]}"
}

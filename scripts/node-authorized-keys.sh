#!/usr/bin/env bash
# On a node: make the login user's authorized keys exactly KEYS (one OpenSSH public
# key per line). This is how the deployer's key is rotated without replacing nodes
# (README, "Rotating the SSH key"): first both keys, then only the new one.
# The file is the one sshd itself reads for this user (`sshd -T`, AuthorizedKeysFile),
# not a guess; another non-empty file in that list is refused (cannot tell which keys
# log in). Parameters: KEYS.
set -euo pipefail
: "${KEYS:?}"
user=$(id -un)
home=$(getent passwd "$user" | cut -d: -f6)
as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo -n)
files=$("${as_root[@]}" sshd -T -C "user=$user,host=localhost,addr=127.0.0.1" 2>&1 | awk '$1 == "authorizedkeysfile" { $1 = ""; print }') \
  || fail "cannot read sshd's configuration (sshd -T): $files"
[ -n "$files" ] || fail "sshd names no AuthorizedKeysFile for $user"
target=""
for f in $files; do
  f=${f//%h/$home}
  f=${f//%u/$user}
  f=${f//%%/%}
  case "$f" in /*) ;; *) f="$home/$f" ;; esac
  if [ -z "$target" ]; then
    target=$f
  elif [ -s "$f" ]; then
    fail "$f also authorizes keys for $user: cannot tell which keys log in; empty or remove it"
  fi
done
want=$(printf '%s\n' "$KEYS" | sed '/^[[:space:]]*$/d')
if [ -f "$target" ] && [ "$(cat "$target")" = "$want" ]; then
  log "skip: $target already holds exactly the $(printf '%s\n' "$want" | wc -l) configured key(s)"
  exit 0
fi
mkdir -p "$(dirname "$target")"
tmp=$(mktemp "$target.XXXXXX")
printf '%s\n' "$want" >"$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$target"
log "authorized $(printf '%s\n' "$want" | wc -l) key(s) in $target"

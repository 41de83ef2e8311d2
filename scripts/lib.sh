# shellcheck shell=bash
# Helpers shared by the swarm scripts. components/commands.py prepends this file
# (after the exported parameters) to every script it sends, so each remote
# command is one self-contained text: no files need to exist on the node.
# It is also sent to the deployer's machine (local-*.sh): bash 3.2, no arrays here.
#
# "Cannot tell" is never "nothing to do": a removal step that cannot see the swarm
# (daemon down, swarm locked, no leader) fails with the reason, so that a later run
# finishes the job; it skips only when it knows there is nothing left to remove.

# log MESSAGE: progress goes to stderr, so stdout stays the command's result.
log() { printf '%s\n' "$*" >&2; }

# fail MESSAGE: stop with a message Pulumi shows as the reason. Inside $(...) it
# stops only that subshell: callers check the substitution's status.
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# docker: the CLI, through `sudo -n` once docker_ready found that this login may not
# open the socket (a session older than the user's docker group membership).
DOCKER_SUDO=false
# shellcheck disable=SC2032,SC2033 # sudo runs the docker program, not this function
docker() {
  if [ "$DOCKER_SUDO" = true ]; then
    sudo -n docker "$@"
  else
    command docker "$@"
  fi
}

# one_line TEXT: TEXT with its line breaks turned into blanks (for one-line reasons).
one_line() { printf '%s' "$1" | tr '\n' ' '; }

# docker_says ARGS...: what `docker ARGS` prints on stderr, on one line (the reason
# a call failed: asked again, only on the failure path, so stdout stays clean).
docker_says() {
  local said
  said=$(one_line "$(docker "$@" 2>&1 >/dev/null)")
  printf '%s\n' "${said:-(docker printed no message)}"
}

# docker_ready: fail with the reason unless the Docker daemon answers: it may be
# stopped (or not started yet), or this login may not open its socket, and then
# `sudo -n` is used if sudo allows it without a password.
docker_ready() {
  local said
  said=$(command docker version --format '{{.Server.Version}}' 2>&1 >/dev/null) && return 0
  case "$said" in
    *"permission denied"*)
      sudo -n true 2>/dev/null \
        || fail "permission denied: $(id -un) may not open the Docker socket (not in the docker group in this login session?) and sudo -n is refused: $(one_line "$said")"
      DOCKER_SUDO=true
      said=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null) && return 0
      ;;
  esac
  fail "the Docker daemon does not answer (stopped, or not started yet?): $(one_line "$said")"
}

# docker_info FORMAT: `docker info --format FORMAT`, for a FORMAT that is never empty;
# fails ("cannot tell", with docker's message) when the daemon does not answer. Call it
# as `x=$(docker_info ...) || exit 1`: a failure inside $(...) is lost otherwise.
docker_info() {
  local out
  if out=$(docker info --format "$1" 2>/dev/null) && [ -n "$out" ]; then
    printf '%s\n' "$out"
    return 0
  fi
  # Why, in docker's own words: `docker version` says it in every release, where
  # `docker info --format` of Docker 20.10 prints only a template error.
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    && fail "cannot tell: docker info failed: $(docker_says info --format "$1")"
  fail "cannot tell: the Docker daemon does not answer: $(docker_says version --format '{{.Server.Version}}')"
}

# swarm_state: inactive | pending | active | error | locked. Fails when the daemon
# does not answer: call it as `state=$(swarm_state)` (set -e then stops the script),
# never inside [ ] or case, where the failure would be lost.
swarm_state() { docker_info '{{.Swarm.LocalNodeState}}'; }

# manager_ready: before a manager acts on the swarm. Returns 0 when this node is an
# active manager and the swarm answers (NODES then holds the node table, read_nodes);
# returns 1 when this node is in no swarm (inactive: the swarm it managed is gone; the
# caller says whether that is "nothing to do"). Anything else is "cannot tell" and
# fails with the reason: daemon down, swarm locked, joining, in error, not a manager,
# no leader.
manager_ready() {
  local info state control
  info=$(docker_info '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}') || exit 1
  read -r state control <<<"$info"
  case "$state" in
    active) ;;
    inactive) return 1 ;;
    locked) fail "cannot tell: the swarm is locked on this manager (autolock: Docker restarted): run docker swarm unlock with the unlock key (stack output unlockKey), then run again" ;;
    pending) fail "cannot tell: this node is still joining a swarm (state pending): run again once it is active" ;;
    error) fail "cannot tell: this node's swarm membership is in error (state error; see docker info): repair it, then run again" ;;
    *) fail "cannot tell: unexpected swarm state '$state'" ;;
  esac
  [ "$control" = true ] || fail "cannot tell: this node is in a swarm but is not a manager (ControlAvailable $control): the swarm's node list is only on a manager"
  # No leader (an election under way) clears in seconds; quorum lost does not.
  retry 15 read_nodes || fail "cannot tell which nodes the swarm has: $NODES_ERROR"
}

# read_nodes (manager only): NODES = one line per swarm node, "ID ADDR STATE ROLE RAFT":
# ADDR the node's address (Status.Addr, "-" if unset); STATE ready | down | unknown |
# disconnected; ROLE the desired role (worker | manager); RAFT the node's Raft address
# (ManagerStatus.Addr, IP:2377) while it is a Raft member, else "-". One `node ls` and
# one `node inspect` for all nodes. False, with docker's message in NODES_ERROR, when
# either fails (no leader, quorum lost, a node removed meanwhile).
NODES="" NODES_ERROR=""
NODE_FORMAT='{{.ID}} {{with .Status.Addr}}{{.}}{{else}}-{{end}} {{.Status.State}} {{.Spec.Role}} {{with .ManagerStatus}}{{.Addr}}{{else}}-{{end}}'
read_nodes() {
  local ids
  if ! ids=$(docker node ls -q 2>/dev/null); then
    NODES_ERROR="docker node ls failed: $(docker_says node ls -q)"
    return 1
  fi
  NODES=""
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086 # one argument per ID
  NODES=$(docker node inspect --format "$NODE_FORMAT" $ids 2>/dev/null) && return 0
  # shellcheck disable=SC2086
  NODES_ERROR="docker node inspect failed: $(docker_says node inspect --format "$NODE_FORMAT" $ids)"
  return 1
}

# node_field ID FIELD: FIELD (addr | state | role | raft) of node ID in NODES.
node_field() {
  local nid addr state role raft
  while read -r nid addr state role raft; do
    [ "$nid" = "$1" ] || continue
    case "$2" in
      addr) printf '%s\n' "$addr" ;;
      state) printf '%s\n' "$state" ;;
      role) printf '%s\n' "$role" ;;
      raft) printf '%s\n' "$raft" ;;
    esac
    return 0
  done <<<"$NODES"
  return 1
}

# nodes_at ADDR: from NODES, the entries whose address is ADDR (Status.Addr, or for a
# Raft member its Raft address: a manager may show Status.Addr 0.0.0.0). At most one of
# them is the node at ADDR now (one daemon per address); Down ones are stale entries
# (an old node whose host is gone or was reused; this node after it left). Sets `live`
# to the node that is not Down (empty if none) and `stale` to the Down ones' IDs, never
# picking one at random: two entries that are not Down fail ("cannot tell").
# shellcheck disable=SC2034 # live and stale are for the caller
nodes_at() {
  local nid addr state role raft up=""
  live="" stale=""
  while read -r nid addr state role raft; do
    [ -n "$nid" ] || continue
    if [ "$addr" != "$1" ] && [ "${raft%:*}" != "$1" ]; then continue; fi
    if [ "$state" = down ]; then
      stale="${stale:+$stale }$nid"
    else
      up="${up:+$up }$nid($state)"
      live=$nid
    fi
  done <<<"$NODES"
  case "$up" in
    *" "*) fail "cannot tell which node is at $1: several entries are not Down: $up; run again once the swarm sees the old one Down" ;;
  esac
}

# node_change SUBCOMMAND ARGS... (manager only): `docker node SUBCOMMAND ARGS...` for
# update, promote and demote, tried again for 30 s while the swarm answers "update out
# of sequence". The CLI reads the node, then sends the change with the version it read
# (docker/cli cli/command/node/update.go updateNodes); the store refuses it when the
# node changed in between (moby/swarmkit v2.1.2-88 manager/controlapi/node.go
# UpdateNode -> manager/state/store/memory.go update: ErrSequenceConflict), as a node
# that has just joined does while its status and certificate come in. Any other error
# fails at once, with docker's message.
node_change() {
  retry 30 node_change_once "$@" || fail "docker node $*: the node kept changing (update out of sequence) for 30 s: run again"
}
node_change_once() {
  local said
  said=$(docker node "$@" 2>&1 >/dev/null) && return 0
  case "$said" in
    *"update out of sequence"*) return 1 ;;
  esac
  fail "docker node $* failed: $(one_line "$said")"
}

# demote_node ID (manager only): make node ID a worker, and return only once it has
# left the Raft group: `docker node demote` returns before the change is committed,
# and a node that leaves while still a Raft member can cost the managers their quorum.
demote_node() {
  if [ "$(node_field "$1" role)" = manager ]; then
    node_change demote "$1"
    log "demoted $1"
  elif [ "$(node_field "$1" raft)" = - ]; then
    return 0 # a worker: nothing to do
  fi
  demoted_id=$1
  retry 60 out_of_raft || fail "node $1 is still a Raft member 60 s after its demotion ($(docker node inspect --format '{{.Spec.Role}} {{if .ManagerStatus}}{{.ManagerStatus.Reachability}}{{end}}' "$1" 2>&1)): run again"
  log "node $1 is no longer a manager"
}
out_of_raft() {
  local role raft
  read -r role raft <<<"$(docker node inspect --format '{{.Spec.Role}} {{if .ManagerStatus}}manager{{end}}' "$demoted_id")"
  [ "$role" = worker ] && [ -z "$raft" ]
}

# retry SECONDS COMMAND...: run COMMAND until it succeeds or SECONDS pass,
# backing off from 1 s to 8 s between tries. (The time slept counts too, so that
# under a sleep that returns at once, as in the unit tests, it ends just as soon.)
retry() {
  local deadline=$((SECONDS + $1)) budget=$1 pause=1
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] && [ "$budget" -gt 0 ] || return 1
    sleep "$pause"
    budget=$((budget - pause))
    [ "$pause" -ge 8 ] || pause=$((pause * 2))
  done
}

# removal_targets ADDR (manager only): the first step of every removal script. Exits 0,
# with the reason, when there is nothing to remove (no swarm here, or no node at ADDR);
# fails when it cannot tell (manager_ready); else sets `live` and `stale` (nodes_at).
removal_targets() {
  manager_ready || {
    log "skip: nothing to remove: this manager is in no swarm (the swarm is gone)"
    exit 0
  }
  nodes_at "$1"
  # A node is never taken out by itself: its demotion would end this script's view of
  # the swarm half-way (and a leader's, the swarm's). The program runs removals on
  # another manager (components/swarm/membership.py): this is the guard.
  local me
  me=$(docker_info '{{.Swarm.NodeID}}') || exit 1
  case " $live $stale " in
    *" $me "*) fail "cannot take this node ($me, $1) out from itself: run the removal on another manager" ;;
  esac
  if [ -z "$live$stale" ]; then
    log "skip: nothing to remove: no node has address $1 (removed already)"
    exit 0
  fi
}

# reachability ID (manager only): "reachable" | "unreachable" | "unknown" for a Raft
# member, "" for a worker.
reachability() { docker node inspect --format '{{with .ManagerStatus}}{{.Reachability}}{{end}}' "$1"; }

# other_managers ID (manager only, after read_nodes): the IDs of the Raft members other
# than ID that are Ready and reachable: those that keep the swarm while ID goes.
other_managers() {
  local nid addr state role raft out=""
  while read -r nid addr state role raft; do
    if [ -z "$nid" ] || [ "$nid" = "$1" ] || [ "$raft" = - ] || [ "$state" != ready ]; then continue; fi
    if [ "$(reachability "$nid")" = reachable ]; then out="${out:+$out }$nid"; fi
  done <<<"$NODES"
  printf '%s\n' "$out"
}

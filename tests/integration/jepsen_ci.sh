#!/usr/bin/env bash
# The CI set of the fault harness (`walraft-jepsen ci`, jepsen/ci.c): the
# register, bank, set and list-append workloads under partitions, pauses,
# kills and membership changes must be valid, and nodes started with
# --unsafe-skip-read-index must be caught serving a stale linearizable
# read.
# Environment (jepsen/jepsen.cmake sets it): WALRAFT, WR_JEPSEN,
# WR_PROCESS_TMP. The first argument is the first port of the test's range
# (it uses 60 ports from there). JEPSEN_TIME overrides the seconds per run,
# JEPSEN_SEED the seed (default: the time, printed).
set -euo pipefail

: "${WALRAFT:?WALRAFT must name the walraft command}"
: "${WR_JEPSEN:?WR_JEPSEN must name walraft-jepsen}"
source "$(dirname "$0")/jepsen_lib.sh"
: "${WR_PROCESS_TMP:?WR_PROCESS_TMP must name a directory}"
PORT=${1:?usage: $0 FIRST_PORT}
TIME=${JEPSEN_TIME:-40}
SEED=${JEPSEN_SEED:-$(date +%s)}
mkdir -p "$WR_PROCESS_TMP"
TMP=$(mktemp -d "$WR_PROCESS_TMP/jepsen_ci.XXXXXX")

log() { echo "[$(date -u +%H:%M:%S)] jepsen_ci: $*"; }

# walraft-jepsen heals and stops its clusters itself; this is the backstop
# if it died: wake any paused node, then stop every cluster.
cleanup() {
  local rc=$?
  set +e
  stop_clusters "$TMP"
  if [ "$rc" -eq 0 ]; then
    rm -rf "$TMP"
  else
    log "kept $TMP"
  fi
}
trap cleanup EXIT

log "walraft-jepsen ci --time $TIME --seed $SEED --port $PORT"
rc=0
"$WR_JEPSEN" ci --walraft "$WALRAFT" --time "$TIME" --seed "$SEED" \
  --port "$PORT" --out "$TMP" || rc=$?
if [ "$rc" -ne 0 ]; then
  log "FAIL: exit $rc; verdicts of the runs that went wrong:"
  grep FAIL "$TMP/ci.txt" | while read -r name _; do
    echo "--- $name"
    head -n 20 "$TMP/$name/verdict.txt" 2>/dev/null || true
  done
  exit 1
fi
log "ok"

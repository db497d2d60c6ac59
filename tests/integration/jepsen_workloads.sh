#!/usr/bin/env bash
# The bank, set and list-append workloads under faults, judged by
# walraft-jepsen run: each on 3 healthy nodes while the leader is paused
# (SIGSTOP/SIGCONT) and nodes are killed and restarted, and each must be
# valid (exit 0):
#   bank         transfers in interactive transactions, reads of every
#                balance: the total holds and no balance goes negative;
#   set          exactly-once unique inserts: none lost, none twice;
#   list-append  transactions of appends and reads: strict serializable.
# Environment (jepsen/jepsen.cmake sets it): WALRAFT, WR_JEPSEN,
# WR_PROCESS_TMP. The first argument is the first port of the test's range
# (it uses 100 ports from there). JEPSEN_TIME overrides the seconds per
# workload, JEPSEN_SEED the seed (default: the time, printed).
set -euo pipefail

: "${WALRAFT:?WALRAFT must name the walraft command}"
: "${WR_JEPSEN:?WR_JEPSEN must name walraft-jepsen}"
source "$(dirname "$0")/jepsen_lib.sh"
: "${WR_PROCESS_TMP:?WR_PROCESS_TMP must name a directory}"
PORT=${1:?usage: $0 FIRST_PORT}
TIME=${JEPSEN_TIME:-30}
SEED=${JEPSEN_SEED:-$(date +%s)}
mkdir -p "$WR_PROCESS_TMP"
TMP=$(mktemp -d "$WR_PROCESS_TMP/jepsen_workloads.XXXXXX")

# Loopback, as the test is specified, if this runner can run elsewhere.
LOOPBACK=()
if "$WR_JEPSEN" run --help 2>/dev/null | grep -q -- --loopback; then
  LOOPBACK=(--loopback)
fi

log() { echo "[$(date -u +%H:%M:%S)] jepsen_workloads: $*"; }

# walraft-jepsen brings its cluster down itself; this is the backstop if
# the runner itself died: wake any paused node, then stop the cluster.
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

# workload NAME PORT: one run of NAME under pause and kill; must be valid.
workload() {
  local name=$1 port=$2 rc=0
  log "$name: walraft-jepsen run --workload $name (seed $SEED)"
  "$WR_JEPSEN" run --walraft "$WALRAFT" --seed "$SEED" --out "$TMP/$name" \
    --nodes 3 --workload "$name" --nemesis pause,kill --time "$TIME" \
    --rate 100 --concurrency 6 --port "$port" "${LOOPBACK[@]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "FAIL: $name: exit $rc, expected 0; verdict:"
    cat "$TMP/$name/verdict.txt" 2>/dev/null || true
    exit 1
  fi
  log "$name: valid"
}

workload bank "$PORT"
workload set $((PORT + 10))
workload list-append $((PORT + 20))
log "ok"

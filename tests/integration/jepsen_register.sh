#!/usr/bin/env bash
# The register workload under faults, judged by walraft-jepsen run:
#   1. linearizable reads on 3 healthy nodes while the leader is paused
#      (SIGSTOP/SIGCONT) and nodes are killed and restarted: must be valid;
#   2. the same reads on 3 nodes started with --unsafe-skip-read-index,
#      which serve linearizable reads without the read-index round, while
#      the leader is paused: must be reported invalid (a stale read). In
#      practice the checker finds a stale read from a lagging follower in
#      the first second, before any fault; the pause is not needed for it.
# Environment (jepsen/jepsen.cmake sets it): WALRAFT, WR_JEPSEN,
# WR_PROCESS_TMP. The first argument is the first port of the test's range
# (it uses 100 ports from there). JEPSEN_TIME overrides the seconds per
# scenario, JEPSEN_SEED the seed (default: the time, printed).
set -euo pipefail

: "${WALRAFT:?WALRAFT must name the walraft command}"
: "${WR_JEPSEN:?WR_JEPSEN must name walraft-jepsen}"
: "${WR_PROCESS_TMP:?WR_PROCESS_TMP must name a directory}"
PORT=${1:?usage: $0 FIRST_PORT}
TIME=${JEPSEN_TIME:-45}
SEED=${JEPSEN_SEED:-$(date +%s)}
mkdir -p "$WR_PROCESS_TMP"
TMP=$(mktemp -d "$WR_PROCESS_TMP/jepsen_register.XXXXXX")

log() { echo "[$(date -u +%H:%M:%S)] jepsen_register: $*"; }

# walraft-jepsen brings its cluster down itself; this is the backstop if
# the runner itself died: wake any paused node, then stop the cluster.
cleanup() {
  local rc=$? d f pid
  set +e
  for d in "$TMP"/*/cluster; do
    [ -d "$d" ] || continue
    for f in "$d"/*.pid; do
      pid=$(cat "$f" 2>/dev/null)
      [[ $pid =~ ^[0-9]+$ ]] && grep -q walraftd "/proc/$pid/cmdline" \
        2>/dev/null && kill -CONT "$pid"
    done
    timeout 60 "$WALRAFT" cluster down --dir "$d" >/dev/null 2>&1
  done
  if [ "$rc" -eq 0 ]; then
    rm -rf "$TMP"
  else
    log "kept $TMP"
  fi
}
trap cleanup EXIT

# scenario NAME EXPECTED_EXIT ARGS...: one run, its exit code checked.
scenario() {
  local name=$1 want=$2 rc=0
  shift 2
  log "$name: walraft-jepsen run $* (seed $SEED)"
  "$WR_JEPSEN" run --walraft "$WALRAFT" --seed "$SEED" --out "$TMP/$name" \
    "$@" || rc=$?
  if [ "$rc" -ne "$want" ]; then
    log "FAIL: $name: exit $rc, expected $want; verdict:"
    cat "$TMP/$name/verdict.txt" 2>/dev/null || true
    exit 1
  fi
  log "$name: exit $rc as expected"
}

scenario healthy 0 --nodes 3 --workload register --nemesis pause,kill \
  --time "$TIME" --rate 100 --concurrency 6 --read-level linearizable \
  --port "$PORT"
scenario broken 1 --nodes 3 --workload register --nemesis pause \
  --time "$TIME" --rate 100 --concurrency 6 --read-level linearizable \
  --unsafe-skip-read-index --port $((PORT + 10))
log "ok"

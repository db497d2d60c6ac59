#!/usr/bin/env bash
# The register workload under the nemeses that need root, judged by
# walraft-jepsen run with each node in a network namespace of its own:
#   1. partition (one of partition-one, -leader, -halves, -bridge, -oneway
#      at random each time) on 3 nodes: must be valid, and the history
#      must show partitions applied without error;
#   2. membership, disk, transfer and loss on 3 nodes (data directories on
#      tmpfs): must be valid, and the history must show a member removed
#      and a fresh one added, a disk filled and freed, a leadership
#      transfer and packet loss, each without error;
#   3. reads at level none (whatever the receiving node has applied) under
#      partition-one: must be reported invalid (not linearizable). What
#      the checker reports first, in every run so far and within the first
#      second, is a follower lagging by milliseconds, not the isolated
#      node. The isolated node serves few stale reads: libwalraft sends the
#      highest index a handle has seen with each read (its bookmark), and
#      every worker writes through the majority's leader every few
#      operations, so a worker reading from the isolated node soon asks
#      for a state that node does not have and is not served; only the
#      reads it gets in before that are stale. 15 workers at 100 ops/s (5
#      on the isolated node, each slow enough that its first write comes
#      late) make those more likely; the test prints how many reads were
#      stale by more than 100 ms (0 to 4 in the runs so far, all just after
#      a partition began), for the record, and demands none.
# Needs root (namespaces, nftables, tmpfs mounts): exits 77, which ctest
# reports as skipped, otherwise. Environment (jepsen/jepsen.cmake sets
# it): WALRAFT, WR_JEPSEN, WR_PROCESS_TMP. The first argument is the first
# port of the test's range (it uses 100 ports from there). JEPSEN_TIME
# overrides the seconds of scenarios 1 and 3 (scenario 2 runs half as long
# again, so that each of its four nemeses gets a turn), JEPSEN_SEED the
# seed (default: the time, printed).
set -euo pipefail

: "${WALRAFT:?WALRAFT must name the walraft command}"
: "${WR_JEPSEN:?WR_JEPSEN must name walraft-jepsen}"
source "$(dirname "$0")/jepsen_lib.sh"
: "${WR_PROCESS_TMP:?WR_PROCESS_TMP must name a directory}"
PORT=${1:?usage: $0 FIRST_PORT}
TIME=${JEPSEN_TIME:-40}
SEED=${JEPSEN_SEED:-$(date +%s)}

log() { echo "[$(date -u +%H:%M:%S)] jepsen_nemeses: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  log "SKIP: needs root for network namespaces and tmpfs mounts"
  exit 77
fi
mkdir -p "$WR_PROCESS_TMP"

# Two copies of this test (from two build directories, say) would want the
# same ports, and walraft-jepsen refuses a port another run holds: take
# turns instead.
LOCKDIR=/run/lock
[ -w "$LOCKDIR" ] || LOCKDIR=/tmp
exec 9>"$LOCKDIR/walraft-jepsen-test-$PORT.lock"
if ! flock -w 300 9; then
  log "FAIL: another jepsen_nemeses on ports $PORT.. for 300 s"
  exit 1
fi
TMP=$(mktemp -d "$WR_PROCESS_TMP/jepsen_nemeses.XXXXXX")

# walraft-jepsen removes its namespaces, bridge and mounts itself, even
# when interrupted; this is the backstop if the runner itself died: stop
# the cluster, then remove whatever carries one of our prefixes (wjPORT)
# unless a live run holds that port.
cleanup() {
  local rc=$? p ns l m lock
  set +e
  stop_clusters "$TMP"
  for p in "${PORTS[@]}"; do
    # Not while another run holds the port (netns.h, net_claim).
    lock=$LOCKDIR/walraft-jepsen-wj$p.lock
    if [ -e "$lock" ] && ! flock -n "$lock" true; then
      continue
    fi
    for m in $(awk -v p="wj${p}d" 'index($1, p) == 1 { print $2 }' \
      /proc/self/mounts); do
      umount -l "$m"
    done
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' \
      | grep "^wj${p}n"); do
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9
      ip netns delete "$ns"
    done
    for l in $(ls /sys/class/net | grep "^wj${p}[a-z]"); do
      ip link delete "$l"
    done
  done
  if [ "$rc" -eq 0 ]; then
    rm -rf "$TMP"
  else
    log "kept $TMP"
  fi
}
PORTS=("$PORT" $((PORT + 10)) $((PORT + 20)))
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
  grep -q '"network": "namespaces"' "$TMP/$name/results.json" \
    || { log "FAIL: $name: the nodes were not in namespaces:"; \
         grep -A3 '"network"' "$TMP/$name/results.json"; exit 1; }
  log "$name: exit $rc as expected"
}

# ran NAME F...: each nemesis event F is in NAME's history at least once,
# and none of them failed; but for "transfer": most of them succeeded (a
# transfer in a storm may find that leadership has just moved, or not
# finish within an election timeout on a loaded machine: 3-5% of them in
# the hour-long runs of jepsen/RESULTS.md).
ran() {
  local name=$1 f lines failed
  shift
  for f in "$@"; do
    lines=$(grep '"process":"nemesis"' "$TMP/$name/history.jsonl" \
      | grep "\"f\":\"$f\"" || true)
    if [ -z "$lines" ]; then
      log "FAIL: $name: no \"$f\" nemesis event in the history"
      grep '"process":"nemesis"' "$TMP/$name/history.jsonl" || true
      exit 1
    fi
    failed=$(grep -c '"error"' <<<"$lines" || true)
    if [ "$f" = transfer ] && [ $((failed * 4)) -le "$(wc -l <<<"$lines")" ]; then
      [ "$failed" -eq 0 ] || log "$name: $failed of $(wc -l <<<"$lines") transfers failed: $(grep -m 1 '"error"' <<<"$lines")"
    elif [ "$failed" -gt 0 ]; then
      log "FAIL: $name: a \"$f\" nemesis event failed:"
      grep '"error"' <<<"$lines"
      exit 1
    fi
    log "$name: $(wc -l <<<"$lines") \"$f\" events, e.g. $(head -1 \
      <<<"$lines" | sed 's/.*"value"://; s/}$//')"
  done
}

# The reads that returned a value some acknowledged write had replaced
# more than 100 ms before the read began: the write of the newer value
# was invoked after the older one was acknowledged, and values are
# unique, so the older value can never come back. Prints one per line.
stale_reads() {
  awk '
    function num(field,   m) {
      if (match($0, "\"" field "\":-?[0-9]+")) {
        m = substr($0, RSTART, RLENGTH); sub(/.*:/, "", m); return m + 0
      }
      return "none"
    }
    /"process":"nemesis"/ { next }
    {
      t = num("time"); p = num("process"); k = num("key")
      if ($0 ~ /"type":"invoke"/) { inv[p] = t; next }
      if ($0 !~ /"type":"ok"/) next
      if ($0 ~ /"f":"write"/) {
        v = num("value")
      } else if ($0 ~ /"f":"cas"/) {
        match($0, /"value":\[-?[0-9]+,-?[0-9]+\]/)
        v = substr($0, RSTART, RLENGTH); sub(/.*,/, "", v); sub(/\]/, "", v)
        v = v + 0
      } else if ($0 ~ /"f":"read"/) {
        v = num("value")
        if (v == "none" || !((k, v) in acked)) next
        for (i = 1; i <= n[k]; i++) {
          w = vals[k, i]
          if (winv[k, w] > acked[k, v] && acked[k, w] < inv[p] - 1e8) {
            printf "key %d: read of %d invoked at %.3f s, but %d " \
              "replaced it, acknowledged at %.3f s\n", \
              k, v, inv[p] / 1e9, w, acked[k, w] / 1e9
            break
          }
        }
        next
      } else next
      acked[k, v] = t; winv[k, v] = inv[p]; vals[k, ++n[k]] = v
    }' "$1"
}

scenario partition 0 --nodes 3 --workload register --nemesis partition \
  --time "$TIME" --rate 100 --concurrency 6 --port "$PORT"
ran partition partition heal-partition

scenario faults 0 --nodes 3 --workload register \
  --nemesis membership,disk,transfer,loss --time $((TIME * 3 / 2)) \
  --rate 100 --concurrency 6 --port $((PORT + 10))
ran faults remove add disk-fill disk-free transfer loss heal-loss

scenario stale 1 --nodes 3 --workload register --nemesis partition-one \
  --time "$TIME" --rate 100 --concurrency 15 --read-level none \
  --port $((PORT + 20))
ran stale partition heal-partition
grep -q "Not linearizable" "$TMP/stale/verdict.txt" \
  || { log "FAIL: stale: the verdict is not \"Not linearizable\":"; \
       cat "$TMP/stale/verdict.txt"; exit 1; }
log "stale: $(grep -m1 -A1 "Not linearizable" "$TMP/stale/verdict.txt" \
  | tr '\n' ' ')"
stale=$(stale_reads "$TMP/stale/history.jsonl")
log "stale: $(grep -c . <<<"$stale" || true) reads stale by more than" \
  "100 ms${stale:+, e.g. $(head -1 <<<"$stale")}"
log "ok"

#!/usr/bin/env bash
# Scenario: in a 3-node cluster whose nodes snapshot every 64 entries and
# keep only 16 behind a snapshot, a follower is killed with SIGKILL while
# the others go on writing until the leader's log no longer holds the
# entries the follower lacks;
# restarted, the follower catches up through a snapshot and holds the same
# database as the others. Then the leader gets SIGTERM: it hands leadership
# over, so a new leader is in place well before an election timeout (3 s
# here) could have passed, and the old leader exits with status 0.
#
# The nodes are started directly, not through `walraft cluster`, so that
# they are this script's children and their exit status can be checked.
source "$(dirname "$0")/lib.sh"

ELECTION_MS=3000
TRAILING=16
declare -A PID

start_node() {
  local i=$1 join=()
  [ "$i" -eq 1 ] || join=(--join "$(addr 1)")
  mkdir -p "$TMP/$i"
  "$WALRAFTD" --id "$i" --address "$(addr "$i")" --data-dir "$TMP/$i" \
    "${join[@]}" --voters 3 --election-timeout "$ELECTION_MS" \
    --heartbeat-timeout 100 --snapshot-threshold 64 \
    --snapshot-trailing "$TRAILING" --snapshot-min-bytes 65536 \
    --snapshot-ratio 10 --log-level info \
    >>"$TMP/$i.log" 2>&1 &
  PID[$i]=$!
  DIRECT_PIDS+=("$!")
  log "started node $i (pid ${PID[$i]})"
}

voters_seen_by() {
  local servers
  read -r servers < <(node_field "$(addr "$1")" servers) || return 1
  [ "$(grep -o '"role": *"voter"' <<<"$servers" | wc -l)" -eq 3 ]
}

for i in 1 2 3; do
  start_node "$i"
  sleep 0.5
done
wait_for 60 "three voters" voters_seen_by 1
leader=$(wait_leader 30 "" 1 2 3)
log "leader: node $leader"
all=$(addrs 1 2 3)

load --cluster "$all" --db snap --writers 8 --seconds 2 --out "$TMP/keys" \
  --no-errors || fail "first load failed"

victim=$(for i in 1 2 3; do [ "$i" = "$leader" ] || echo "$i"; done | tail -n 1)
read -r last_victim < <(node_field "$(addr "$victim")" last_index) \
  || fail "no STATUS from node $victim"
log "kill -9 follower node $victim at last_index $last_victim"
kill -KILL "${PID[$victim]}"
wait "${PID[$victim]}" 2>/dev/null || true
mapfile -t others < <(for i in 1 2 3; do [ "$i" = "$victim" ] || echo "$i"; done)

# Write until the leader's snapshot leaves the victim's next entry behind
# its trailing window, so the log alone cannot bring the victim back.
compacted=false
for round in 1 2 3 4 5; do
  load --cluster "$(addrs "${others[@]}")" --db snap --writers 8 --seconds 3 \
    --value-size 512 --out "$TMP/keys" --no-errors \
    || fail "load with one node down failed"
  leader=$(wait_leader 10 "" "${others[@]}")
  read -r snap < <(node_field "$(addr "$leader")" snapshot_index)
  log "round $round: leader $leader snapshot_index $snap"
  if [ "$snap" -gt $((last_victim + TRAILING + 1)) ]; then
    compacted=true
    break
  fi
done
$compacted || fail "the leader never compacted past index $last_victim (snapshot_index $snap)"

start_node "$victim"
verify --cluster "$all" --db snap --keys "$TMP/keys" --exact --timeout 60 \
  || fail "verify after the snapshot catch-up failed"
read -r vsnap < <(node_field "$(addr "$victim")" snapshot_index)
log "node $victim now has snapshot_index $vsnap (it stopped at last_index $last_victim)"
[ "$vsnap" -gt "$last_victim" ] || fail "node $victim has no snapshot past its old log"
grep -i snapshot "$TMP/$victim.log" | tail -n 3 || true

leader=$(wait_leader 10 "" 1 2 3)
mapfile -t others < <(for i in 1 2 3; do [ "$i" = "$leader" ] || echo "$i"; done)
t0=$(now_ms)
log "SIGTERM to leader node $leader"
kill -TERM "${PID[$leader]}"
new=$(wait_leader 10 "$leader" "${others[@]}")
took=$(( $(now_ms) - t0 ))
log "new leader node $new after $took ms"
[ "$took" -lt "$ELECTION_MS" ] \
  || fail "the new leader took $took ms: no handover (election timeout $ELECTION_MS ms)"
rc=0
timeout 30 bash -c "while kill -0 ${PID[$leader]} 2>/dev/null; do sleep 0.1; done" \
  || fail "node $leader still runs 30 s after SIGTERM"
wait "${PID[$leader]}" || rc=$?
[ "$rc" -eq 0 ] || fail "node $leader exited with status $rc after SIGTERM"
load --cluster "$(addrs "${others[@]}")" --db snap --writers 4 --seconds 2 \
  --out "$TMP/keys" --no-errors || fail "load after the handover failed"
verify --cluster "$(addrs "${others[@]}")" --db snap --keys "$TMP/keys" --exact \
  || fail "final verify failed"

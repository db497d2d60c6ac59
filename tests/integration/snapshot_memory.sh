#!/usr/bin/env bash
# Scenario (issue 7): libraft keeps the log since the last snapshot in
# memory, and the snapshot cost rule (--snapshot-ratio 100: the log must
# reach the databases' size) would let it grow with the database. On a
# 3-node cluster with an 8 MiB cap (--snapshot-max-bytes), 1 MiB of
# trailing entries and 1 s of idle compaction:
#   1. 16 writers of 64 KiB values write at least 40 MiB: every node takes
#      snapshots forced by the cap, and the log it holds (STATUS log_bytes)
#      never exceeds three times cap + trailing, where without the cap it
#      would hold everything written;
#   2. one 3 MiB write (below the cap, above its quarter), then nothing:
#      every node compacts by the idle rule, down to its trailing entries.
# WR_SNAPSHOT_MEMORY_FLAGS adds walraftd flags after the test's own: with
# "--snapshot-max-bytes 1073741824" phase 1 fails (a node holds everything
# written), with "--compact-idle 0" phase 2 does.
source "$(dirname "$0")/lib.sh"

MIB=1048576
CAP=$((8 * MIB))
TRAILING=$((1 * MIB))
D=$TMP/c
all=$(addrs 1 2 3)

CLUSTER_DIRS+=("$D")
wr cluster up --nodes 3 --dir "$D" --port "$PORT" -- \
  --snapshot-max-bytes "$CAP" --snapshot-trailing-bytes "$TRAILING" \
  --compact-idle 1000 ${WR_SNAPSHOT_MEMORY_FLAGS:-} >/dev/null \
  || fail "cluster up failed"
leader=$(wait_leader 30 "" 1 2 3)
log "leader: node $leader"

# field I NAME: one STATUS field of node I.
field() { node_field "$(addr "$1")" "$2"; }

# Sample every node's log while the writers run.
sample() {
  local i b
  while :; do
    for i in 1 2 3; do
      b=$(field "$i" log_bytes) && echo "$i $b"
    done
    sleep 0.2
  done
}
sample >"$TMP/samples" &
sampler=$!

dbfile=$D/$leader/db/bench
deadline=$(($(now_ms) + 40000))
written=0
while [ "$written" -lt $((40 * MIB)) ]; do
  [ "$(now_ms)" -lt "$deadline" ] \
    || fail "only $((written / MIB)) MiB written in 40 s: too slow to judge"
  wr bench -c "$all" --workload kvwrite --workers 16 --value-size 65536 \
    --duration 2 >/dev/null || fail "bench failed"
  written=$(stat -c %s "$dbfile" 2>/dev/null || echo 0)
done
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null || true
log "leader's database: $((written / MIB)) MiB"

max=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$TMP/samples")
n=$(wc -l <"$TMP/samples")
log "largest log held while writing: $((max / 1024)) KiB ($n samples)"
[ "$n" -ge 9 ] || fail "only $n samples of the nodes' logs"
[ "$max" -le $((3 * (CAP + TRAILING))) ] \
  || fail "a node held $((max / 1024)) KiB of log, over 3 x (cap + trailing)"
for i in 1 2 3; do
  read -r cap_snaps trailing < <(node_field "$(addr "$i")" \
    snapshots_by_cap snapshot_trailing) || fail "no STATUS from node $i"
  log "node $i: $cap_snaps snapshots forced by the cap, trailing $trailing"
  [ "$cap_snaps" -ge 1 ] || fail "node $i took no snapshot forced by the cap"
  [ "$trailing" -ge 1 ] || fail "node $i set no trailing count"
done

# Let any idle compaction of the first phase finish before counting.
sleep 2
declare -A idle_before
for i in 1 2 3; do
  idle_before[$i]=$(field "$i" snapshots_by_idle) \
    || fail "no STATUS from node $i"
done
wr exec -c "$all" --db bench "CREATE TABLE IF NOT EXISTS big (v BLOB)" \
  >/dev/null || fail "create table failed"
wr exec -c "$all" --db bench "INSERT INTO big (v)
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 48)
  SELECT randomblob(65536) FROM c" >/dev/null || fail "3 MiB write failed"
log "wrote 3 MiB in one entry; now idle"

compacted() {
  local i idle bytes
  for i in 1 2 3; do
    read -r idle bytes < <(node_field "$(addr "$i")" snapshots_by_idle \
      log_bytes) || return 1
    [ "$idle" -gt "${idle_before[$i]}" ] && [ "$bytes" -le "$TRAILING" ] \
      || return 1
  done
}
wait_for 20 "every node compacted by the idle rule" compacted
for i in 1 2 3; do
  read -r idle bytes entries < <(node_field "$(addr "$i")" snapshots_by_idle \
    log_bytes log_entries)
  log "node $i: $idle idle compactions, $entries entries / $bytes bytes held"
done

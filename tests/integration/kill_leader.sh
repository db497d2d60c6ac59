#!/usr/bin/env bash
# Scenario: while 16 writers load a 3-node cluster, the leader is killed
# with SIGKILL; the other two elect a new leader, the writers reconnect and
# get acknowledgements again, and a linearizable read sent to a survivor at
# once is served after the election; the killed node is restarted with
# `walraft cluster restart`, catches up from the log (it misses a few
# thousand entries; the default trailing window keeps 8192 after a
# snapshot), and afterwards all three hold the same database with every
# acknowledged write.
source "$(dirname "$0")/lib.sh"

dir="$TMP/c"
cluster_up "$dir" 3
all=$(addrs 1 2 3)

load --cluster "$all" --db kill --writers 16 --seconds 12 \
  --out "$TMP/keys" >"$TMP/load.out" 2>"$TMP/load.err" &
load_pid=$!

sleep 3
old=$(wait_leader 10 "" 1 2 3)
before=$(count_ok "$TMP/keys")
[ "$before" -gt 0 ] || fail "no write acknowledged in the first 3 s"
pid=$(cat "$dir/$old.pid")
kill_at=$(now_ms)
log "kill -9 leader node $old (pid $pid) after $before acknowledged writes"
kill -KILL "$pid"
mapfile -t survivors < <(for i in 1 2 3; do [ "$i" = "$old" ] || echo "$i"; done)
# A linearizable read sent to a survivor before anyone noticed the death:
# its read index cannot come from the dead leader, and the client must
# be told to look elsewhere (and then wait for the election), not fail.
wr query -c "$(addr "${survivors[0]}")" --db kill --consistency linearizable \
  "SELECT 42" >"$TMP/read.out" 2>&1 &
read_pid=$!
new=$(wait_leader 15 "$old" "${survivors[@]}")
log "new leader: node $new, $(( $(now_ms) - kill_at )) ms after the kill"
wait "$read_pid" || { cat "$TMP/read.out"; fail "a read on node ${survivors[0]} sent as the leader died failed"; }
grep -q 42 "$TMP/read.out" || { cat "$TMP/read.out"; fail "the read printed no 42"; }
log "a linearizable read on node ${survivors[0]}, sent as the leader died, was served"

rc=0
wait "$load_pid" || rc=$?
cat "$TMP/load.out"
grep -c . "$TMP/load.err" >/dev/null && tail -n 5 "$TMP/load.err"
[ "$rc" -eq 0 ] || fail "wr_load failed (exit $rc): a writer gave up or nothing was acknowledged"
after=$(count_ok "$TMP/keys" "$kill_at")
log "$after writes acknowledged after the kill"
[ "$after" -gt 0 ] || fail "no write acknowledged after the leader was killed"

log "restart node $old"
wr cluster restart "$old" --dir "$dir" || fail "walraft cluster restart $old failed"
verify --cluster "$all" --db kill --keys "$TMP/keys" --exact \
  --timeout 60 || fail "verify failed"
read -r snap last < <(node_field "$(addr "$old")" snapshot_index last_index) || true
log "node $old after catching up: snapshot_index ${snap:-?}, last_index ${last:-?}"

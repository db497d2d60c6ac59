#!/usr/bin/env bash
# Scenario: 16 writers with exactly-once sessions load a 3-node cluster;
# the leader is killed with SIGKILL while writes are in flight; every write
# whose outcome was unknown is retried with the same client id and sequence
# number on the new leader; at the end every acknowledged write is in the
# database exactly once, and no write is left unresolved.
source "$(dirname "$0")/lib.sh"

dir="$TMP/c"
cluster_up "$dir" 3
all=$(addrs 1 2 3)

load --cluster "$all" --db sessions --writers 16 --seconds 10 --sessions \
  --out "$TMP/keys" >"$TMP/load.out" 2>"$TMP/load.err" &
load_pid=$!

sleep 3
old=$(wait_leader 10 "" 1 2 3)
pid=$(cat "$dir/$old.pid")
log "kill -9 leader node $old (pid $pid) after $(count_ok "$TMP/keys") acknowledged writes"
kill -KILL "$pid"
mapfile -t survivors < <(for i in 1 2 3; do [ "$i" = "$old" ] || echo "$i"; done)
new=$(wait_leader 15 "$old" "${survivors[@]}")
log "new leader: node $new"

rc=0
wait "$load_pid" || rc=$?
cat "$TMP/load.out"
[ "$rc" -eq 0 ] || { tail -n 5 "$TMP/load.err"; fail "wr_load failed (exit $rc)"; }
retried=$(grep -c 'indefinite\|connection\|closed\|leadership' "$TMP/load.err" || true)
maybe=$(grep -c '^maybe ' "$TMP/keys" || true)
log "$retried writes had an unknown outcome and were retried; $maybe left unresolved"
[ "$maybe" -eq 0 ] || fail "$maybe writes were never resolved by their retries"

wr cluster restart "$old" --dir "$dir" || fail "walraft cluster restart $old failed"
verify --cluster "$all" --db sessions --keys "$TMP/keys" --exact \
  --timeout 60 || fail "verify failed: a write is missing or applied twice"

#!/usr/bin/env bash
# Scenario: a 3-node cluster takes writes, is stopped whole with `walraft
# cluster down` and started again with `walraft cluster up` on the same
# directory; every acknowledged write is still there on every node, and the
# restarted cluster takes new writes.
source "$(dirname "$0")/lib.sh"

dir="$TMP/c"
cluster_up "$dir" 3
all=$(addrs 1 2 3)
load --cluster "$all" --db restart --writers 16 --seconds 3 --out "$TMP/keys" \
  --no-errors || fail "first load failed"
verify --cluster "$all" --db restart --keys "$TMP/keys" --exact \
  || fail "verify before the restart failed"

log "cluster down"
wr cluster down --dir "$dir" || fail "walraft cluster down failed"
for i in 1 2 3; do
  pid=$(cat "$dir/$i.pid" 2>/dev/null || echo 0)
  wait_for 15 "node $i exits" bash -c "! grep -q walraftd /proc/$pid/cmdline 2>/dev/null"
done

cluster_up "$dir" 3
verify --cluster "$all" --db restart --keys "$TMP/keys" --exact \
  || fail "data lost across the restart"
load --cluster "$all" --db restart --writers 16 --seconds 3 --out "$TMP/keys" \
  --no-errors || fail "load after the restart failed"
verify --cluster "$all" --db restart --keys "$TMP/keys" --exact \
  || fail "verify after the restart failed"

#!/usr/bin/env bash
# Scenario: 64 concurrent writers, each on its own connection to the leader
# of a 3-node cluster, insert rows for 10 s without a single error; then
# every node has applied everything, the three database images are
# identical page for page, every acknowledged key is in them exactly once,
# and the database passes PRAGMA integrity_check.
source "$(dirname "$0")/lib.sh"

cluster_up "$TMP/c" 3
all=$(addrs 1 2 3)
load --cluster "$all" --db load --writers 64 --seconds 10 \
  --out "$TMP/keys" --no-errors || fail "wr_load reported errors (exit $?)"
ok=$(count_ok "$TMP/keys")
log "$ok writes acknowledged"
[ "$ok" -gt 0 ] || fail "nothing acknowledged"
verify --cluster "$all" --db load --keys "$TMP/keys" --exact \
  || fail "verify failed"

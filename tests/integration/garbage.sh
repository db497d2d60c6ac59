#!/usr/bin/env bash
# Scenario: every node of a 3-node cluster is fed malformed input (see
# test_garbage.c: random bytes, truncated messages, absurd lengths, unknown
# types, broken bodies); each connection gets FAILURE or is closed, no node
# dies, each still serves a normal client, and the cluster still agrees on
# its data afterwards.
source "$(dirname "$0")/lib.sh"
: "${WR_GARBAGE:?WR_GARBAGE must name test_garbage}"

dir="$TMP/c"
cluster_up "$dir" 3
all=$(addrs 1 2 3)
load --cluster "$all" --db garbage --writers 4 --seconds 1 --out "$TMP/keys" \
  --no-errors || fail "load before the garbage failed"

timeout 180 "$WR_GARBAGE" --addresses "$all" --seed "${WR_SEED:-$(date +%s)}" \
  || fail "test_garbage failed"

for i in 1 2 3; do
  pid=$(cat "$dir/$i.pid")
  grep -q walraftd "/proc/$pid/cmdline" 2>/dev/null || fail "node $i (pid $pid) died"
done
[ "$(count_voters "$dir")" -eq 3 ] || fail "not every node is an up voter afterwards"
load --cluster "$all" --db garbage --writers 4 --seconds 1 --out "$TMP/keys" \
  --no-errors || fail "load after the garbage failed"
verify --cluster "$all" --db garbage --keys "$TMP/keys" --exact || fail "verify failed"

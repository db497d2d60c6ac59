#!/usr/bin/env bash
# Scenario: a 3-node cluster whose nodes demand more free disk space than
# the machine has (--min-free-space of 1 EiB, the stand-in for a full disk)
# refuses every write, in autocommit and at a transaction's COMMIT, with a
# clear definite SQLITE_FULL error, while reads and read-only transactions
# keep working and every node stays up; a cluster with the default
# threshold on the same disk takes the same writes.
source "$(dirname "$0")/lib.sh"

DQLITE=${DQLITE:-dqlite}
command -v "$DQLITE" >/dev/null \
  || fail "the dqlite shell is missing: install go-dqlite (scripts/install-deps)"
dq() { timeout 30 "$DQLITE" -s "$1" disk "$2" 2>&1; }

CLUSTER_DIRS+=("$TMP/full")
wr cluster up --nodes 3 --dir "$TMP/full" --port "$PORT" \
  -- --min-free-space 1152921504606846976 \
  || fail "cluster up with --min-free-space failed"
all=$(addrs 1 2 3)

if out=$(dq "$all" "CREATE TABLE t (x INTEGER)"); then
  fail "a write succeeded without the free space it needs: $out"
fi
grep -q "not enough disk space on the leader" <<<"$out" \
  || fail "the refused write does not say why: $out"
grep -q "(definite)" <<<"$out" || fail "the refusal is not marked definite: $out"
log "write refused: $out"

out=$(dq "$all" "SELECT 6 * 7") || fail "a read failed: $out"
[ "$out" = "42" ] || fail "the read returned \"$out\", not 42"
log "read-only transaction served: $out"

grep -q "refusing writes" "$TMP/full/1.log" "$TMP/full/2.log" \
  "$TMP/full/3.log" || fail "no node logged that it refuses writes"
while read -r id role leader applied lag up; do
  [ "$up" = "true" ] || fail "node $id is down after refusing writes"
done < <(status_rows "$TMP/full")
timeout 60 "$WALRAFT" cluster down --dir "$TMP/full" >/dev/null \
  || fail "cluster down failed"

# The same writes on the same disk with the default threshold.
CLUSTER_DIRS+=("$TMP/ok")
wr cluster up --nodes 3 --dir "$TMP/ok" --port "$((PORT + 10))" \
  || fail "cluster up failed"
ok=$(for i in 11 12 13; do echo "127.0.0.1:$((PORT + i - 1))"; done | paste -sd,)
out=$(dq "$ok" "CREATE TABLE t (x INTEGER)") || fail "CREATE TABLE failed: $out"
out=$(dq "$ok" "INSERT INTO t VALUES (42)") || fail "INSERT failed: $out"
out=$(dq "$ok" "SELECT x FROM t") || fail "SELECT failed: $out"
[ "$out" = "42" ] || fail "read back \"$out\", not 42"

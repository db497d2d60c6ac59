#!/usr/bin/env bash
# Scenario: the `dqlite` shell from Debian's go-dqlite package, a client
# nobody here wrote, creates a table on a 3-node walraft cluster, inserts
# and selects rows (through go-dqlite's BEGIN/COMMIT transactions), and
# prints the leader and the cluster exactly as it would for dqlite, also
# when it is only given a follower's address.
source "$(dirname "$0")/lib.sh"

DQLITE=${DQLITE:-dqlite}
command -v "$DQLITE" >/dev/null \
  || fail "the dqlite shell is missing: install go-dqlite (scripts/install-deps)"

cluster_up "$TMP/c" 3
all=$(addrs 1 2 3)

# sh SERVERS SQL: run the shell, bounded.
dq() { timeout 30 "$DQLITE" -s "$1" compat "$2"; }

# expect DESCRIPTION EXPECTED ACTUAL
expect() {
  if [ "$2" != "$3" ]; then
    echo "expected:"; printf '%s\n' "$2"
    echo "got:"; printf '%s\n' "$3"
    fail "$1"
  fi
  log "ok: $1"
}

out=$(dq "$all" "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT, f REAL)") \
  || fail "CREATE TABLE failed: $out"
expect "CREATE TABLE prints nothing" "" "$out"

out=$(dq "$all" "INSERT INTO kv(k, v, f) VALUES(1, 'one', 1.5);INSERT INTO kv(k, v, f) VALUES(2, 'two', NULL);INSERT INTO kv(k, v) VALUES(3, 'three')") \
  || fail "INSERT failed: $out"
expect "INSERT prints nothing" "" "$out"

out=$(dq "$all" "SELECT k, v, f FROM kv ORDER BY k") || fail "SELECT failed: $out"
expect "SELECT prints the rows" $'1|one|1.5\n2|two|<nil>\n3|three|<nil>' "$out"

out=$(dq "$all" "UPDATE kv SET v = 'TWO' WHERE k = 2;DELETE FROM kv WHERE k = 3") \
  || fail "UPDATE/DELETE failed: $out"
out=$(dq "$all" "SELECT count(*), sum(k), group_concat(v, ',') FROM kv") \
  || fail "SELECT failed: $out"
expect "aggregates after UPDATE and DELETE" "2|3|one,TWO" "$out"

leader=$(wait_leader 10 "" 1 2 3)
out=$(dq "$all" ".leader") || fail ".leader failed: $out"
expect ".leader prints the leader's address" "$(addr "$leader")" "$out"

out=$(dq "$all" ".cluster") || fail ".cluster failed: $out"
expect ".cluster lists id|address|role" \
  "$(printf '%s\n' "1|$(addr 1)|voter" "2|$(addr 2)|voter" "3|$(addr 3)|voter")" \
  "$(sort <<<"$out")"

follower=$(for i in 1 2 3; do [ "$i" = "$leader" ] || echo "$i"; done | head -n 1)
out=$(dq "$(addr "$follower")" "SELECT v FROM kv WHERE k = 1") \
  || fail "SELECT through follower $follower failed: $out"
expect "a shell given only a follower finds the leader" "one" "$out"

if out=$(dq "$all" "SELECT * FROM no_such_table" 2>&1); then
  fail "a query on a missing table succeeded: $out"
fi
grep -q "no such table: no_such_table" <<<"$out" \
  || fail "the error does not name the missing table: $out"
log "ok: a bad query fails with SQLite's message"

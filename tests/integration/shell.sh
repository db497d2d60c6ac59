#!/usr/bin/env bash
# Scenarios for `walraft shell`, `walraft exec` and `walraft query` against
# a 3-node cluster: statements from stdin print exactly what the sqlite3
# shell's modes would (table, csv, json, line); dot commands answer; .dump
# output rebuilds the same database in the sqlite3 CLI; exit codes are 0
# for success, 1 for an SQL error, 2 for a usage error, 3 for an
# unreachable cluster; and an interactive session typed into a terminal
# (tmux) runs statements and leaves with .quit. `walraft bench` runs each
# workload without errors, and --plot draws a PNG or refuses a bad path.
source "$(dirname "$0")/lib.sh"

cluster_up "$TMP/c" 3
export WALRAFT_ADDRESSES=$(addrs 1 2 3)
export HOME=$TMP
W=$WALRAFT

expect_out() { # NAME EXPECTED ACTUAL
  if [ "$2" != "$3" ]; then
    printf 'expected:\n%s\ngot:\n%s\n' "$2" "$3" >&2
    fail "$1: output differs"
  fi
  log "$1: ok"
}

out=$("$W" shell <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);
INSERT INTO t(name, score, data) VALUES ('a,b', 1.5, x'00ff'), (NULL, 2,
  NULL);
SELECT * FROM t;
.mode csv
SELECT * FROM t;
.mode json
SELECT * FROM t;
.mode line
SELECT id, name FROM t;
.tables
.schema t
SQL
)
out=${out//$'\r'/} # CSV ends its lines in CRLF (checked below)
expect_out "modes and dot commands" "$(cat <<'EOF2'
+----+------+-------+---------+
| id | name | score | data    |
+----+------+-------+---------+
| 1  | a,b  | 1.5   | X'00FF' |
| 2  |      | 2.0   |         |
+----+------+-------+---------+
id,name,score,data
1,"a,b",1.5,X'00FF'
2,,2.0,
[{"id":1,"name":"a,b","score":1.5,"data":"X'00FF'"},
{"id":2,"name":null,"score":2.0,"data":null}]
  id = 1
name = a,b

  id = 2
name = 
t
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);
EOF2
)" "$out"

# Parameters bind by their look; a write reports what it changed.
out=$("$W" exec "INSERT INTO t(name, score) VALUES (?, ?)" "x y" 2.5)
[ "${out#1 row(s) changed, last insert rowid 3, bookmark }" != "$out" ] \
  || fail "exec: unexpected answer: $out"
out=$("$W" query --format csv --consistency none "SELECT name, score FROM t WHERE id = ?" 3)
expect_out "query with parameters" "$(printf 'name,score\r\nx y,2.5\r')" "$out"
for level in none weak linearizable strong; do
  out=$("$W" query --format csv --consistency "$level" "SELECT count(*) AS n FROM t")
  expect_out "query at $level" "$(printf 'n\r\n3\r')" "$out"
done

out=$("$W" exec --format json "UPDATE t SET score = score + 1 WHERE id = ?" 3)
[ "${out#\{\"changes\": 1, \"last_insert_id\": }" != "$out" ] || fail "exec --format json: $out"

# .read, .headers off, .timer, .consistency.
printf 'SELECT count(*) AS n FROM t;\n' >"$TMP/count.sql"
out=$(printf '.headers off\n.mode csv\n.consistency none\n.read %s\n.consistency strong\n.read %s\n' \
  "$TMP/count.sql" "$TMP/count.sql" | "$W" shell)
expect_out ".read, .headers off, .consistency" "$(printf '3\r\n3\r')" "$out"
out=$(printf '.timer on\nSELECT 1;\n' | "$W" shell)
grep -q '^Run Time: real [0-9.]*$' <<<"$out" || fail ".timer: $out"
rc=0; printf '.consistency sometimes\n' | "$W" shell 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "an unknown level exits $rc, not 1"
log ".read, .headers, .timer, .consistency: ok"

# .dump rebuilds the same rows in the sqlite3 CLI.
printf '.dump\n' | "$W" shell >"$TMP/dump.sql" || fail ".dump failed"
sqlite3 "$TMP/copy.db" <"$TMP/dump.sql" || fail "sqlite3 refused the dump"
out=$(sqlite3 "$TMP/copy.db" "SELECT count(*) FROM t; SELECT hex(data), quote(name) FROM t WHERE id = 1")
expect_out ".dump round trip" "$(printf "3\n00FF|'a,b'")" "$out"

# Exit codes.
rc=0; "$W" query "SELEC 1" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "an SQL error exits $rc, not 1"
rc=0; printf 'SELECT 1;\nSELEC 2;\n' | "$W" shell >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "a script with an SQL error exits $rc, not 1"
rc=0; "$W" query --format xml "SELECT 1" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "a usage error exits $rc, not 2"
rc=0; "$W" query -c 127.0.0.1:$((PORT + 40)) "SELECT 1" 2>/dev/null || rc=$?
[ "$rc" -eq 3 ] || fail "an unreachable cluster exits $rc, not 3"
log "exit codes: ok"

# .nodes, .leader, .bookmark.
out=$(printf '.nodes\n' | "$W" shell)
[ "$(grep -c voter <<<"$out")" -eq 3 ] || fail ".nodes: $out"
leader=$(printf '.leader\n' | "$W" shell)
grep -q "^$leader voter\|$leader voter (leader)" <<<"$out" || fail ".leader $leader not in .nodes"
out=$(printf 'INSERT INTO t(name) VALUES (1);\n.bookmark\n' | "$W" shell)
[ "$out" -gt 0 ] 2>/dev/null || fail ".bookmark after a write: $out"
log "dot commands about the cluster: ok"

# `walraft bench`: every workload runs and reports in JSON.
for wl in kvwrite kvread kvreadwrite; do
  out=$("$W" bench --workload "$wl" --workers 2 --duration 1 --keys 50 --json 2>/dev/null) \
    || fail "bench $wl failed"
  ops=$(sed -n 's/.*"ops": \([0-9]*\),.*/\1/p' <<<"$out")
  errors=$(sed -n 's/.*"errors": \([0-9]*\),.*/\1/p' <<<"$out")
  [ "${ops:-0}" -gt 0 ] && [ "$errors" = 0 ] || fail "bench $wl: $out"
done
log "bench: ok"

# `walraft bench --plot` draws a PNG with gnuplot; a path it cannot write
# is refused before the run, with a message that names it.
"$W" bench --workload kvreadwrite --workers 2 --duration 2 --plot "$TMP/lat.png" \
  >/dev/null 2>"$TMP/plot.err" || { cat "$TMP/plot.err" >&2; fail "bench --plot failed"; }
[ "$(head -c 8 "$TMP/lat.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
  || fail "bench --plot did not write a PNG"
rc=0
"$W" bench --workload kvwrite --duration 1 --plot "$TMP/no/such/dir/lat.png" \
  >/dev/null 2>"$TMP/plot.err" || rc=$?
[ "$rc" -ne 0 ] || fail "bench --plot into a missing directory exits 0"
grep -q -- "--plot: cannot write $TMP/no/such/dir/lat.png" "$TMP/plot.err" \
  || fail "bench --plot into a missing directory: $(cat "$TMP/plot.err")"
log "bench --plot: ok"

# An interactive session in a terminal.
if command -v tmux >/dev/null; then
  sock="$TMP/tmux.sock"
  tmux -S "$sock" new-session -d -x 120 -y 40 -s wr "$W shell"
  tmux_fail() { tmux -S "$sock" kill-server 2>/dev/null; fail "$@"; }
  sleep 0.5
  # -l: literal text; a trailing ";" must be written "\;", or tmux takes
  # it for its own command separator.
  tmux -S "$sock" send-keys -t wr -l "SELECT 6 *"
  tmux -S "$sock" send-keys -t wr Enter
  tmux -S "$sock" send-keys -t wr -l '7 AS answer\;'
  tmux -S "$sock" send-keys -t wr Enter
  for ((i = 0; i < 50; i++)); do
    tmux -S "$sock" capture-pane -p -t wr | grep -q '| 42 ' && break
    sleep 0.1
  done
  screen=$(tmux -S "$sock" capture-pane -p -t wr)
  grep -q '| 42 ' <<<"$screen" || { echo "$screen" >&2; tmux_fail "interactive: no answer on the screen"; }
  grep -q 'walraft> ' <<<"$screen" || tmux_fail "interactive: no prompt"
  grep -q '   \.\.\.> ' <<<"$screen" || tmux_fail "interactive: no continuation prompt"
  tmux -S "$sock" send-keys -t wr -l ".quit"
  tmux -S "$sock" send-keys -t wr Enter
  for ((i = 0; i < 50; i++)); do
    tmux -S "$sock" has-session -t wr 2>/dev/null || break
    sleep 0.1
  done
  tmux -S "$sock" has-session -t wr 2>/dev/null && tmux_fail "interactive: .quit did not leave"
  [ -s "$HOME/.walraft_history" ] || fail "interactive: no history written"
  log "interactive session in tmux: ok"
else
  fail "tmux is not installed (scripts/install-deps installs it)"
fi

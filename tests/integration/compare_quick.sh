#!/usr/bin/env bash
# bench/compare-dqlite --quick runs one short round of every workload on a
# fresh 3-node walraft cluster and a fresh 3-node dqlite-benchmark cluster,
# and its table has every row with a number for both systems and a ratio.
# Ports: walraft from PORT (9 used), dqlite from PORT + 50 (9 used).
source "$(dirname "$0")/lib.sh"

command -v dqlite-benchmark >/dev/null \
  || fail "dqlite-benchmark is not installed (Debian package go-dqlite; scripts/install-deps installs it)"
command -v jq >/dev/null || fail "jq is not installed"

build=$(dirname "$WALRAFT")
script=$(dirname "$0")/../../bench/compare-dqlite
log "bench/compare-dqlite --quick $build"
TMPDIR=$TMP timeout 150 "$script" --quick --walraft-port "$PORT" \
  --dqlite-port $((PORT + 50)) "$build" >"$TMP/table" 2>"$TMP/progress" \
  || { cat "$TMP/progress" >&2; fail "compare-dqlite --quick failed"; }
cat "$TMP/table"

num='[0-9]+(\.[0-9]+)?'
for row in "kvwrite, 1 worker: ops/s" "kvwrite, 1 worker: p99 ms" \
  "kvwrite, 64 workers: ops/s" "kvwrite, 64 workers: errors" \
  "kvreadwrite, 1 worker: ops/s" "kvreadwrite, 1 worker: read p50 ms"; do
  line=$(grep -F "| $row" "$TMP/table") || fail "no row '$row'"
  grep -Eq "^\| [^|]+ \| $num \| $num \| ($num|n/a) \|\$" <<<"$line" \
    || fail "row '$row' lacks a number: $line"
done
# Both systems did write: a zero here means a run silently did nothing.
line=$(grep -F "| kvwrite, 1 worker: ops/s" "$TMP/table")
awk -F'|' '{ exit !($3 + 0 > 0 && $4 + 0 > 0) }' <<<"$line" \
  || fail "a system wrote nothing: $line"
# No process of the script's clusters is left behind.
for p in $(seq "$PORT" $((PORT + 8))) $(seq $((PORT + 50)) $((PORT + 58))); do
  if ss -Hltn "sport = :$p" | grep -q .; then
    fail "port $p is still listened on after the script ended"
  fi
done
log "compare-dqlite --quick: every row has numbers"

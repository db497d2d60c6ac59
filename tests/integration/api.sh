#!/usr/bin/env bash
# Scenario: libwalraft (client/walraft.h) against a live 3-node cluster:
# the shared library exports only the API; against a fake node, a node
# refusing exactly-once sessions makes the handle fall back to plain
# writes, and a dropped write is retried under its id, or reported
# indefinite without one; test_api's checks (types,
# errors, transactions, levels and bookmarks) hold; both examples run; the
# leader is killed with SIGKILL under a write load with exactly-once
# sessions and no write is lost or doubled; it is killed again under a
# load without sessions, and every write whose outcome was unknown is
# reported, not retried, and none is doubled; `cmake --install` gives a
# header, libraries and a walraft.pc that a program builds against.
source "$(dirname "$0")/lib.sh"

BIN=$(dirname "$WALRAFT")
TEST_API="$BIN/test_api"
[ -x "$TEST_API" ] || fail "no $TEST_API"

# The library exports its API and nothing else.
others=$(nm -D --defined-only "$BIN/libwalraft.so" | awk '$3 !~ /^wr_/ {print $3}')
[ -z "$others" ] || fail "libwalraft.so exports more than wr_*: $others"
log "libwalraft.so exports $(nm -D --defined-only "$BIN/libwalraft.so" | wc -l) wr_* symbols only"

# What a live cluster cannot show on demand, against a fake node: the
# fallback from sessions, and a dropped write retried or reported.
timeout 60 "$TEST_API" fake $((PORT + 50)) >"$TMP/fake.out" 2>&1 \
  || { cat "$TMP/fake.out"; fail "test_api fake"; }
log "fake node: $(grep -c '^ok:' "$TMP/fake.out") checks passed"

dir="$TMP/c"
cluster_up "$dir" 3
all=$(addrs 1 2 3)
leader=$(wait_leader 20 "" 1 2 3)
follower=$(( leader % 3 + 1 ))
log "leader node $leader, follower node $follower"

# One sentence per scenario is printed by test_api itself.
timeout 240 "$TEST_API" checks "$all" "$(addr "$follower")" \
  >"$TMP/checks.out" 2>&1 || { cat "$TMP/checks.out"; fail "test_api checks"; }
grep -c '^ok:' "$TMP/checks.out" | { read -r n; log "$n API checks passed"; }
grep '^info:' "$TMP/checks.out" || true

# The examples, as built in CI.
timeout 60 "$BIN/walraft-example-crud" "$all" >"$TMP/crud.out" 2>&1 \
  || { cat "$TMP/crud.out"; fail "example crud"; }
grep -q '^1 Rex 32.50 photo:4 bytes note:(null)$' "$TMP/crud.out" \
  || { cat "$TMP/crud.out"; fail "example crud printed something else"; }
timeout 60 "$BIN/walraft-example-bookmark" "$all" "$(addr "$follower")" \
  >"$TMP/bookmark.out" 2>&1 || { cat "$TMP/bookmark.out"; fail "example bookmark"; }
log "examples: $(tail -n 1 "$TMP/bookmark.out")"

# kill_during_load DB LOG ARGS...: run a 10 s load, kill -9 the leader after
# 3 s, wait for a new one and for the load; the killed node comes back.
kill_during_load() {
  local db=$1 out=$2 old pid new rc=0
  shift 2
  timeout 120 "$TEST_API" load "$all" "$db" 10 "$out" "$@" >"$out.log" 2>&1 &
  local load_pid=$!
  sleep 3
  old=$(wait_leader 10 "" 1 2 3)
  pid=$(cat "$dir/$old.pid")
  log "kill -9 leader node $old (pid $pid) after $(grep -c '^ok' "$out") acknowledged writes"
  kill -KILL "$pid"
  mapfile -t survivors < <(for i in 1 2 3; do [ "$i" = "$old" ] || echo "$i"; done)
  new=$(wait_leader 20 "$old" "${survivors[@]}")
  log "new leader: node $new"
  wait "$load_pid" || rc=$?
  cat "$out.log"
  wr cluster restart "$old" --dir "$dir" >/dev/null \
    || fail "walraft cluster restart $old failed"
  return "$rc"
}

# With sessions: every write resolved, none lost or doubled.
kill_during_load sessions "$TMP/s.keys" || fail "load with sessions"
grep -q 'sessions on' "$TMP/s.keys.log" \
  || log "NOTE: the nodes refused exactly-once sessions; the library fell back"
timeout 120 "$TEST_API" verify "$all" sessions "$TMP/s.keys" \
  || fail "a write was lost or doubled with sessions"
maybe=$(grep -c '^maybe' "$TMP/s.keys" || true)
log "with sessions: $(grep -c '^ok' "$TMP/s.keys") acknowledged, $maybe unknown"

# Without sessions: unknown outcomes are reported, never retried.
wait_leader 20 "" 1 2 3 >/dev/null
kill_during_load plain "$TMP/p.keys" --no-sessions || fail "load without sessions"
grep -q 'sessions off' "$TMP/p.keys.log" || fail "the load used sessions"
timeout 120 "$TEST_API" verify "$all" plain "$TMP/p.keys" \
  || fail "a write was lost or doubled without sessions"
log "without sessions: $(grep -c '^ok' "$TMP/p.keys") acknowledged, $(grep -c '^maybe' "$TMP/p.keys" || true) reported unknown"
grep -m 3 '^maybe' "$TMP/p.keys" || true

# Installed: header, both libraries and walraft.pc, and a program built
# with pkg-config alone runs.
inst="$TMP/inst"
timeout 120 cmake --install "$BIN" --prefix "$inst" >"$TMP/install.out" 2>&1 \
  || { cat "$TMP/install.out"; fail "cmake --install"; }
libdir=$(dirname "$(find "$inst" -name walraft.pc | head -n 1)")/..
[ -f "$inst/include/walraft.h" ] && [ -f "$libdir/libwalraft.a" ] \
  && [ -e "$libdir/libwalraft.so" ] || fail "install: files missing"
san=""
# (Not `nm | grep -q`: grep quitting early fails the pipe under pipefail.)
if nm -D "$BIN/libwalraft.so" | grep -c __asan >/dev/null; then
  san="-fsanitize=address,undefined"
fi
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror $san "$(dirname "$0")/../../client/examples/crud.c" \
  -o "$TMP/crud" $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs walraft) \
  || fail "building an example with pkg-config"
LD_LIBRARY_PATH="$libdir" timeout 60 "$TMP/crud" "$all" >/dev/null \
  || fail "the example built against the installed library"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror $san "$(dirname "$0")/../../client/examples/bookmark.c" \
  -o "$TMP/bookmark" $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags walraft) \
  "$libdir/libwalraft.a" || fail "linking an example with the static library"
timeout 60 "$TMP/bookmark" "$all" "$(addr "$follower")" >/dev/null \
  || fail "the example linked with the static library"
log "installed into $inst; examples built with pkg-config, shared and static, run"

#!/usr/bin/env bash
# Scenario: node 3 of a 3-node cluster keeps its data on faultfs, a FUSE
# passthrough that fails chosen operations with EIO, while 8 writers load
# the cluster and record every acknowledged key; each scenario ends with
# the faults cleared, node 3 restarted from its disk, and three identical
# images holding every acknowledged write (wr_load verify --exact).
#  a. Writes to a follower's raft segments fail: it stops with a "storage:"
#     error and the other two keep acknowledging writes.
#  b. Writes to the leader's raft segments fail: it stops, the other two
#     elect a leader and the writers carry on there.
#  c. Writes to a follower's SQLite files fail: checkpoints fail and are
#     retried one threshold of WAL frames later, not after every entry,
#     while the node keeps applying (its WAL is in memory), and the first
#     write of a database it creates stops it with a "state machine:"
#     error.
#  d. Renames, unlinks and truncates of a follower's raft files fail for a
#     while (raft_uv's U11, which it only traces): the node stops at the
#     first, and comes back from its disk with every acknowledged write.
#  e. Listing its raft directory fails at start (raft_uv's U10): the node
#     refuses to start, and starts whole once the directory can be read.
# Skipped (77) where faultfs cannot be mounted.
source "$(dirname "$0")/lib.sh"

skip() {
  log "SKIP: $*"
  exit 77
}
[ -n "${WR_FAULTFS:-}" ] \
  || skip "WR_FAULTFS is not set (faultfs is built only when pkg-config finds fuse3)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ "$(id -u)" -eq 0 ] || command -v fusermount3 >/dev/null \
  || skip "not root and no fusermount3"

dir="$TMP/c"
ctl="$TMP/faults"
fslog="$TMP/faultfs.log"
mkdir -p "$dir/3" "$TMP/disk3"
"$WR_FAULTFS" "$TMP/disk3" "$dir/3" "$ctl" -f 2>"$fslog" &
MOUNT_PIDS+=($!)
MOUNTS+=("$dir/3")
for ((i = 0; i < 100; i++)); do
  grep -q " $dir/3 fuse" /proc/mounts && break
  kill -0 "${MOUNT_PIDS[0]}" 2>/dev/null || break
  sleep 0.1
done
grep -q " $dir/3 fuse" /proc/mounts \
  || skip "cannot mount faultfs on $dir/3: $(tail -n 1 "$fslog")"
log "faultfs mounted on $dir/3 (backing $TMP/disk3)"

cluster_up "$dir" 3
all=$(addrs 1 2 3)

# faults RULE...: put these rules in force, replacing the others (none:
# no faults). A new file renamed over the old one, so faultfs sees a new
# inode even within one mtime tick.
faults() {
  printf '%s\n' "$@" >"$ctl.new"
  mv "$ctl.new" "$ctl"
  log "faults: ${*:-none}"
}

n_faults() { grep -c '^faultfs: fault ' "$fslog" || true; }
pid3() { cat "$dir/3.pid"; }
# gone PID: the process has exited and closed its files (its port too):
# each of its threads is gone or a zombie. (Its cmdline empties, and its
# main thread turns zombie, before the last thread releases the files;
# closing files on a FUSE mount takes a round trip or two.)
gone() {
  local t s
  for t in "/proc/$1/task/"*/stat; do
    s=$(awk '{print $3}' "$t" 2>/dev/null) || continue
    [ -z "$s" ] || [ "$s" = Z ] || [ "$s" = X ] || return 1
  done
}
up3() { is_ours "$(pid3)" && node_field "$(addr 3)" state; }

# node3_errors FROM_LINE: node 3's ERROR lines since that line of its log.
node3_errors() { tail -n +"$1" "$dir/3.log" | grep -E 'ERROR' || true; }

# follower3: make sure node 3 is not the leader.
follower3() {
  local l
  l=$(wait_leader 15 "" 1 2 3)
  if [ "$l" = 3 ]; then
    wr cluster transfer 1 --dir "$dir" >/dev/null || fail "transfer to node 1"
    wait_leader 15 3 1 2 >/dev/null
  fi
}

# load_start DB [SECONDS]: 8 writers for 14 s (or SECONDS) in the
# background, keys to $TMP/DB.keys.
load_start() {
  load --cluster "$all" --db "$1" --writers 8 --seconds "${2:-14}" \
    --out "$TMP/$1.keys" >"$TMP/$1.out" 2>"$TMP/$1.err" &
  load_pid=$!
}

# load_end DB AFTER_MS [EVENT]: the load succeeded and acknowledged writes
# after that time (when node 3 stopped, or EVENT).
load_end() {
  local rc=0 n what=${3:-node 3 stopped}
  wait "$load_pid" || rc=$?
  tail -n 1 "$TMP/$1.out"
  [ "$rc" -eq 0 ] || { tail -n 5 "$TMP/$1.err"; fail "wr_load on $1 failed (exit $rc)"; }
  n=$(count_ok "$TMP/$1.keys" "$2")
  [ "$n" -gt 0 ] || fail "no write on $1 acknowledged after $what"
  log "$n writes on $1 acknowledged after $what"
}

# restart_verify DB...: clear the faults, start node 3 again from its disk,
# and check that the three images of each DB are identical and hold exactly
# the acknowledged writes.
restart_verify() {
  local db t0
  faults
  is_ours "$(pid3)" && fail "node 3 should be down before its restart"
  t0=$(now_ms)
  wr cluster restart 3 --dir "$dir" >/dev/null || fail "restart node 3"
  for db in "$@"; do
    verify --cluster "$all" --db "$db" --keys "$TMP/$db.keys" --exact \
      --timeout 60 >"$TMP/verify.out" 2>&1 \
      || { cat "$TMP/verify.out"; fail "verify $db after node 3's restart"; }
  done
  log "node 3 restarted and caught up in $(( $(now_ms) - t0 )) ms: $* identical with every acknowledged write"
}

# stop_on_fault WHAT RULE...: with the load running, put RULE in force and
# wait until node 3 stops; check that its log says why.
stop_on_fault() {
  local what=$1 from pid t0 why
  shift
  from=$(($(wc -l <"$dir/3.log") + 1))
  pid=$(pid3)
  f0=$(n_faults)
  faults "$@"
  t0=$(now_ms)
  wait_for 20 "node 3 stops on $what" gone "$pid"
  stopped=$(now_ms)
  why=$(node3_errors "$from" | grep -E 'storage: ' | tail -n 1)
  [ -n "$why" ] || { node3_errors "$from"; fail "node 3 stopped on $what without a storage: error"; }
  log "node 3 stopped $((stopped - t0)) ms after the fault ($(($(n_faults) - f0)) faults injected): ${why#*ERROR}"
}

# --- a. A follower's segment writes fail ------------------------------
follower3
load_start eio_a
sleep 3
stop_on_fault "EIO writing its segments as a follower" "eio write raft/open-*"
load_end eio_a "$stopped"
restart_verify eio_a

# --- b. The leader's segment writes fail ------------------------------
wr cluster transfer 3 --dir "$dir" >/dev/null || fail "transfer to node 3"
[ "$(wait_leader 15 "" 1 2 3)" = 3 ] || fail "node 3 did not become leader"
load_start eio_b
sleep 3
stop_on_fault "EIO writing its segments as the leader" "eio write raft/open-*"
new=$(wait_leader 15 3 1 2)
log "node $new leads $(( $(now_ms) - stopped )) ms after node 3 stopped"
load_end eio_b "$stopped"
restart_verify eio_b

# --- c. A follower's SQLite files fail -------------------------------
follower3
load_start eio_c 10
sleep 2
from=$(($(wc -l <"$dir/3.log") + 1))
f0=$(n_faults)
faults "eio write db/*" "eio fsync db/*" "eio truncate db/*" "eio fallocate db/*"
fault_at=$(now_ms)
sleep 6
is_ours "$(pid3)" || { node3_errors "$from"; fail "node 3 stopped when only its checkpoints could fail"; }
t0=$(now_ms)
read -r applied < <(node_field "$(addr 3)" applied_index) || applied="no answer"
log "node 3 STATUS with its checkpoints failing: applied index $applied, in $(( $(now_ms) - t0 )) ms; leader's: $(node_field "$(addr "$(wait_leader 10 3 1 2)")" applied_index)"
nf=$(($(n_faults) - f0))
nw=$(tail -n +"$from" "$dir/3.log" | grep -c 'fsm: checkpoint' || true)
[ "$nf" -gt 0 ] || fail "no fault injected in node 3's database files in 6 s"
[ "$nw" -gt 0 ] || fail "$nf faults in node 3's database files, and no failed checkpoint logged"
[ "$nw" -le 200 ] || fail "$nw failed checkpoints in 6 s: retried after every entry, not a threshold of frames later"
log "node 3 runs on with $nf faults in its database files; $nw failed checkpoints logged, e.g.: $(tail -n +"$from" "$dir/3.log" | grep -m 1 'fsm: checkpoint' | sed 's/^.*WARN *//')"
load_end eio_c "$fault_at" "the database files began to fail"
# A database node 3 has never opened: creating its file on apply fails.
pid=$(pid3)
t0=$(now_ms)
wr exec -c "$all" --db eio_c_new "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT, writer INTEGER)" >/dev/null \
  || fail "create a database with node 3's database files failing"
wait_for 90 "node 3 stops when it cannot create a database file" gone "$pid"
why=$(node3_errors "$from" | grep -E 'state machine: ' | tail -n 1)
[ -n "$why" ] || { node3_errors "$from"; fail "node 3 stopped without a state machine: error"; }
log "node 3 stopped on apply, $(( $(now_ms) - t0 )) ms after the CREATE was acknowledged: ${why#*ERROR}"
: >"$TMP/eio_c_new.keys"
restart_verify eio_c eio_c_new

# --- d. Renames, unlinks and truncates of a follower's raft files ----
# raft_uv 0.15 does these in its finalize and truncate workers, which only
# set uv->errored and trace on failure (U11): nothing reaches the callbacks.
# A segment whose truncate or rename failed would stay "open-N" while later
# ones are closed under their index range, and at the next start raft_uv
# either finds the hole among the closed segments and refuses to start
# ("closed segment X-Y is past last snapshot") or, when a snapshot covers
# the hole, loads the stale open segments after the last closed one,
# renumbered: entries of the current term where the leader has others of
# that term, applied as committed. The node's tracer (raft/uv_watch.h)
# stops it at the first such trace, before another segment is closed, so
# the stale open-N still follows the last closed segment and loads in its
# place. Without the watch this scenario failed in three runs of four.
follower3
from=$(($(wc -l <"$dir/3.log") + 1))
f0=$(n_faults)
load --cluster "$all" --db eio_d --writers 8 --seconds 30 --value-size 16 \
  --out "$TMP/eio_d.keys" >"$TMP/eio_d.out" 2>"$TMP/eio_d.err" &
load_pid=$!
# A finalize truncates the segment, then renames it: first let the
# truncates through, so that the renames are reached. Then the disk heals
# while the node runs on (a transient fault), so later segments are
# finalized again.
faults "eio rename raft/*" "eio unlink raft/*"
sleep 10
faults "eio truncate raft/*" "eio unlink raft/*"
sleep 10
faults
wait "$load_pid" || fail "wr_load on eio_d failed"
tail -n 1 "$TMP/eio_d.out"
nf=$(($(n_faults) - f0))
grep '^faultfs: fault ' "$fslog" | tail -n +"$((f0 + 1))" | awk '{print $4}' \
  | sort | uniq -c | sed 's/^/  faults: /'
grep '^faultfs: fault ' "$fslog" | tail -n +"$((f0 + 1))" | head -n 5
ls -l "$TMP/disk3/raft" | sed 's/^/  raft: /'
if up3 >/dev/null; then
  node3_errors "$from"
  fail "U11: node 3 still runs after $nf failed renames/unlinks/truncates of its raft files"
fi
why=$(node3_errors "$from" | grep 'storage: raft_uv: ' | tail -n 1)
[ -n "$why" ] || { node3_errors "$from"; fail "U11: node 3 stopped, but not on raft_uv's trace"; }
log "node 3 stopped after $nf faults: ${why#*ERROR}"
faults
from=$(($(wc -l <"$dir/3.log") + 1))
wr cluster restart 3 --dir "$dir" >/dev/null \
  || fail "U11: node 3 does not start from its disk after $nf failed renames/unlinks/truncates while it ran on: $(tail -n +"$from" "$dir/3.log" | grep -m 1 ERROR | sed 's/^.*ERROR *//')"
verify --cluster "$all" --db eio_d --keys "$TMP/eio_d.keys" --exact \
  --timeout 60 >"$TMP/verify.out" 2>&1 \
  || { cat "$TMP/verify.out"; tail -n +"$from" "$dir/3.log" | head -n 20; fail "U11: verify eio_d after node 3's restart"; }
for db in eio_a eio_b eio_c; do
  verify --cluster "$all" --db "$db" --keys "$TMP/$db.keys" --exact \
    --timeout 60 >"$TMP/verify.out" 2>&1 \
    || { cat "$TMP/verify.out"; fail "U11: verify $db after node 3's restart"; }
done
log "U11: node 3 came back from its disk with every acknowledged write"

# --- e. Listing the raft directory fails at start ---------------------
# raft_uv lists its directory (UvList) to find segments and snapshots; in
# 0.15 some error paths of that listing lose the error (U10). A node that
# started from a listing cut short would run with a log shorter than the
# one it promised votes and acknowledgements on. It must refuse to start,
# and start whole once the directory can be read.
read -r last3 < <(node_field "$(addr 3)" last_index) || fail "node 3 STATUS"
pid=$(pid3)
wr cluster kill 3 --dir "$dir" >/dev/null || fail "kill node 3"
wait_for 10 "node 3 killed" gone "$pid"
# start_under_faults WHAT RULE...: restart node 3 with RULE in force; if
# it starts, its log must be no shorter than the $last3 it had. Sets
# from (its log's first new line) and nf (the faults injected).
start_under_faults() {
  local what=$1 after
  shift
  faults "$@"
  from=$(($(wc -l <"$dir/3.log") + 1))
  f0=$(n_faults)
  if wr cluster restart 3 --dir "$dir" >/dev/null 2>&1; then
    sleep 1
    read -r after < <(node_field "$(addr 3)" last_index) || after=""
    [ -z "$after" ] || [ "$after" -ge "$last3" ] \
      || fail "U10: node 3 started with last index $after after $what (it had $last3)"
  fi
  nf=$(($(n_faults) - f0))
}
start_under_faults "a failed listing" "eio readdir raft" "eio readdir raft/*"
[ "$nf" -gt 0 ] || fail "no readdir of node 3's raft directory failed at its start"
pid=$(pid3)
wait_for 20 "node 3 refuses to start on a directory it cannot list" gone "$pid"
why=$(node3_errors "$from" | tail -n 1)
[ -n "$why" ] || fail "node 3 stopped at start without an ERROR line"
log "node 3 refused to start after $nf failed listings: ${why#*ERROR}"
# The listing itself works, but each entry's stat fails.
start_under_faults "failed stats of its raft files" "eio getattr raft/*"
pid=$(pid3)
if is_ours "$pid"; then
  log "node 3 started whole (it had last index $last3) with $nf failed stats of its raft files"
  wr cluster kill 3 --dir "$dir" >/dev/null || fail "kill node 3"
  wait_for 10 "node 3 killed" gone "$pid"
else
  why=$(node3_errors "$from" | tail -n 1)
  [ -n "$why" ] || fail "node 3 stopped at start without an ERROR line"
  log "node 3 refused to start after $nf failed stats: ${why#*ERROR}"
fi
restart_verify eio_a eio_b eio_d

#!/usr/bin/env bash
# Scenario: a leader is paused (SIGSTOP) while the other two elect a new
# leader and take a write; the moment it is resumed (SIGCONT) it is asked
# for a linearizable read, at the default level and at LINEARIZABLE, and
# must answer the new value or refuse, never the old one. Then a follower
# is paused while the leader takes a write, resumed, and read from at
# once: the same rule. Three rounds of each. The second argument is the
# number of nodes (3, where a follower's question to the leader is enough
# to confirm, or 5, where the leader runs a CONFIRM round).
source "$(dirname "$0")/lib.sh"

n=${2:-3}
nodes=($(seq 1 "$n"))
dir="$TMP/c"
cluster_up "$dir" "$n"
all=$(addrs "${nodes[@]}")

# read_check NODE LEVEL WANT: a read on NODE at LEVEL answers WANT or is
# refused; print what happened.
read_check() {
  local node=$1 level=$2 want=$3 out rc=0
  out=$(timeout 30 "$WR_ENVELOPE" --read "$(addr "$node")" "$level") || rc=$?
  log "node $node, level $level, want $want: $out"
  case "$rc" in
    0) [ "$out" != "${out#value $want }" ] \
         || fail "node $node answered a stale read at level $level: $out (want $want)" ;;
    3) ;;
    *) fail "node $node: read at level $level failed (exit $rc): $out" ;;
  esac
}

value=1
"$WR_ENVELOPE" --write "$all" "$value" >/dev/null || fail "first write"
for round in 1 2 3; do
  old=$(wait_leader 15 "" "${nodes[@]}")
  pid=$(cat "$dir/$old.pid")
  log "round $round: SIGSTOP leader node $old"
  kill -STOP "$pid"
  mapfile -t others < <(for i in "${nodes[@]}"; do [ "$i" = "$old" ] || echo "$i"; done)
  new=$(wait_leader 15 "$old" "${others[@]}")
  value=$((value + 1))
  "$WR_ENVELOPE" --write "$(addrs "${others[@]}")" "$value" \
    || { kill -CONT "$pid"; fail "write $value on the new leader $new"; }
  kill -CONT "$pid"
  read_check "$old" 0 "$value"
  read_check "$old" 3 "$value"

  leader=$(wait_leader 15 "" "${nodes[@]}")
  f=$(for i in "${nodes[@]}"; do [ "$i" = "$leader" ] || echo "$i"; done | head -n 1)
  fpid=$(cat "$dir/$f.pid")
  log "round $round: SIGSTOP follower node $f"
  kill -STOP "$fpid"
  value=$((value + 1))
  "$WR_ENVELOPE" --write "$(addr "$leader")" "$value" \
    || { kill -CONT "$fpid"; fail "write $value with node $f paused"; }
  kill -CONT "$fpid"
  read_check "$f" 3 "$value"
  read_check "$f" 0 "$value"
done
log "no stale linearizable read in 3 rounds on $n nodes"

#!/usr/bin/env bash
# Scenario: a running 3-node cluster is grown to 5 with `walraft cluster add`
# twice (the new nodes become voters if the leader's voter target is 5 and
# standbys if it is 3); a follower voter is removed (with target 3 a standby
# is promoted in its place); leadership is transferred to a chosen voter;
# then that leader gets SIGTERM and hands leadership over, so a new leader
# is in place sooner than an election timeout (1 s); it exits, is restarted,
# and all members end with the same database and every acknowledged write.
source "$(dirname "$0")/lib.sh"

dir="$TMP/c"
cluster_up "$dir" 3
keys="$TMP/keys"
load --cluster "$(addrs 1 2 3)" --db members --writers 8 --seconds 2 \
  --out "$keys" --no-errors || fail "load on 3 nodes failed"

leader=$(wait_leader 10 "" 1 2 3)
read -r target < <(node_field "$(addr "$leader")" voter_target) \
  || fail "no STATUS from the leader"
log "leader node $leader, voter target $target"
case "$target" in
  3) new_role=standby ;;
  5) new_role=voter ;;
  *) fail "unexpected voter target $target" ;;
esac

# role_of DIR ID: the role `cluster status` reports for node ID.
role_of() { status_rows "$1" | awk -F'\t' -v id="$2" '$1 == id {print $2}'; }
has_role() { [ "$(role_of "$1" "$2")" = "$3" ]; }

for id in 4 5; do
  log "cluster add (node $id)"
  wr cluster add --dir "$dir" || fail "walraft cluster add failed"
  wait_for 30 "node $id becomes $new_role" has_role "$dir" "$id" "$new_role"
done
log "status after growing:"$'\n'"$(status_rows "$dir")"
members=(1 2 3 4 5)
load --cluster "$(addrs "${members[@]}")" --db members --writers 8 --seconds 2 \
  --out "$keys" --no-errors || fail "load on 5 nodes failed"

leader=$(wait_leader 10 "" "${members[@]}")
victim=$(for i in 1 2 3; do [ "$i" = "$leader" ] || echo "$i"; done | head -n 1)
vpid=$(cat "$dir/$victim.pid")
log "cluster remove $victim (pid $vpid; leader is $leader)"
wr cluster remove "$victim" --dir "$dir" || fail "walraft cluster remove $victim failed"
mapfile -t members < <(for i in "${members[@]}"; do [ "$i" = "$victim" ] || echo "$i"; done)
listed_by_leader() {
  local l servers
  l=$(leader_of "${members[@]}") || return 1
  read -r servers < <(node_field "$(addr "$l")" servers) || return 1
  ! grep -q "\"id\": *${victim}[,}]" <<<"$servers"
}
wait_for 30 "node $victim leaves the configuration" listed_by_leader
wait_for 15 "removed node $victim (pid $vpid) stops" \
  bash -c "! grep -q walraftd /proc/$vpid/cmdline 2>/dev/null"
want_voters=$(( target < 4 ? target : 4 ))
voters_now() { [ "$(status_rows "$dir" | awk -F'\t' '$2 == "voter" && $6 == "true"' | wc -l)" -eq "$want_voters" ]; }
wait_for 30 "$want_voters voters after the removal" voters_now
log "status after removing node $victim:"$'\n'"$(status_rows "$dir")"

leader=$(wait_leader 10 "" "${members[@]}")
to=$(status_rows "$dir" | awk -F'\t' -v l="$leader" -v v="$victim" \
  '$2 == "voter" && $1 != l && $1 != v {print $1}' | tail -n 1)
[ -n "$to" ] || fail "no voter to transfer leadership to"
log "cluster transfer $to (from $leader)"
wr cluster transfer "$to" --dir "$dir" || fail "walraft cluster transfer $to failed"
is_leader() { [ "$(leader_of "${members[@]}")" = "$1" ]; }
wait_for 10 "node $to leads after the transfer" is_leader "$to"

pid=$(cat "$dir/$to.pid")
mapfile -t others < <(for i in "${members[@]}"; do [ "$i" = "$to" ] || echo "$i"; done)
t0=$(now_ms)
log "SIGTERM to leader node $to (pid $pid)"
kill -TERM "$pid"
new=$(wait_leader 10 "$to" "${others[@]}")
took=$(( $(now_ms) - t0 ))
log "new leader node $new after $took ms"
[ "$took" -lt 1000 ] || fail "new leader after $took ms: no handover before the exit"
wait_for 30 "node $to exits after SIGTERM" \
  bash -c "! grep -q walraftd /proc/$pid/cmdline 2>/dev/null"
grep -iE 'transfer|hand' "$dir/$to.log" | tail -n 3 || true

log "restart node $to"
wr cluster restart "$to" --dir "$dir" || fail "walraft cluster restart $to failed"
load --cluster "$(addrs "${members[@]}")" --db members --writers 8 --seconds 2 \
  --out "$keys" --no-errors || fail "load after the handover failed"
verify --cluster "$(addrs "${members[@]}")" --db members --keys "$keys" --exact \
  || fail "verify failed"

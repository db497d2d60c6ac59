#!/usr/bin/env bash
# Scenario: `walraft cluster up` forms a 3-node and then a 5-node cluster on
# loopback; each has exactly one leader and every node is an up voter, as
# both `walraft cluster status --format json` and every node's own STATUS
# say; `walraft cluster down` stops every process.
source "$(dirname "$0")/lib.sh"

# check_formed DIR N: N rows, all up voters, exactly one leader, and the
# nodes agree on it.
check_formed() {
  local dir=$1 n=$2 rows
  rows=$(status_rows "$dir")
  log "status:"$'\n'"$rows"
  [ "$(wc -l <<<"$rows")" -eq "$n" ] || fail "status lists $(wc -l <<<"$rows") nodes, expected $n"
  [ "$(awk -F'\t' '$2 == "voter" && $6 == "true"' <<<"$rows" | wc -l)" -eq "$n" ] \
    || fail "not every node is an up voter"
  local ids
  ids=$(seq 1 "$n")
  local leader
  # shellcheck disable=SC2086
  leader=$(wait_leader 10 "" $ids)
  log "leader: node $leader"
  local i servers
  for i in $ids; do
    read -r servers < <(node_field "$(addr "$i")" servers) || fail "node $i: no STATUS"
    local voters
    voters=$(grep -o '"role": *"voter"' <<<"$servers" | wc -l)
    [ "$voters" -eq "$n" ] || fail "node $i's STATUS lists $voters voters, expected $n: $servers"
  done
}

# check_down DIR N: no process of the cluster is left.
check_down() {
  local dir=$1 n=$2 i pid
  for i in $(seq 1 "$n"); do
    [ -f "$dir/$i.pid" ] || continue
    pid=$(cat "$dir/$i.pid")
    wait_for 10 "node $i (pid $pid) exits after cluster down" \
      bash -c "! grep -q walraftd /proc/$pid/cmdline 2>/dev/null"
  done
}

cluster_up "$TMP/three" 3
check_formed "$TMP/three" 3
wr cluster down --dir "$TMP/three" || fail "cluster down failed"
check_down "$TMP/three" 3

PORT=$((PORT + 10))
cluster_up "$TMP/five" 5
check_formed "$TMP/five" 5
wr cluster down --dir "$TMP/five" || fail "cluster down failed"
check_down "$TMP/five" 5

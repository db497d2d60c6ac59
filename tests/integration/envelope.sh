#!/usr/bin/env bash
# Scenario: on a 3-node cluster, requests in walraft's envelope get answers
# that carry bookmarks (strictly increasing for writes, no older than the
# last write for reads) and failures marked definite, while plain dqlite
# requests on the same connection get plain answers (test_envelope.c);
# linearizable reads on a follower under writes go to the leader at once
# on its vouch, without errors.
source "$(dirname "$0")/lib.sh"

cluster_up "$TMP/c" 3
timeout 120 "$WR_ENVELOPE" --addresses "$(addrs 1 2 3)" \
  || fail "test_envelope failed"

# Level NONE with a staleness bound on a follower whose leader is paused:
# refused once the bound has passed, answered when unbounded.
leader=$(wait_leader 10 "" 1 2 3)
follower=$(for i in 1 2 3; do [ "$i" = "$leader" ] || echo "$i"; done | head -n 1)
pid=$(cat "$TMP/c/$leader.pid")
log "SIGSTOP leader node $leader (pid $pid); reading on node $follower"
kill -STOP "$pid"
sleep 0.6
"$WR_ENVELOPE" --stale "$(addr "$follower")" 300 \
  || { kill -CONT "$pid"; fail "a read bounded to 300 ms was answered 600 ms after the leader stopped"; }
"$WR_ENVELOPE" --stale "$(addr "$follower")" 0 \
  || { kill -CONT "$pid"; fail "an unbounded NONE read was refused"; }
kill -CONT "$pid"

# Linearizable reads on a follower while writes are in flight: past the
# first few, which find the follower behind its read index, they go to the
# leader at once on the follower's vouch (node/gateway.c read_direct()),
# and none fails.
leader=$(wait_leader 10 "" 1 2 3)
follower=$(for i in 1 2 3; do [ "$i" = "$leader" ] || echo "$i"; done | head -n 1)
out=$(wr bench -c "$(addr "$follower"),$(addr "$leader")" --db bench \
  --workload kvreadwrite --workers 1 --duration 2 --consistency linearizable \
  --json 2>/dev/null) || fail "walraft bench kvreadwrite failed"
errors=$("$WR_LOAD" json errors <<<"$out")
[ "$errors" = 0 ] || fail "kvreadwrite: $errors errors"
read -r direct < <(node_field "$(addr "$follower")" reads_sent_direct)
read -r vouched < <(node_field "$(addr "$leader")" reads_vouched)
log "kvreadwrite on follower $follower: $direct reads sent at once, $vouched served by leader $leader on a vouch"
[ "${direct:-0}" -gt 0 ] && [ "${vouched:-0}" -gt 0 ] \
  || fail "no linearizable read went to the leader at once"

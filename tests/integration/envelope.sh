#!/usr/bin/env bash
# Scenario: on a 3-node cluster, requests in walraft's envelope get answers
# that carry bookmarks (strictly increasing for writes, no older than the
# last write for reads) and failures marked definite, while plain dqlite
# requests on the same connection get plain answers (test_envelope.c).
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

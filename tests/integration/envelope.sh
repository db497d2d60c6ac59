#!/usr/bin/env bash
# Scenario: on a 3-node cluster, requests in walraft's envelope get answers
# that carry bookmarks (strictly increasing for writes, no older than the
# last write for reads) and failures marked definite, while plain dqlite
# requests on the same connection get plain answers (test_envelope.c).
source "$(dirname "$0")/lib.sh"

cluster_up "$TMP/c" 3
timeout 120 "$WR_ENVELOPE" --addresses "$(addrs 1 2 3)" \
  || fail "test_envelope failed"

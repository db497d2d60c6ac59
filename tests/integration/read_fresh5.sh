#!/usr/bin/env bash
# Scenario: read_fresh.sh on 5 nodes, where a linearizable read on a
# follower needs the leader's CONFIRM round with the other voters.
exec bash "$(dirname "$0")/read_fresh.sh" "$1" 5

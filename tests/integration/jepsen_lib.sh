# Shared by the jepsen_*.sh tests (sourced, never run).

# stop_clusters DIR: the backstop for a walraft-jepsen that died before
# healing and stopping its clusters: wake any node it left paused, then
# stop every cluster under DIR/*/cluster.
stop_clusters() {
  local d f pid
  for d in "$1"/*/cluster; do
    [ -d "$d" ] || continue
    for f in "$d"/*.pid; do
      pid=$(cat "$f" 2>/dev/null)
      [[ $pid =~ ^[0-9]+$ ]] && grep -q walraftd "/proc/$pid/cmdline" \
        2>/dev/null && kill -CONT "$pid"
    done
    timeout 60 "$WALRAFT" cluster down --dir "$d" >/dev/null 2>&1
  done
}

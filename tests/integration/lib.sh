# Shared by the process tests (sourced, never run). It sets up one
# temporary directory per test, brings every cluster and process the test
# started down when the script exits, however it exits, and prints the
# nodes' last log lines when it failed.
#
# Environment (process.cmake sets it): WALRAFT, WALRAFTD, WR_LOAD,
# WR_PROCESS_TMP. The script's first argument is the first port of its range.

set -euo pipefail

: "${WALRAFT:?WALRAFT must name the walraft command}"
: "${WALRAFTD:?WALRAFTD must name walraftd}"
: "${WR_LOAD:?WR_LOAD must name wr_load}"
: "${WR_PROCESS_TMP:?WR_PROCESS_TMP must name a directory}"

PORT=${1:?usage: $0 FIRST_PORT}
TEST_NAME=$(basename "$0" .sh)
mkdir -p "$WR_PROCESS_TMP"
TMP=$(mktemp -d "$WR_PROCESS_TMP/$TEST_NAME.XXXXXX")
CLUSTER_DIRS=()  # brought down by cleanup
DIRECT_PIDS=()   # walraftd processes this script started itself
MOUNTS=()        # unmounted by cleanup, once the nodes are gone
MOUNT_PIDS=()    # FUSE daemons serving MOUNTS, waited for once unmounted

log() { echo "[$(date -u +%H:%M:%S.%3N)] $TEST_NAME: $*"; }
fail() {
  log "FAIL: $*" >&2
  exit 1
}
now_ms() { date +%s%3N; }

# Kill the process in pid file $1 if it is still a walraftd of ours.
kill_pidfile() {
  local f=$1 pid
  pid=$(cat "$f" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if grep -q walraftd "/proc/$pid/cmdline" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# is_ours PID: PID is still one of our walraftd processes.
is_ours() { grep -q walraftd "/proc/$1/cmdline" 2>/dev/null; }

cleanup() {
  local rc=$?
  set +e
  local d f pid i pids=()
  # Note the pids first: `cluster down` may delete the pid files before the
  # processes are gone, and a node still writing would defeat rm -rf.
  while IFS= read -r f; do
    pid=$(cat "$f" 2>/dev/null)
    [[ $pid =~ ^[0-9]+$ ]] && pids+=("$pid")
  done < <(find "$TMP" -name '*.pid' 2>/dev/null)
  # A terminal a test drove (shell.sh).
  [ -S "$TMP/tmux.sock" ] && tmux -S "$TMP/tmux.sock" kill-server 2>/dev/null
  for d in "${CLUSTER_DIRS[@]}"; do
    timeout 60 "$WALRAFT" cluster down --dir "$d" >/dev/null 2>&1
  done
  for pid in "${DIRECT_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # Whatever `cluster down` did not stop within 15 s (it failed, or the
  # test was cut short): only processes named in our own pid files.
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 150; i++)); do
      is_ours "$pid" || break
      sleep 0.1
    done
    is_ours "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  while IFS= read -r f; do kill_pidfile "$f"; done \
    < <(find "$TMP" -name '*.pid' 2>/dev/null)
  for d in "${MOUNTS[@]}"; do
    umount "$d" 2>/dev/null || fusermount3 -u "$d" 2>/dev/null \
      || umount -l "$d" 2>/dev/null
  done
  # An unmounted FUSE daemon exits by itself (and writes its sanitizer
  # report, if any, before the check below); a zombie has exited.
  for pid in "${MOUNT_PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do
      case "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" in
        Z | "") break ;;
      esac
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # A sanitizer report in any node's log fails the test, whatever else
  # happened (the node may have been restarted since).
  if [ "$rc" -eq 0 ]; then
    while IFS= read -r f; do
      if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$f"; then
        log "FAIL: sanitizer report in $f:" >&2
        grep -m 20 -E 'Sanitizer|runtime error:|^    #' "$f" >&2
        rc=1
      fi
    done < <(find "$TMP" -name '*.log' 2>/dev/null | sort)
  fi
  if [ "$rc" -ne 0 ]; then
    while IFS= read -r f; do
      echo "----- last lines of $f" >&2
      tail -n 40 "$f" >&2
    done < <(find "$TMP" -name '*.log' 2>/dev/null | sort)
    log "failed (exit $rc)" >&2
  else
    log "passed"
  fi
  for ((i = 0; i < 3; i++)); do
    rm -rf "$TMP" 2>/dev/null && break
    sleep 0.5
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run the walraft command, bounded.
wr() { timeout 120 "$WALRAFT" "$@"; }

addr() { echo "127.0.0.1:$((PORT + $1 - 1))"; }

# addrs I J ...: comma-separated addresses of those nodes.
addrs() {
  local out="" i
  for i in "$@"; do out+="${out:+,}$(addr "$i")"; done
  echo "$out"
}

# cluster_up DIR NODES: `walraft cluster up` on this test's ports.
cluster_up() {
  local dir=$1 nodes=$2
  CLUSTER_DIRS+=("$dir")
  log "cluster up --nodes $nodes --dir $dir --port $PORT"
  wr cluster up --nodes "$nodes" --dir "$dir" --port "$PORT" \
    || fail "walraft cluster up --nodes $nodes failed"
}

# status_rows DIR: one line per node, "id role leader applied lag up".
status_rows() {
  wr cluster status --dir "$1" --format json \
    | "$WR_LOAD" json id role leader applied lag up
}

# node_field ADDRESS FIELD...: fields of one node's STATUS (tab-separated).
node_field() {
  local a=$1
  shift
  timeout 10 "$WR_LOAD" status --address "$a" 2>/dev/null \
    | "$WR_LOAD" json "$@" 2>/dev/null
}

# leader_of I J ...: the id of the node that those nodes agree leads, when
# it is among them and says so itself; fails otherwise.
leader_of() {
  local i state lid leader=""
  for i in "$@"; do
    read -r state lid < <(node_field "$(addr "$i")" state leader_id) \
      || continue
    if [ -z "${lid:-}" ] || [ "$lid" = 0 ] || [ "$lid" = - ]; then
      continue
    fi
    if [ -z "$leader" ]; then
      leader=$lid
    elif [ "$leader" != "$lid" ]; then
      return 1
    fi
  done
  [ -n "$leader" ] || return 1
  read -r state < <(node_field "$(addr "$leader")" state) || return 1
  [ "${state,,}" = leader ] || return 1
  echo "$leader"
}

# wait_for SECONDS DESCRIPTION COMMAND...: run COMMAND every 100 ms until it
# succeeds; fail the test after SECONDS.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000))
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "timed out after ${secs}s: $what"
    sleep 0.1
  done
}

# wait_leader SECONDS [EXCEPT] I J ...: print the leader once there is one
# (other than EXCEPT, if not empty).
wait_leader() {
  local secs=$1 except=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000)) l
  while :; do
    if l=$(leader_of "$@") && [ "$l" != "$except" ]; then
      echo "$l"
      return 0
    fi
    [ "$(now_ms)" -lt "$deadline" ] \
      || fail "no leader among nodes $* (other than '$except') after ${secs}s"
    sleep 0.1
  done
}

# count_voters DIR: number of nodes that are up voters, per cluster status.
count_voters() {
  status_rows "$1" | awk -F'\t' '$2 == "voter" && $6 == "true"' | wc -l
}

# load ARGS...: wr_load load, bounded by its own --seconds plus a margin.
load() { timeout 300 "$WR_LOAD" load "$@"; }
verify() { timeout 180 "$WR_LOAD" verify "$@"; }

# count_ok FILE [AFTER_MS]: acknowledged writes (after a time, if given).
count_ok() {
  awk -v t="${2:-0}" '$1 == "ok" && $3 > t' "$1" | wc -l
}

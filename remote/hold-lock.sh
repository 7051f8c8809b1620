# shellcheck shell=sh
# hold-lock RUN SECONDS [WHO...]: takes the host-wide lock for run RUN, waiting at most SECONDS for
# another run to release it, prints "locked", and holds it until stdin ends (the run closes it, or
# the SSH connection drops). Then it waits for the run's commands still in flight (`locked` holds a
# shared lock on inflight) and releases. flock locks die with their process, so no kill can leave a
# stale lock behind.
# Exit: 0 released, 75 another run holds the lock (its owner line on stderr).

cmd_hold_lock() {
  [ $# -ge 2 ] || die "$MI_EXIT_USAGE" "usage: hold-lock RUN SECONDS [WHO...]"
  run=$1
  wait_s=$2
  shift 2
  mkdir -p "$MI_RUN_DIR" && chmod 700 "$MI_RUN_DIR" || exit "$MI_EXIT_FAILED"
  exec 9>"$MI_RUN_DIR/lock"
  if ! flock -w "$wait_s" 9; then
    die "$MI_EXIT_LOCKED" "the host is locked by another run ($(cat "$MI_RUN_DIR/owner" 2>/dev/null || echo unknown)); it still held the lock after $wait_s s"
  fi
  printf '%s %s\n' "$run" "$*" >"$MI_RUN_DIR/owner"
  echo locked
  cat >/dev/null
  exec 8>"$MI_RUN_DIR/inflight"
  flock 8
  rm -f "$MI_RUN_DIR/owner"
}

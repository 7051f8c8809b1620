# shellcheck shell=sh
# locked RUN -- COMMAND [ARG...]: runs COMMAND only while run RUN holds the host lock (hold-lock),
# and marks it in flight so the lock is not released under it.
# Exit: COMMAND's status, or 75 when RUN does not hold the lock.

cmd_locked() {
  [ $# -ge 3 ] && [ "$2" = -- ] || die "$MI_EXIT_USAGE" "usage: locked RUN -- COMMAND [ARG...]"
  run=$1
  shift 2
  # In flight first, then the check: the holder cannot release between the two (it waits for
  # every in-flight command before it lets go).
  exec 8>"$MI_RUN_DIR/inflight"
  flock -s 8
  owner=$(cut -d' ' -f1 "$MI_RUN_DIR/owner" 2>/dev/null)
  # A free lock means the holder is gone (its link dropped): nothing of this run may change the host.
  if [ "$owner" != "$run" ] || flock -n "$MI_RUN_DIR/lock" true; then
    die "$MI_EXIT_LOCKED" "run $run does not hold the host lock; not running $1"
  fi
  exec "$@"
}

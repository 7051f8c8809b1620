# shellcheck shell=sh
# wait-ready PORT [SECONDS]: polls http://127.0.0.1:PORT/readyz every 0.5 s until it answers 2xx
# (default bound 30 s), so a release that cannot reach MariaDB is caught. On failure the unit's last
# journal lines come first and the verdict last, since failures are reported by their last lines.
# Exit: 0 ready, 12 not ready.

wait_ready() {
  bound=${2:-30}
  i=0
  until curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge $((bound * 2)) ]; then
      journalctl -u "messenger-chat@$1" -n 5 --no-pager -o cat >&2 || true
      say "instance on port $1 not ready after $bound s"
      return 1
    fi
    sleep 0.5
  done
}

cmd_wait_ready() {
  wait_ready "${1:?usage: wait-ready PORT [SECONDS]}" "${2:-30}" || exit "$MI_EXIT_NOT_READY"
}

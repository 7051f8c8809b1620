# shellcheck shell=sh
# wait-ready PORT [SECONDS [PATH]]: polls http://127.0.0.1:PORT/PATH (default /readyz) every 0.5 s
# until it answers 2xx (default bound 30 s), so a release that cannot reach MariaDB is caught. On failure the unit's last
# journal lines come first and the verdict last, since failures are reported by their last lines.
# Exit: 0 ready, 12 not ready.

wait_ready() {
  bound=${2:-30}
  i=0
  why="within $bound s"
  until curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1${3:-/readyz}" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge $((bound * 2)) ]; then
      # The app's own last lines (its SyslogIdentifier), then how the unit ended: systemd's noise left out.
      journalctl -t "messenger-chat-$1" -n 5 --no-pager -o cat >&2 || true
      systemctl show -p ActiveState -p Result -p ExecMainStatus "messenger-chat@$1" 2>/dev/null | tr '\n' ' ' >&2
      printf '\n' >&2
      say "instance on port $1 did not answer ${3:-/readyz} with 2xx $why"
      return 1
    fi
    # A unit that exited, or keeps crashing (systemd restarts it forever: StartLimitIntervalSec=0),
    # will not come back within the bound: say so now, not after it.
    if [ "$i" -ge 4 ]; then
      case $(systemctl is-active "messenger-chat@$1" 2>/dev/null) in
        failed | inactive) why="(it exited; its last lines are above)" && i=$((bound * 2)) && continue ;;
      esac
      restarts=$(systemctl show -p NRestarts --value "messenger-chat@$1" 2>/dev/null)
      case $restarts in
        '' | *[!0-9]*) ;;
        *) [ "$restarts" -lt 2 ] || { why="(it crashed $restarts times; its last lines are above)" && i=$((bound * 2)) && continue; } ;;
      esac
    fi
    sleep 0.5
  done
}

cmd_wait_ready() {
  wait_ready "${1:?usage: wait-ready PORT [SECONDS [PATH]]}" "${2:-30}" "${3:-/readyz}" || exit "$MI_EXIT_NOT_READY"
}

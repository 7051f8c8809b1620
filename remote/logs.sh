# shellcheck shell=sh
# logs [-f] [-n N] [--since TIME] [--nginx] [UNIT...]: the journal of UNITs and nginx's own log files,
# each line tagged by its source for the operator's machine to merge by time:
#   J <journal line, short-iso-precise>     A <access.log line (JSON)>     E <error.log line>
# -f follows until stdin ends (the operator's Ctrl-C closes the SSH channel), then stops every reader.

# reader TAG COMMAND...: COMMAND's lines, tagged, in the background; its PID is kept to stop it.
reader() {
  tag=$1
  shift
  {
    "$@" 2>/dev/null &
    echo "$!" >>"$LOG_PIDS"
    wait
  } | sed -u "s/^/$tag /" &
}

cmd_logs() {
  follow=''
  lines=100
  since=''
  nginx=''
  while [ $# -gt 0 ]; do
    case $1 in
      -f) follow=1 && shift ;;
      -n) lines=${2:?} && shift 2 ;;
      --since) since=${2:?} && shift 2 ;;
      --nginx) nginx=1 && shift ;;
      --) shift && break ;;
      -*) die "$MI_EXIT_USAGE" "logs: unknown option $1" ;;
      *) break ;;
    esac
  done
  case $lines in '' | *[!0-9]*) die "$MI_EXIT_USAGE" "logs: -n takes a number" ;; esac
  LOG_PIDS=$(mktemp) || exit "$MI_EXIT_FAILED"
  if [ $# -gt 0 ]; then
    for u in "$@"; do set -- "$@" -u "$u"; shift; done
    set -- journalctl --no-pager --quiet -o short-iso-precise -n "$lines" "$@"
    [ -n "$since" ] && set -- "$@" --since "$since"
    [ -n "$follow" ] && set -- "$@" -f
    reader J "$@"
  fi
  if [ -n "$nginx" ]; then
    for f in access:A error:E; do
      file=/var/log/nginx/${f%%:*}.log
      [ -r "$file" ] || continue
      if [ -n "$follow" ]; then reader "${f#*:}" tail -n "$lines" -F "$file"; else reader "${f#*:}" tail -n "$lines" "$file"; fi
    done
  fi
  if [ -n "$follow" ]; then
    # The readers run until the operator goes away: stdin ends when the SSH channel closes.
    trap 'stop_readers; exit 0' HUP INT TERM PIPE
    cat >/dev/null
    stop_readers
  fi
  wait
  rm -f "$LOG_PIDS"
}

stop_readers() {
  # shellcheck disable=SC2046 # PIDs, one per line
  kill $(cat "$LOG_PIDS") 2>/dev/null
  rm -f "$LOG_PIDS"
}

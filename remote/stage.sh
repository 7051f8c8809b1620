# shellcheck shell=sh
# stage PATH OWNER GROUP MODE: writes stdin to PATH.mi-new with that owner and mode; the live file is
# untouched until `activate` or `release` swaps it in.

cmd_stage() {
  [ $# -eq 4 ] || die "$MI_EXIT_USAGE" "usage: stage PATH OWNER GROUP MODE"
  mkdir -p "$(dirname "$1")" || exit "$MI_EXIT_FAILED"
  (umask 077 && cat >"$1.mi-new") || exit "$MI_EXIT_FAILED"
  chown "$2:$3" "$1.mi-new" && chmod "$4" "$1.mi-new" || exit "$MI_EXIT_FAILED"
}

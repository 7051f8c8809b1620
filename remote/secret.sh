# shellcheck shell=sh
# secret set FILE KEY generate|stdin: writes KEY=VALUE into FILE (0600 root) atomically; VALUE is
#   generated (48 alphanumerics) or read from stdin. Values never appear in argv or output.
# secret write FILE [--derive KEY SRCFILE SRCKEY PREFIX SUFFIX]...: replaces FILE (0600 root,
#   atomically) with the KEY=VALUE lines on stdin (a user's app secrets) and, per --derive, the line
#   KEY=PREFIX<SRCKEY's value in SRCFILE>SUFFIX (the database password or URL, composed here so the
#   password never leaves the host).
# secret get FILE KEY: prints KEY's value (for the operator's machine only, over SSH).
# The file is data in systemd's EnvironmentFile format, never sourced as shell.

# secret_value FILE KEY: the first value of KEY in FILE.
secret_value() {
  sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n1
}

cmd_secret() {
  case ${1:-} in
    set)
      [ $# -eq 4 ] || die "$MI_EXIT_USAGE" "usage: secret set FILE KEY generate|stdin"
      f=$2 k=$3
      umask 077
      mkdir -p "$(dirname "$f")" && touch "$f" || exit "$MI_EXIT_FAILED"
      if [ "$4" = generate ]; then
        v=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc A-Za-z0-9 | head -c 48)
      else
        v=$(cat)
      fi
      [ -n "$v" ] || die "$MI_EXIT_FAILED" "empty value for $k"
      { grep -v "^$k=" "$f" || true; printf '%s=%s\n' "$k" "$v"; } >"$f.mi-new" &&
        chown root:root "$f.mi-new" && chmod 600 "$f.mi-new" && mv -f "$f.mi-new" "$f" || exit "$MI_EXIT_FAILED"
      ;;
    write)
      [ $# -ge 2 ] || die "$MI_EXIT_USAGE" "usage: secret write FILE [--derive KEY SRCFILE SRCKEY PREFIX SUFFIX]..."
      f=$2
      shift 2
      umask 077
      mkdir -p "$(dirname "$f")" && cat >"$f.mi-new" || exit "$MI_EXIT_FAILED"
      while [ $# -gt 0 ]; do
        [ "$1" = --derive ] && [ $# -ge 6 ] || die "$MI_EXIT_USAGE" "secret write: bad --derive"
        v=$(secret_value "$3" "$4")
        [ -n "$v" ] || die "$MI_EXIT_FAILED" "no $4 in $3 to derive $2 from"
        printf '%s=%s%s%s\n' "$2" "$5" "$v" "$6" >>"$f.mi-new" || exit "$MI_EXIT_FAILED"
        shift 6
      done
      chown root:root "$f.mi-new" && chmod 600 "$f.mi-new" && mv -f "$f.mi-new" "$f" || exit "$MI_EXIT_FAILED"
      ;;
    get)
      [ $# -eq 3 ] || die "$MI_EXIT_USAGE" "usage: secret get FILE KEY"
      secret_value "$2" "$3"
      ;;
    *) die "$MI_EXIT_USAGE" "usage: secret set|write|get ..." ;;
  esac
}

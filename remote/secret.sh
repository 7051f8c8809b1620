# shellcheck shell=sh
# secret set FILE KEY generate|stdin: writes KEY=VALUE into FILE (0600 root) atomically; VALUE is
#   generated (48 alphanumerics) or read from stdin. Values never appear in argv or output.
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
    get)
      [ $# -eq 3 ] || die "$MI_EXIT_USAGE" "usage: secret get FILE KEY"
      secret_value "$2" "$3"
      ;;
    *) die "$MI_EXIT_USAGE" "usage: secret set|get ..." ;;
  esac
}

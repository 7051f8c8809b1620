# shellcheck shell=sh
# db-shell DB USER SECRETFILE KEY: the `mariadb` client on DB as USER, whose password is KEY's value in
# SECRETFILE (the host's 0600 secrets file). The password goes into an option file readable by root
# only, removed when the client ends: never in argv, where `ps` would show it, nor over the wire.

# shellcheck source=remote/secret.sh
. "$MI_DIR/secret.sh"

cmd_db_shell() {
  [ $# -eq 4 ] || die "$MI_EXIT_USAGE" "usage: db-shell DB USER SECRETFILE KEY"
  case "$1$2" in '' | *[!a-z0-9_]*) die "$MI_EXIT_USAGE" "db-shell: bad database or user name" ;; esac
  password=$(secret_value "$3" "$4")
  [ -n "$password" ] || die "$MI_EXIT_FAILED" "no $4 in $3; run \`messenger-infra up\` first"
  umask 077
  mkdir -p "$MI_RUN_DIR" || exit "$MI_EXIT_FAILED"
  opts=$(mktemp "$MI_RUN_DIR/db-shell.XXXXXX") || exit "$MI_EXIT_FAILED"
  trap 'rm -f "$opts"' EXIT
  # Ctrl-C belongs to the client (it cancels the running query); a no-op handler, not an ignored
  # signal, so the client gets the default disposition back at exec.
  trap : INT
  trap 'exit 129' HUP TERM
  # Generated passwords are alphanumeric: no quoting is needed in the option file.
  printf '[client]\nuser=%s\npassword=%s\n' "$2" "$password" >"$opts" || exit "$MI_EXIT_FAILED"
  mariadb --defaults-extra-file="$opts" --default-character-set=utf8mb4 "$1"
}

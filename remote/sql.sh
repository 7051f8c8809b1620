# shellcheck shell=sh
# sql [--secret VAR=FILE:KEY]...: runs the SQL on stdin with the `mariadb` client as root (unix
# socket). Each --secret defines the user variable @VAR from a value of the host's secrets file, so
# the SQL can use a password that never crosses the wire and is never expanded by a shell: the
# statements arrive as they were written.

# shellcheck source=remote/secret.sh
. "$MI_DIR/secret.sh"

cmd_sql() {
  prelude=''
  while [ $# -gt 0 ]; do
    case $1 in
      --secret)
        spec=${2:?}
        var=${spec%%=*} rest=${spec#*=}
        value=$(secret_value "${rest%%:*}" "${rest#*:}")
        # Generated values are alphanumeric; anything else could break out of the SQL string.
        case $value in
          '' | *[!A-Za-z0-9._~+/=-]*) die "$MI_EXIT_FAILED" "secret ${rest#*:} in ${rest%%:*} is missing or has characters outside A-Z a-z 0-9 . _ ~ + / = -" ;;
        esac
        case $var in
          '' | *[!a-z_]*) die "$MI_EXIT_USAGE" "sql: bad variable name $var" ;;
        esac
        prelude="${prelude}SET @$var = '$value';
"
        shift 2
        ;;
      *) die "$MI_EXIT_USAGE" "sql: unknown option $1" ;;
    esac
  done
  { printf '%s' "$prelude"; cat; } | mariadb --batch || exit "$MI_EXIT_FAILED"
}

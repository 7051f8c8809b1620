# shellcheck shell=sh
# activate [--validate VALIDATOR]... [--notify ACTION]... -- PATH...
# Swaps the staged PATH.mi-new files in as one transaction: back up, swap, validate with the new files
# live, notify (reload/restart), commit. On any failure, and on HUP/INT/TERM/PIPE (a remote timeout,
# a dropped SSH link), every previous file comes back and the notifications run again with it.
# Exit: 0, 10 validation failed, 11 a notification failed, 15 interrupted; all restored.

ACT_VALIDATED=''
ACT_NOTIFIED=''

act_rollback() {
  txn_restore
  for v in $ACT_VALIDATED; do unvalidate "$v" >&2; done
  for n in $ACT_NOTIFIED; do notify "$n" >&2; done
}

cmd_activate() {
  validators=''
  notifications=''
  while [ $# -gt 0 ]; do
    case $1 in
      --validate) validators="$validators ${2:?}" && shift 2 ;;
      --notify) notifications="$notifications ${2:?}" && shift 2 ;;
      --) shift && break ;;
      *) die "$MI_EXIT_USAGE" "activate: unknown option $1" ;;
    esac
  done
  [ $# -ge 1 ] || die "$MI_EXIT_USAGE" "activate: no files"
  for f in "$@"; do txn_add "$f"; done
  txn_guard act_rollback
  txn_begin || txn_fail "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  for v in $validators; do
    ACT_VALIDATED="$ACT_VALIDATED $v"
    validate "$v" >&2 || txn_fail "$MI_EXIT_INVALID" "validation failed; previous files restored"
  done
  checkpoint validated
  for n in $notifications; do
    ACT_NOTIFIED="$ACT_NOTIFIED $n"
    notify "$n" >&2 || txn_fail "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  done
  checkpoint notified
  txn_done
}

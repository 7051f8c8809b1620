# shellcheck shell=sh
# activate [--validate VALIDATOR]... [--notify ACTION]... -- PATH...
# Swaps the staged PATH.mi-new files in as one transaction: back up, swap, validate with the new files
# live, notify (reload/restart), commit. On any failure, and on HUP/INT/TERM/PIPE (a remote timeout,
# a dropped SSH link), every previous file comes back and the notifications run again with it.
# Exit: 0, 10 validation failed, 11 a notification failed, 15 interrupted; all restored.

ACT_VALIDATED=''
ACT_NOTIFIED=''

act_rollback() {
  trap '' HUP INT TERM PIPE
  txn_restore
  for v in $ACT_VALIDATED; do unvalidate "$v" >&2; done
  for n in $ACT_NOTIFIED; do notify "$n" >&2; done
}

act_interrupted() {
  say "interrupted by a signal; previous files restored"
  act_rollback
  exit "$MI_EXIT_INTERRUPTED"
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
  trap act_interrupted HUP INT TERM PIPE
  if ! txn_begin; then
    act_rollback
    die "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  fi
  for v in $validators; do
    ACT_VALIDATED="$ACT_VALIDATED $v"
    if ! validate "$v" >&2; then
      say "validation failed; previous files restored"
      act_rollback
      exit "$MI_EXIT_INVALID"
    fi
  done
  checkpoint validated
  for n in $notifications; do
    ACT_NOTIFIED="$ACT_NOTIFIED $n"
    if ! notify "$n" >&2; then
      say "activation failed; previous files restored"
      act_rollback
      exit "$MI_EXIT_ACTIVATION"
    fi
  done
  checkpoint notified
  txn_commit
  trap - HUP INT TERM PIPE
}

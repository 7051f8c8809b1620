# shellcheck shell=sh
# release --link LINK --target DIR [--unit UNIT]... [--ready PORT]... [--stale UNIT]...
#         [--stamp FILE VALUE] [--releases DIR --keep N] [--validate VALIDATOR]... -- [PATH...]
# Puts a release live with its staged config files as one transaction: the files and LINK -> DIR
# swap in together, the units restart, and every PORT must answer /readyz. If any part fails, or a
# signal arrives, the previous files and link come back and the units restart on them (or stop, when
# there was no previous release). STALE units (instances the tier no longer runs) are disabled, the
# STAMP (what the instances run with) is written, and all but the newest N other releases pruned.
# Exit: 0, 10 validation failed, 11 activation failed, 12 not ready, 15 interrupted; all restored.

# shellcheck source=remote/wait-ready.sh
. "$MI_DIR/wait-ready.sh"

REL_UNITS=''

rel_rollback() {
  txn_restore
  systemctl daemon-reload
  # shellcheck disable=SC2086 # unit names have no spaces
  systemctl reset-failed $REL_UNITS 2>/dev/null
  if [ -L "$REL_LINK" ]; then
    # shellcheck disable=SC2086
    systemctl restart $REL_UNITS
  else
    # shellcheck disable=SC2086
    systemctl stop $REL_UNITS
  fi
}

cmd_release() {
  REL_LINK=''
  target=''
  ports=''
  stale=''
  stamp_file=''
  stamp=''
  releases=''
  keep=3
  validators=''
  while [ $# -gt 0 ]; do
    case $1 in
      --link) REL_LINK=${2:?} && shift 2 ;;
      --target) target=${2:?} && shift 2 ;;
      --unit) REL_UNITS="$REL_UNITS ${2:?}" && shift 2 ;;
      --ready) ports="$ports ${2:?}" && shift 2 ;;
      --stale) stale="$stale ${2:?}" && shift 2 ;;
      --stamp) stamp_file=${2:?} && stamp=${3:?} && shift 3 ;;
      --releases) releases=${2:?} && shift 2 ;;
      --keep) keep=${2:?} && shift 2 ;;
      --validate) validators="$validators ${2:?}" && shift 2 ;;
      --) shift && break ;;
      *) die "$MI_EXIT_USAGE" "release: unknown option $1" ;;
    esac
  done
  [ -n "$REL_LINK" ] && [ -d "$target" ] && [ -n "$REL_UNITS" ] || die "$MI_EXIT_USAGE" "release: --link, an existing --target and --unit are required"
  for f in "$@"; do txn_add "$f"; done
  # The link is a member of the transaction like any file: staged beside it, swapped by rename.
  ln -sfn "$target" "$REL_LINK.mi-new" || die "$MI_EXIT_ACTIVATION" "cannot stage $REL_LINK"
  txn_add "$REL_LINK"
  txn_guard rel_rollback
  txn_begin || txn_fail "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  for v in $validators; do
    validate "$v" >&2 || txn_fail "$MI_EXIT_INVALID" "validation failed; previous files restored"
  done
  # shellcheck disable=SC2086
  systemctl daemon-reload && systemctl enable --quiet $REL_UNITS || txn_fail "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  # A unit that hit its start limit refuses to start until reset.
  # shellcheck disable=SC2086
  systemctl reset-failed $REL_UNITS 2>/dev/null
  # shellcheck disable=SC2086
  systemctl restart $REL_UNITS || txn_fail "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  checkpoint restarted
  for p in $ports; do
    wait_ready "$p" || txn_fail "$MI_EXIT_NOT_READY" "activation failed; previous files restored"
  done
  for u in $stale; do
    systemctl disable --now --quiet "$u" || true
    # A stopped unit that had failed stays listed until reset; the next run would see it again.
    systemctl reset-failed "$u" 2>/dev/null || true
  done
  if [ -n "$stamp_file" ]; then
    printf '%s\n' "$stamp" >"$stamp_file.mi-tmp" && mv -f "$stamp_file.mi-tmp" "$stamp_file"
  fi
  txn_done
  if [ -n "$releases" ]; then
    # Keep the newest KEEP releases besides the live one, for quick rollbacks.
    # Release names are ours (version-hash): no spaces or newlines.
    find "$releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2- |
      grep -Fvx "$target" | tail -n +"$((keep + 1))" | while read -r old; do rm -rf "$old"; done
  fi
}

# shellcheck shell=sh
# backup: off-host backups of MariaDB databases with restic (written for Debian 12's restic 0.14;
# nothing here needs a newer one, and nothing newer breaks it). SETTINGS is the env file the
# toolkit writes (0600 root): KEY=VALUE lines, read as data (never sourced), every key exported
# for restic: RESTIC_REPOSITORY, RESTIC_PASSWORD or RESTIC_PASSWORD_FILE, the repository's
# credentials (AWS_*, B2_*, ...) and MI_SFTP_COMMAND (passed as `-o sftp.command=VALUE`); MI_INPUTS
# (the toolkit's own) is skipped. Keys that would change this program itself (PATH, IFS, ENV, LD_*,
# any other MI_*) are refused.
#
# backup init --env SETTINGS
#   Creates the repository unless it opens already; prints `repository created` or `repository ok`.
# backup run --env SETTINGS --database DB... [--keep-daily N] [--keep-weekly N] [--keep-monthly N]
#            [--tag TAG]... [--host NAME]
#   Per DB: `mi-remote db dump DB` streamed into one restic snapshot of the file /DB.sql, tagged
#   mi-backup, db=DB, run=EPOCH.PID and each TAG. A complete dump (its trailer line
#   `-- mi-dump-complete: DB TABLES ROWS` last, both exit statuses 0) is then marked good with the
#   tags mi-ok, tables=T, rows=R, bytes=B (B: the dump's size; restic tag gives the snapshot a new
#   ID: the one printed). Any snapshot of DB without mi-ok (this run's failed one, one left by a
#   killed run) is forgotten; with a --keep-* policy (0 = that rule off) the good ones of DB are
#   thinned to it (grouped by path, so per database, whatever the host name) and the repository is
#   pruned. A failed DB does not stop the others. Prints per good DB:
#   `snapshot ID DB TABLES ROWS BYTES` (ID: restic's full ID).
# backup list --env SETTINGS
#   Prints `restic snapshots --json --tag mi-backup` as restic gives it (a JSON array, oldest
#   first; a good snapshot has the tags mi-ok, db=DB, tables=T, rows=R, bytes=B).
# backup restore --env SETTINGS SNAPSHOT --database DB --into TARGET [--replace] [--definer USER@HOST]
#   `restic dump SNAPSHOT /DB.sql | mi-remote db load TARGET --expect-manifest [--replace]`:
#   TARGET (an existing database) gets the snapshot's tables, checked against the dump's manifest,
#   or stays as it was. SNAPSHOT is an ID (or prefix) or `latest`: the newest good snapshot of DB.
#   Passes db load's report through (`table NAME ROWS`, `object KIND NAME`, ... lines).
# backup drill --env SETTINGS --database DB...
#   Restores the newest good snapshot of each DB into a fresh scratch database mi_drill_<hex>
#   (dropped afterwards, on failure and on a signal too; scratches a killed drill left are dropped
#   first) and prints `drill ok SNAPSHOT DB TABLES ROWS SECONDS`.
# backup status
#   Read-only, needs no settings: `last-backup LINE`, `last-good-backup LINE`, `last-drill LINE`,
#   LINE being the state file's line or `none`.
#
# State ($MI_BACKUP_STATE, default /var/lib/messenger-infra/backup, 0700): restic's cache (cache/),
# the lock, and one-line files written atomically, `time=EPOCH status=ok|failed snapshot=IDS
# error=MESSAGE` (error last and empty when ok; IDS: short IDs, comma separated, `-` when none):
#   last-backup       every run's outcome (a signal too: "interrupted by a signal")
#   last-good-backup  the last run that left a good snapshot of every DB
#   last-drill        every drill's outcome
# init, run, restore and drill take the lock (flock on STATE/lock) so a timer's run and a manual one
# never interleave (a prune would also lock restic out of a restore); a second caller waits at most
# $MI_BACKUP_LOCK_WAIT seconds (default 600) and then exits 75 naming the holder.
# MI_MARIADB_DEFAULTS (an option file) is passed to the mariadb client, as db does, for the drill's
# scratch database. Test checkpoint (lib.sh): drill-scratch (the scratch database exists).
# Exit: 0; 1 failed (a drill finds no good snapshot); 2 usage, bad settings, no such (good) snapshot
#       of DB to restore; 15 interrupted; 18 a dump failed (no good snapshot made); 19 the
#       snapshot's SQL is incomplete; 20 the restored data does not match its manifest; 21 TARGET is
#       not empty (no --replace); 22 restic cannot open, read or write the repository (wrong
#       password, unreachable, corrupt, not initialised); 75 locked. With several databases, the
#       first failure's status (the others still ran); the last stderr line names every failure.

BK_STATE=${MI_BACKUP_STATE:-/var/lib/messenger-infra/backup}
BK_TMP=''
# The scratch database of a drill in progress, dropped by bk_cleanup.
BK_SCRATCH=''
# The account a restore re-creates views, triggers and routines for (--definer).
BK_DEFINER=''
# The state file (last-backup, last-drill) a signal or an unexpected exit records as failed.
BK_RECORD=''
BK_LOCKED=0

# bk_cleanup: the EXIT trap. Signals are ignored meanwhile: after a dropped SSH link, saying
# anything raises SIGPIPE, which must not re-enter here.
bk_cleanup() {
  bk_rc=$?
  trap '' HUP INT TERM PIPE
  if [ -n "$BK_SCRATCH" ]; then
    bk_mariadb -e "DROP DATABASE IF EXISTS \`$BK_SCRATCH\`" || say "could not drop the drill's scratch database $BK_SCRATCH"
  fi
  if [ -n "$BK_RECORD" ]; then
    if [ "$bk_rc" = "$MI_EXIT_INTERRUPTED" ]; then
      bk_record "$BK_RECORD" failed - "interrupted by a signal"
    else
      bk_record "$BK_RECORD" failed - "stopped with status $bk_rc"
    fi
  fi
  [ -z "$BK_TMP" ] || rm -rf "$BK_TMP"
  [ "$BK_LOCKED" = 0 ] || rm -f "$BK_STATE/lock-owner"
  exit "$bk_rc"
}

bk_interrupted() { exit "$MI_EXIT_INTERRUPTED"; }

# bk_setup: state folder, temp folder, traps.
bk_setup() {
  umask 077
  mkdir -p "$BK_STATE/cache" && chmod 700 "$BK_STATE" || die "$MI_EXIT_FAILED" "cannot create the backup state folder $BK_STATE"
  BK_TMP=$(mktemp -d) || die "$MI_EXIT_FAILED" "cannot create a temporary folder"
  trap bk_cleanup EXIT
  trap bk_interrupted HUP INT TERM PIPE
  export RESTIC_CACHE_DIR="$BK_STATE/cache"
}

# bk_lock WHAT: the backup lock, waited for at most MI_BACKUP_LOCK_WAIT seconds. fd 7 stays open
# (inherited by restic and db, which is harmless: it closes when they do).
bk_lock() {
  bk_wait=${MI_BACKUP_LOCK_WAIT:-600}
  exec 7>"$BK_STATE/lock" || die "$MI_EXIT_FAILED" "cannot open $BK_STATE/lock"
  if ! flock -w "$bk_wait" 7; then
    die "$MI_EXIT_LOCKED" "another backup command ($(cat "$BK_STATE/lock-owner" 2>/dev/null || echo unknown)) still held $BK_STATE/lock after $bk_wait s; try again when it has finished"
  fi
  BK_LOCKED=1
  printf 'backup %s, pid %s, since %s\n' "$1" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$BK_STATE/lock-owner"
}

# bk_load_env FILE: exports each KEY=VALUE line of FILE; the value is everything after the first =.
bk_load_env() {
  [ -r "$1" ] || die "$MI_EXIT_USAGE" "cannot read the backup settings $1; run \`messenger-infra up\` to write them"
  # Only the file speaks: restic settings the caller's environment happens to carry do not mix in.
  unset RESTIC_REPOSITORY RESTIC_REPOSITORY_FILE RESTIC_PASSWORD RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND MI_SFTP_COMMAND
  bk_n=0
  while IFS= read -r bk_line || [ -n "$bk_line" ]; do
    bk_n=$((bk_n + 1))
    case $bk_line in '' | '#'*) continue ;; esac
    bk_key=${bk_line%%=*}
    [ "$bk_key" != "$bk_line" ] || die "$MI_EXIT_USAGE" "$1 line $bk_n is not KEY=VALUE"
    case $bk_key in
      '' | [0-9]* | *[!A-Za-z0-9_]*) die "$MI_EXIT_USAGE" "$1 line $bk_n: $bk_key is not a variable name" ;;
      MI_SFTP_COMMAND) ;;
      # What the toolkit composed the file from (hashes), for its own facts: not restic's.
      MI_INPUTS) continue ;;
      PATH | IFS | ENV | LD_* | MI_*) die "$MI_EXIT_USAGE" "$1 line $bk_n: $bk_key may not be set by the backup settings" ;;
    esac
    # One argument KEY=VALUE: the value is data, whatever characters it holds.
    export "$bk_key=${bk_line#*=}"
  done <"$1"
  [ -n "${RESTIC_REPOSITORY:-}" ] || die "$MI_EXIT_USAGE" "$1 has no RESTIC_REPOSITORY"
  [ -n "${RESTIC_PASSWORD:-}${RESTIC_PASSWORD_FILE:-}${RESTIC_PASSWORD_COMMAND:-}" ] ||
    die "$MI_EXIT_USAGE" "$1 has no RESTIC_PASSWORD or RESTIC_PASSWORD_FILE"
}

# bk_restic ARG...: restic with the sftp command the settings give (one argv word: restic splits it).
bk_restic() {
  if [ -n "${MI_SFTP_COMMAND:-}" ]; then
    restic -o "sftp.command=$MI_SFTP_COMMAND" "$@"
  else
    restic "$@"
  fi
}

# bk_mariadb ARG...: the mariadb client, with the option file db uses when one is set.
bk_mariadb() {
  if [ -n "${MI_MARIADB_DEFAULTS:-}" ]; then
    mariadb --defaults-extra-file="$MI_MARIADB_DEFAULTS" "$@"
  else
    mariadb "$@"
  fi
}

# bk_redact: a repository URL's password (rest:, s3: with user:pass@) replaced, for messages.
bk_redact() { sed 's#\(://[^/:@]*\):[^/@]*@#\1:***@#g'; }

# bk_reason FILE: restic's (or db's) reason in one line: the first Fatal: line, else the last line.
bk_reason() {
  bk_r=$(sed -n 's/^Fatal: //p' "$1" 2>/dev/null | head -n1)
  [ -n "$bk_r" ] || bk_r=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n1)
  printf '%s' "${bk_r:-no reason given}" | tr -d '\r' | bk_redact
}

# bk_replay FILE: what a tool said goes on to the log (stderr), then the verdict comes last.
bk_replay() { [ ! -s "$1" ] || bk_redact <"$1" >&2; }

# bk_record FILE STATUS IDS ERROR: the state file FILE (last-backup, ...) replaced atomically.
bk_record() {
  bk_err=$(printf '%s' "$4" | tr '\n' ' ')
  printf 'time=%s status=%s snapshot=%s error=%s\n' "$(date +%s)" "$2" "${3:--}" "$bk_err" >"$BK_STATE/$1.tmp" &&
    mv -f "$BK_STATE/$1.tmp" "$BK_STATE/$1" || say "cannot write $BK_STATE/$1"
  [ "$1" != "$BK_RECORD" ] || BK_RECORD=''
}

# bk_ids: the full snapshot IDs in restic's `snapshots --json` on stdin, in its order (oldest first).
# Only a snapshot's own key is "id" (parent, tree and original have their names).
bk_ids() { grep -o '"id":"[0-9a-f]\{64\}"' | sed 's/^"id":"//; s/"$//'; }

# bk_split: restic's `snapshots --json` on stdin, one snapshot object per line. Every snapshot object
# starts with "time" (restic 0.14 to 0.18), and `},{"time":` cannot occur inside a JSON string (its
# quotes would be escaped), so this splits exactly between snapshots.
bk_split() { sed 's/},{"time":/}\n{"time":/g'; }

# bk_name WHAT VALUE: a database name as the toolkit makes them (quoted into SQL and used in tags).
bk_name() {
  case $2 in
    '' | *[!A-Za-z0-9_]*) die "$MI_EXIT_USAGE" "backup: $1 must be a database name of A-Z, a-z, 0-9 and _, not '$2'" ;;
  esac
  [ "${#2}" -le 64 ] || die "$MI_EXIT_USAGE" "backup: $1 $2 is longer than 64 characters"
}

# bk_count WHAT VALUE: a whole number.
bk_count() {
  case $2 in
    '' | *[!0-9]*) die "$MI_EXIT_USAGE" "backup: $1 needs a whole number, not '$2'" ;;
  esac
}

# bk_open: the repository must open (password right, reachable, initialised), else exit 22.
bk_open() {
  bk_restic cat config >/dev/null 2>"$BK_TMP/open.err" && return 0
  bk_replay "$BK_TMP/open.err"
  die "$MI_EXIT_REPOSITORY" "cannot open the backup repository: $(bk_reason "$BK_TMP/open.err"); check the repository, its password and credentials (\`messenger-infra backup init\` creates a missing one)"
}

# bk_latest DB: sets BK_SNAP to the full ID of the newest good snapshot of DB ('' when none).
bk_latest() {
  bk_restic snapshots --json --tag "mi-ok,db=$1" >"$BK_TMP/latest.json" 2>"$BK_TMP/latest.err" || {
    bk_replay "$BK_TMP/latest.err"
    die "$MI_EXIT_REPOSITORY" "cannot list the snapshots of $1: $(bk_reason "$BK_TMP/latest.err")"
  }
  BK_SNAP=$(bk_ids <"$BK_TMP/latest.json" | tail -n1)
}

# ---------------------------------------------------------------------------------------------

bk_init() {
  bk_restic cat config >/dev/null 2>"$BK_TMP/open.err"
  case $? in
    0)
      echo "repository ok"
      return 0
      ;;
    # restic 0.17+: 12 wrong password; 0.14 says so only in words.
    12) bk_wrong=1 ;;
    *)
      bk_wrong=0
      if grep -q 'wrong password' "$BK_TMP/open.err"; then bk_wrong=1; fi
      ;;
  esac
  # A repository that is there but does not open (a wrong password) must not be "initialised" again.
  if [ "$bk_wrong" = 1 ]; then
    bk_replay "$BK_TMP/open.err"
    die "$MI_EXIT_REPOSITORY" "the backup repository exists but does not open: $(bk_reason "$BK_TMP/open.err"); check RESTIC_PASSWORD"
  fi
  if bk_restic init >"$BK_TMP/init.out" 2>"$BK_TMP/init.err"; then
    bk_redact <"$BK_TMP/init.out" >&2
    echo "repository created"
    return 0
  fi
  bk_replay "$BK_TMP/open.err"
  bk_replay "$BK_TMP/init.err"
  # "already exists" means init was not the problem: the reason the repository did not open is.
  if grep -q 'already exists' "$BK_TMP/init.err"; then
    die "$MI_EXIT_REPOSITORY" "cannot open the backup repository: $(bk_reason "$BK_TMP/open.err")"
  fi
  die "$MI_EXIT_REPOSITORY" "cannot create the backup repository: $(bk_reason "$BK_TMP/init.err"); check RESTIC_REPOSITORY and its credentials"
}

# bk_sweep DB: forgets every snapshot of DB without mi-ok (the keep-tag policy keeps only those).
bk_sweep() {
  bk_restic forget --tag "mi-backup,db=$1" --group-by paths --keep-tag mi-ok >"$BK_TMP/sweep.out" 2>&1 || {
    bk_replay "$BK_TMP/sweep.out"
    say "could not forget the incomplete snapshots of $1: $(bk_reason "$BK_TMP/sweep.out")"
    return 1
  }
}

# bk_run_one DB: one database into one snapshot. Sets BK_ID (short), BK_ERROR, returns the status.
bk_run_one() {
  db=$1
  BK_ID='' BK_ERROR=''
  rm -f "$BK_TMP/dump.rc" "$BK_TMP/count"
  # No pipefail in sh: the dump's status goes through a file; awk passes the stream on unchanged
  # (bytes, not characters: LC_ALL=C) and notes its size and last line (the dump's trailer).
  # shellcheck disable=SC2086 # BK_TAGS: --tag words (checked: no spaces)
  { "$MI_DIR/mi-remote" db dump "$db" 2>"$BK_TMP/dump.err"; echo $? >"$BK_TMP/dump.rc"; } |
    LC_ALL=C awk -v out="$BK_TMP/count" '{ print; n += length($0) + 1; last = $0 } END { printf "%.0f %s\n", n, last > out }' |
    bk_restic backup --stdin --stdin-filename "$db.sql" --tag mi-backup --tag "db=$db" --tag "$BK_RUN" \
      $BK_TAGS ${BK_HOST:+"--host=$BK_HOST"} --json >"$BK_TMP/backup.json" 2>"$BK_TMP/backup.err"
  restic_rc=$?
  dump_rc=$(cat "$BK_TMP/dump.rc" 2>/dev/null)
  snap=$(sed -n 's/.*"message_type":"summary".*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' "$BK_TMP/backup.json" | tail -n1)
  bytes='' trailer=''
  [ ! -s "$BK_TMP/count" ] || read -r bytes trailer <"$BK_TMP/count"
  tables='' rows=''
  case $trailer in
    "-- mi-dump-complete: $db "*)
      set -f
      # shellcheck disable=SC2086 # the trailer's words
      set -- $trailer
      set +f
      [ $# -eq 5 ] && tables=$4 rows=$5
      ;;
  esac
  case $tables$rows in '' | *[!0-9]*) tables='' ;; esac

  # A failed dump first: restic's own complaint then ("no data read") is only its consequence.
  if [ "$dump_rc" != 0 ]; then
    bk_replay "$BK_TMP/dump.err"
    BK_ERROR="the backup of $db failed, no snapshot kept: $(bk_reason "$BK_TMP/dump.err")"
    bk_status=$MI_EXIT_DUMP
  elif [ "$restic_rc" != 0 ]; then
    bk_replay "$BK_TMP/backup.err"
    BK_ERROR="cannot write the backup of $db to the repository, no snapshot kept: $(bk_reason "$BK_TMP/backup.err")"
    bk_status=$MI_EXIT_REPOSITORY
  elif [ -z "$tables" ]; then
    bk_replay "$BK_TMP/dump.err"
    BK_ERROR="the backup of $db failed, no snapshot kept: its dump ended without the mi-dump-complete line"
    bk_status=$MI_EXIT_DUMP
  else
    bk_replay "$BK_TMP/dump.err"
    # Good: the tags say so and what it holds. restic tag writes a new snapshot (new ID), found by
    # this run's tag in the list of DB's snapshots, which also shows whether any lacks mi-ok.
    if bk_restic tag --quiet --tag "$BK_RUN,db=$db" --add "mi-ok,tables=$tables,rows=$rows,bytes=$bytes" >"$BK_TMP/tag.out" 2>&1 &&
      bk_restic snapshots --json --tag "mi-backup,db=$db" >"$BK_TMP/tagged.json" 2>"$BK_TMP/tag.out" &&
      full=$(bk_split <"$BK_TMP/tagged.json" | grep -F "\"$BK_RUN\"" | grep -F '"mi-ok"' | bk_ids | tail -n1) && [ -n "$full" ]; then
      BK_ID=$(printf %s "$full" | cut -c1-8)
      echo "snapshot $full $db $tables $rows $bytes"
      bk_status=0
    else
      bk_replay "$BK_TMP/tag.out"
      BK_ERROR="cannot mark the snapshot of $db good: $(bk_reason "$BK_TMP/tag.out")"
      bk_status=$MI_EXIT_REPOSITORY
    fi
  fi

  if [ "$bk_status" != 0 ]; then
    # No snapshot that looks fine: the one this run made goes (by ID, and the sweep catches one
    # whose ID restic never printed).
    [ -z "$snap" ] || bk_restic forget "$snap" >"$BK_TMP/forget.out" 2>&1 || bk_replay "$BK_TMP/forget.out"
    bk_sweep "$db" || true
    return "$bk_status"
  fi
  if bk_split <"$BK_TMP/tagged.json" | grep -F '"id":"' | grep -qvF '"mi-ok"'; then
    bk_sweep "$db" || true
  fi
  if [ -n "$BK_KEEP" ]; then
    # Only the good snapshots of this database: the tag filter picks them, and the one group per
    # path (/DB.sql) applies the policy per database even across host names.
    # shellcheck disable=SC2086 # BK_KEEP: --keep-* N words
    bk_restic forget --tag "mi-ok,db=$db" --group-by paths $BK_KEEP --prune >"$BK_TMP/prune.out" 2>&1 || {
      bk_replay "$BK_TMP/prune.out"
      BK_ERROR="the snapshot of $db is good, but applying the retention policy failed: $(bk_reason "$BK_TMP/prune.out")"
      return "$MI_EXIT_REPOSITORY"
    }
  fi
  return 0
}

bk_run() {
  BK_DBS='' BK_TAGS='' BK_HOST='' BK_KEEP=''
  while [ $# -gt 0 ]; do
    case $1 in
      --database)
        bk_name --database "${2:-}"
        BK_DBS="$BK_DBS $2"
        ;;
      --keep-daily | --keep-weekly | --keep-monthly)
        bk_count "$1" "${2:-}"
        [ "$2" -eq 0 ] || BK_KEEP="$BK_KEEP $1 $2"
        ;;
      --tag)
        case ${2:-} in
          '' | *[!A-Za-z0-9._:=-]*) die "$MI_EXIT_USAGE" "backup run: --tag must be of A-Z a-z 0-9 . _ : = -, not '${2:-}'" ;;
        esac
        BK_TAGS="$BK_TAGS --tag $2"
        ;;
      --host)
        [ -n "${2:-}" ] || die "$MI_EXIT_USAGE" "backup run: --host needs a name"
        BK_HOST=$2
        ;;
      *) die "$MI_EXIT_USAGE" "backup run: unknown option $1" ;;
    esac
    shift 2
  done
  [ -n "$BK_DBS" ] || die "$MI_EXIT_USAGE" "usage: backup run --env FILE --database DB... [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--tag TAG]... [--host NAME]"
  bk_lock run
  BK_RECORD=last-backup
  BK_RUN="run=$(date +%s).$$"
  # The repository must open (unlock fails as cat config would), and a restic lock left by a
  # killed restic of this host would block forget: `unlock` removes stale locks only, never a live one.
  if ! bk_restic unlock >/dev/null 2>"$BK_TMP/open.err"; then
    bk_replay "$BK_TMP/open.err"
    msg="cannot open the backup repository: $(bk_reason "$BK_TMP/open.err"); check the repository, its password and credentials"
    bk_record last-backup failed - "$msg"
    die "$MI_EXIT_REPOSITORY" "$msg"
  fi
  first=0 errors='' ids='' good=0 n=0
  for d in $BK_DBS; do
    n=$((n + 1))
    bk_run_one "$d"
    s=$?
    [ -z "$BK_ID" ] || ids="${ids:+$ids,}$BK_ID" good=$((good + 1))
    [ "$s" = 0 ] && continue
    [ "$first" != 0 ] || first=$s
    errors="${errors:+$errors; }$BK_ERROR"
  done
  # A good snapshot of every database (even if retention failed afterwards) is a good backup.
  [ "$good" -lt "$n" ] || bk_record last-good-backup ok "$ids" ''
  bk_finish last-backup "$first" "$ids" "$errors"
}

# bk_finish STATEFILE STATUS IDS ERRORS: records the run's outcome, then returns 0 or exits STATUS.
bk_finish() {
  if [ "$2" = 0 ]; then
    bk_record "$1" ok "$3" ''
    return 0
  fi
  bk_record "$1" failed "$3" "$4"
  die "$2" "$4"
}

# bk_restore_one SNAP DB TARGET REPLACE: restic dump | db load. Sets BK_ERROR (and BK_UNTOUCHED=1
# when restic failed and db load refused the stream), leaves db load's output in $BK_TMP/load.out,
# returns the status.
bk_restore_one() {
  BK_UNTOUCHED=0
  rm -f "$BK_TMP/rdump.rc"
  { bk_restic dump "$1" "/$2.sql" 2>"$BK_TMP/rdump.err"; echo $? >"$BK_TMP/rdump.rc"; } |
    if [ "$4" = 1 ]; then
      "$MI_DIR/mi-remote" db load "$3" --expect-manifest --replace ${BK_DEFINER:+--definer "$BK_DEFINER"}
    else
      "$MI_DIR/mi-remote" db load "$3" --expect-manifest ${BK_DEFINER:+--definer "$BK_DEFINER"}
    fi >"$BK_TMP/load.out" 2>"$BK_TMP/load.err"
  load_rc=$?
  dump_rc=$(cat "$BK_TMP/rdump.rc" 2>/dev/null)
  bk_replay "$BK_TMP/load.err"
  # db load stopping first (TARGET not empty, an SQL error) ends restic with SIGPIPE (status 141):
  # then db load's verdict is the one.
  if [ "$load_rc" != 0 ] && { [ "$dump_rc" = 141 ] || grep -qi 'stdout.*broken pipe' "$BK_TMP/rdump.err"; }; then
    dump_rc=0
  fi
  if [ "$dump_rc" != 0 ]; then
    bk_replay "$BK_TMP/rdump.err"
    # restic stopped: db load saw a stream without its trailer and refused it (TARGET untouched).
    # Had it loaded all the same, the data matched its manifest, but the read still failed.
    BK_ERROR="cannot read snapshot $(printf %s "$1" | cut -c1-8) of $2 from the repository: $(bk_reason "$BK_TMP/rdump.err"); the repository may be damaged (check it with restic check --read-data)"
    if [ "$load_rc" = 0 ]; then
      BK_ERROR="$BK_ERROR; $3 was loaded all the same and matches the dump's manifest"
    else
      BK_UNTOUCHED=1
    fi
    return "$MI_EXIT_REPOSITORY"
  fi
  if [ "$load_rc" != 0 ]; then
    BK_ERROR="restoring snapshot $(printf %s "$1" | cut -c1-8) of $2 into $3 failed: $(bk_reason "$BK_TMP/load.err")"
    return "$load_rc"
  fi
  return 0
}

# bk_resolve SNAPSHOT DB: sets BK_SNAP to the full ID of SNAPSHOT (latest: the newest good one of
# DB), which must be a good snapshot of DB: exit 2 when there is none such (an unknown snapshot, one
# of another database), 19 when it is incomplete.
bk_resolve() {
  if [ "$1" = latest ]; then
    bk_latest "$2"
    [ -n "$BK_SNAP" ] || die "$MI_EXIT_USAGE" "the repository holds no good snapshot of $2; run \`messenger-infra backup now\` first"
    return 0
  fi
  case $1 in
    '' | *[!0-9a-f]*) die "$MI_EXIT_USAGE" "backup: SNAPSHOT must be a snapshot ID or latest, not '$1'" ;;
  esac
  bk_restic snapshots --json "$1" >"$BK_TMP/snap.json" 2>"$BK_TMP/snap.err" || {
    bk_replay "$BK_TMP/snap.err"
    die "$MI_EXIT_REPOSITORY" "cannot read snapshot $1: $(bk_reason "$BK_TMP/snap.err")"
  }
  BK_SNAP=$(bk_ids <"$BK_TMP/snap.json" | head -n1)
  [ -n "$BK_SNAP" ] || die "$MI_EXIT_USAGE" "the repository has no snapshot $1; see \`backup list\`"
  grep -q "\"db=$2\"" "$BK_TMP/snap.json" || die "$MI_EXIT_USAGE" "snapshot $1 is not a backup of $2"
  grep -q '"mi-ok"' "$BK_TMP/snap.json" || die "$MI_EXIT_INPUT" "snapshot $1 of $2 is incomplete (its dump failed); restore a good one (see \`backup list\`)"
}

bk_restore() {
  snapshot='' db='' target='' replace=0
  while [ $# -gt 0 ]; do
    case $1 in
      --database) db=${2:-} && shift ;;
      # The account views, triggers and routines are re-created for (the app's user): a restore run
      # as root must not leave SQL SECURITY DEFINER objects running with root's rights.
      --definer)
        BK_DEFINER=${2:-}
        case $BK_DEFINER in '' | *[!a-z0-9_@.]*) die "$MI_EXIT_USAGE" "backup restore: bad --definer $BK_DEFINER" ;; esac
        shift
        ;;
      --into) target=${2:-} && shift ;;
      --replace) replace=1 ;;
      -*) die "$MI_EXIT_USAGE" "backup restore: unknown option $1" ;;
      *)
        [ -z "$snapshot" ] || die "$MI_EXIT_USAGE" "backup restore: one SNAPSHOT only"
        snapshot=$1
        ;;
    esac
    shift
  done
  [ -n "$snapshot" ] && [ -n "$db" ] && [ -n "$target" ] ||
    die "$MI_EXIT_USAGE" "usage: backup restore --env FILE SNAPSHOT|latest --database DB --into TARGET [--replace]"
  bk_name --database "$db"
  bk_name --into "$target"
  bk_lock restore
  bk_open
  bk_resolve "$snapshot" "$db"
  bk_restore_one "$BK_SNAP" "$db" "$target" "$replace" || {
    s=$?
    [ "$BK_UNTOUCHED" = 0 ] || BK_ERROR="$BK_ERROR; $target was left as it was"
    die "$s" "$BK_ERROR"
  }
  cat "$BK_TMP/load.out"
}

# bk_drill_one DB: sets BK_ID, BK_ERROR; prints the drill line; returns the status.
bk_drill_one() {
  BK_ID='' BK_ERROR=''
  bk_start=$(date +%s)
  bk_restic snapshots --json --tag "mi-ok,db=$1" >"$BK_TMP/latest.json" 2>"$BK_TMP/latest.err" || {
    bk_replay "$BK_TMP/latest.err"
    BK_ERROR="cannot list the snapshots of $1: $(bk_reason "$BK_TMP/latest.err")"
    return "$MI_EXIT_REPOSITORY"
  }
  snap=$(bk_ids <"$BK_TMP/latest.json" | tail -n1)
  [ -n "$snap" ] || {
    BK_ERROR="the repository holds no good snapshot of $1 to drill; run \`messenger-infra backup now\` first"
    return "$MI_EXIT_FAILED"
  }
  BK_ID=$(printf %s "$snap" | cut -c1-8)
  BK_SCRATCH="mi_drill_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  bk_mariadb -e "CREATE DATABASE \`$BK_SCRATCH\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" 2>"$BK_TMP/scratch.err" || {
    bk_replay "$BK_TMP/scratch.err"
    BK_SCRATCH=''
    BK_ERROR="cannot create the drill's scratch database: $(bk_reason "$BK_TMP/scratch.err")"
    return "$MI_EXIT_FAILED"
  }
  checkpoint drill-scratch
  bk_restore_one "$snap" "$1" "$BK_SCRATCH" 0
  bk_status=$?
  if bk_mariadb -e "DROP DATABASE IF EXISTS \`$BK_SCRATCH\`"; then
    BK_SCRATCH=''
  else
    say "could not drop the drill's scratch database $BK_SCRATCH"
  fi
  [ "$bk_status" = 0 ] || {
    BK_ERROR="drill: $BK_ERROR"
    return "$bk_status"
  }
  # db load's lines: `table NAME ROWS`.
  awk '$1 == "table" { t++; r += $3 } END { printf "%d %.0f\n", t, r }' "$BK_TMP/load.out" >"$BK_TMP/drilled"
  read -r tables rows <"$BK_TMP/drilled"
  echo "drill ok $snap $1 $tables $rows $(($(date +%s) - bk_start))"
}

bk_drill() {
  dbs=''
  while [ $# -gt 0 ]; do
    case $1 in
      --database)
        bk_name --database "${2:-}"
        dbs="$dbs $2"
        shift 2
        ;;
      *) die "$MI_EXIT_USAGE" "backup drill: unknown option $1" ;;
    esac
  done
  [ -n "$dbs" ] || die "$MI_EXIT_USAGE" "usage: backup drill --env FILE --database DB..."
  bk_lock drill
  BK_RECORD=last-drill
  if ! bk_restic cat config >/dev/null 2>"$BK_TMP/open.err"; then
    bk_replay "$BK_TMP/open.err"
    msg="drill: cannot open the backup repository: $(bk_reason "$BK_TMP/open.err"); check the repository, its password and credentials"
    bk_record last-drill failed - "$msg"
    die "$MI_EXIT_REPOSITORY" "$msg"
  fi
  # Scratches of a drill that was killed outright (no trap ran): the lock says none is in use.
  bk_mariadb -N -B -e "SHOW DATABASES LIKE 'mi\\_drill\\_%'" 2>/dev/null | while IFS= read -r old; do
    case $old in mi_drill_*[!0-9a-f]*) continue ;; mi_drill_?*) bk_mariadb -e "DROP DATABASE \`$old\`" ;; esac
  done
  first=0 errors='' ids=''
  for d in $dbs; do
    if bk_drill_one "$d"; then
      ids="${ids:+$ids,}$BK_ID"
    else
      s=$?
      [ "$first" != 0 ] || first=$s
      [ -z "$BK_ID" ] || ids="${ids:+$ids,}$BK_ID"
      errors="${errors:+$errors; }$BK_ERROR"
    fi
  done
  bk_finish last-drill "$first" "$ids" "$errors"
}

bk_status() {
  for f in last-backup last-good-backup last-drill; do
    line=''
    [ ! -r "$BK_STATE/$f" ] || line=$(head -n1 "$BK_STATE/$f")
    printf '%s %s\n' "$f" "${line:-none}"
  done
}

cmd_backup() {
  sub=${1:-}
  [ $# -eq 0 ] || shift
  case $sub in
    status)
      [ $# -eq 0 ] || die "$MI_EXIT_USAGE" "usage: backup status"
      bk_status
      return
      ;;
    init | run | list | restore | drill) ;;
    *) die "$MI_EXIT_USAGE" "usage: backup init|run|list|restore|drill --env FILE ... | backup status" ;;
  esac
  [ "${1:-}" = --env ] && [ -n "${2:-}" ] || die "$MI_EXIT_USAGE" "backup $sub: --env FILE comes first"
  env_file=$2
  shift 2
  bk_setup
  bk_load_env "$env_file"
  case $sub in
    init)
      [ $# -eq 0 ] || die "$MI_EXIT_USAGE" "usage: backup init --env FILE"
      bk_lock init
      bk_init
      ;;
    run) bk_run "$@" ;;
    list)
      [ $# -eq 0 ] || die "$MI_EXIT_USAGE" "usage: backup list --env FILE"
      bk_restic snapshots --json --tag mi-backup 2>"$BK_TMP/list.err" || {
        bk_replay "$BK_TMP/list.err"
        die "$MI_EXIT_REPOSITORY" "cannot list the backups: $(bk_reason "$BK_TMP/list.err"); check the repository, its password and credentials"
      }
      ;;
    restore) bk_restore "$@" ;;
    drill) bk_drill "$@" ;;
  esac
}

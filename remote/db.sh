# shellcheck shell=sh
# db dump DB: a consistent dump of database DB on stdout (mariadb-dump in one transaction: tables,
#   rows in primary-key order, blobs in hex, routines, triggers, events; no CREATE DATABASE or USE,
#   so it loads into any database), then, only when mariadb-dump succeeded, a manifest trailer:
#     -- mi-manifest: TABLE ROWS MD5          per base table: the rows of its INSERT statements and
#                                             the md5 of its INSERT lines (counted from the dump text)
#     -- mi-dump-complete: DB TABLES ROWS     the last line
#   Exit: 0; 2 usage; 18 mariadb-dump failed (server down, unknown database): no trailer.
# db load TARGET [--replace] [--compression none|gzip|zstd] [--definer USER@HOST] [--expect-manifest]:
#   loads the SQL on stdin into the existing database TARGET, all or nothing: it goes into a scratch
#   database first (mi_load_*), and only a complete, error-free load is swapped in (one atomic RENAME
#   TABLE; views, triggers, routines and events re-created around it). On the way, lines that are not
#   data are translated: MySQL 8 collations the server lacks (utf8mb4_0900_*) become the nearest it
#   has, every DEFINER becomes the --definer account (default CURRENT_USER; with --definer, objects
#   without one get it too), and CREATE DATABASE, DROP DATABASE, USE and SET @@GLOBAL.GTID_PURGED
#   statements are dropped, so everything lands in TARGET. --expect-manifest (for `db dump` output):
#   the stream must end with the trailer, and the loaded data must match it before the swap.
#   Output on success, one record per line:
#     table NAME ROWS                     every base table of TARGET after the load (exact COUNT(*))
#     object KIND NAME                    KIND: view, trigger, procedure, function, event
#     translated collation FROM TO COUNT
#     translated definer FROM TO COUNT    FROM as written in the dump (CURRENT_USER: none written)
#     dropped statement KIND COUNT        KIND: CREATE-DATABASE, DROP-DATABASE, USE, SET-GTID-PURGED
#   Exit: 0; 1 failed (the swap; TARGET put back); 2 usage, or TARGET does not exist; 15 interrupted;
#   19 not loadable (SQL error, not SQL, bad compression, truncated); 20 the load does not match the
#   manifest; 21 TARGET is not empty and no --replace (checked before stdin is read). On any failure
#   TARGET is as it was and no mi_load_/mi_old_ database is left.
# db tables DB: `table NAME ROWS` and `object KIND NAME` lines, as above. Exit 2 if DB does not exist.
# db exists DB: exit 0 when database DB exists, 1 when not.
# The client tools run as root over the default socket. MI_MARIADB_DEFAULTS names an option file read
# first by every client call (the tests' throwaway server).

BT='`'
DB_TMP=''
DB_KEEP_TMP=0
DB_BG=''
DB_TARGET=''
DB_SCRATCH=''
DB_HOLD=''
DB_TOUCHED=0
DB_S_TABLES=0
DB_T_TABLES=0
DB_UNDO_FAILED=''

# db_client TOOL ARG...: a MariaDB client tool; --defaults-extra-file only counts as the first option.
db_client() {
  dc_tool=$1
  shift
  if [ -n "${MI_MARIADB_DEFAULTS:-}" ]; then
    "$dc_tool" --defaults-extra-file="$MI_MARIADB_DEFAULTS" "$@"
  else
    "$dc_tool" "$@"
  fi
}

# db_query SQL: the result rows, tab-separated, unescaped; stderr into $DB_TMP/err.
db_query() {
  db_client mariadb --batch --skip-column-names --raw --default-character-set=utf8mb4 -e "$1" 2>"$DB_TMP/err"
}

# db_run DB: the SQL on stdin, in DB. --binary-mode: the client passes every line to the server and
# runs none of its own backslash commands (\! runs a shell, \q quits early with status 0, \u switches
# database), so a dump can do nothing but SQL. DELIMITER still works.
db_run() {
  db_client mariadb --batch --binary-mode --default-character-set=utf8mb4 --max-allowed-packet=1073741824 "$1" >/dev/null
}

# db_qi COLUMN: the SQL expression that quotes COLUMN's value as an identifier.
db_qi() { printf "CONCAT('%s', REPLACE(%s, '%s', '%s%s'), '%s')" "$BT" "$1" "$BT" "$BT" "$BT" "$BT"; }

db_err() { grep -m1 . "$DB_TMP/err" 2>/dev/null | cut -c1-300; }

db_server_failed() { die "$MI_EXIT_FAILED" "db: cannot query MariaDB: $(db_err)"; }

# db_name NAME: our names are identifiers, so they go into SQL text as they are.
db_name() {
  case $1 in
    '' | *[!A-Za-z0-9_]*) die "$MI_EXIT_USAGE" "db: bad database name '$1': use letters, digits and _" ;;
  esac
  [ ${#1} -le 64 ] || die "$MI_EXIT_USAGE" "db: database name $1 is longer than 64 characters"
}

db_exists() {
  de_n=$(db_query "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$1'") || db_server_failed
  [ "$de_n" = 1 ]
}

# db_base_tables DB: how many tables (not views) DB holds.
db_base_tables() {
  db_query "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$1' AND TABLE_TYPE <> 'VIEW'"
}

# db_list DB: the `table` lines (exact counts, generated as one SELECT per table) and `object` lines.
db_list() {
  dl_sql=$(db_query "SELECT CONCAT('SELECT CONCAT(''table '', ', QUOTE(TABLE_NAME), ', '' '', COUNT(*)) FROM $BT$1$BT.', $(db_qi TABLE_NAME), ';')
    FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$1' AND TABLE_TYPE <> 'VIEW' ORDER BY BINARY TABLE_NAME") || return 1
  if [ -n "$dl_sql" ]; then
    printf '%s\n' "$dl_sql" | db_client mariadb --batch --skip-column-names --raw --default-character-set=utf8mb4 2>"$DB_TMP/err" || return 1
  fi
  db_query "SELECT CONCAT('object view ', TABLE_NAME) AS o FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '$1'
    UNION ALL SELECT CONCAT('object trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '$1'
    UNION ALL SELECT CONCAT('object ', LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '$1'
    UNION ALL SELECT CONCAT('object event ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '$1'
    ORDER BY BINARY o"
}

# ---------------------------------------------------------------------------------------------
# The manifest: one awk pass over the dump as it streams (every line passes on unless quiet=1).
# Rows are counted from the text: escapes, then quoted strings and identifiers are stripped, and each
# INSERT statement holds 1 + its `),(` separators rows (also across lines: mariadb-dump 10.11 writes
# one row per line). Each table's INSERT lines go through md5sum; mariadb-dump writes them together.
# The trailer is written only when the file $status says 0 (mariadb-dump's exit status, written
# before the pipe closes, so it is there when awk sees the end).
DB_MANIFEST_AWK='
function ident(s, i,   n, c) {
  n = ""
  for (i++; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "`") {
      if (substr(s, i + 1, 1) != "`") break
      i++
    }
    n = n c
  }
  IDENT_END = i
  return n
}
function table(t) {
  if (t in rows) return
  order[++n] = t
  pos[t] = n
  rows[t] = 0
}
function count(s,   c) {
  gsub(/\\./, "", s)
  gsub(sq, "", s)
  c = gsub(/\)[ \t]*,[ \t]*\(/, "", s)
  if (pend && s ~ /^[ \t]*\(/) c++
  pend = s ~ /\)[ \t]*,[ \t]*$/
  return c
}
BEGIN { q = sprintf("%c", 39); sq = q "[^" q "]*" q }
data {
  print | sum[cur]
  rows[cur] += count($0)
  if ($0 ~ /;[ \t]*$/) data = 0
  if (!quiet) print
  next
}
/^INSERT INTO `/ {
  t = ident($0, 13)
  table(t)
  if (t != cur) {
    if (cur != "") close(sum[cur])
    cur = t
    if (!(t in sum)) sum[t] = "md5sum >>" q tmp "/md5." pos[t] q
  }
  print | sum[t]
  pend = 0
  rows[t] += 1 + count(substr($0, IDENT_END + 1))
  data = $0 !~ /;[ \t]*$/
  if (!quiet) print
  next
}
/^CREATE TABLE `/ { table(ident($0, 14)) }
/^\/\*!50001 DROP VIEW IF EXISTS `/ { view[ident($0, 30)] = 1 }
!quiet { print }
END {
  if (status != "") {
    st = ""
    getline st < status
    if (st != "0") exit
  }
  if (cur != "") close(sum[cur])
  for (i = 1; i <= n; i++) {
    t = order[i]
    if (t in view) continue
    m = ""
    if (t in sum) {
      f = tmp "/md5." i
      while ((getline x < f) > 0) { split(x, a, " "); m = m (m == "" ? "" : "+") a[1] }
      close(f)
    }
    if (m == "") m = "d41d8cd98f00b204e9800998ecf8427e"
    print "-- mi-manifest: " t " " sprintf("%.0f", rows[t]) " " m
    k++
    total += rows[t]
  }
  print "-- mi-dump-complete: " db " " (k + 0) " " sprintf("%.0f", total)
}'

# db_dump DB QUIET DIR: the dump and its trailer on stdout (QUIET=1: the trailer only); DIR is a
# fresh folder for the md5 files and DIR/status, DIR/err.
db_dump() {
  mkdir "$3" || return 1
  {
    db_client mariadb-dump --single-transaction --quick --routines --triggers --events --order-by-primary \
      --hex-blob --skip-dump-date --default-character-set=utf8mb4 --max-allowed-packet=1073741824 "$1" 2>"$3/err"
    echo $? >"$3/status"
  } | LC_ALL=C awk -v tmp="$3" -v db="$1" -v status="$3/status" -v quiet="$2" "$DB_MANIFEST_AWK"
}

cmd_db_dump() {
  [ $# -eq 1 ] || die "$MI_EXIT_USAGE" "usage: db dump DB"
  db_name "$1"
  db_dump "$1" 0 "$DB_TMP/dump" || die "$MI_EXIT_DUMP" "db dump: cannot write the dump of $1"
  if [ "$(cat "$DB_TMP/dump/status" 2>/dev/null)" != 0 ]; then
    cat "$DB_TMP/dump/err" >&2
    die "$MI_EXIT_DUMP" "db dump: mariadb-dump of $1 failed: $(tail -n1 "$DB_TMP/dump/err")"
  fi
  cat "$DB_TMP/dump/err" >&2
}

# ---------------------------------------------------------------------------------------------
# The translator: one awk pass between the decompressor and the client. Data (INSERT/REPLACE
# statements, up to the line that ends them; strings in dumps hold no raw line breaks) passes
# untouched, after the cheapest test. Dropped statements leave an empty line, so the client's "at
# line N" is the line of the input. Every DEFINER becomes CURRENT_USER (root) in the scratch
# database: the --definer account has no rights there, and a view checks its definer's rights when
# it is created. The objects get the --definer account when they are re-created in TARGET (db_swap);
# the report already names it, and counts the objects that named no definer (they would get root).
# Also keeps the trailer (file $trailer), the counts (file $report) and whether there was any
# statement and the trailer came last (file $state).
DB_TRANSLATE_AWK='
function ends(l,   c) {
  c = substr(l, length(l))
  if (c == ";") return 1
  if (c != " " && c != "\t") return 0
  sub(/[ \t]+$/, "", l)
  return substr(l, length(l)) == ";"
}
function collation(c) {
  if (c in have) return c
  if (c ~ /_0900_bin$/) return "utf8mb4_bin"
  if (c ~ /_as_cs$/) return as_cs
  if (c ~ /_as_ci$/) return as_ci
  return ai_ci
}
function drop(l,   u, p, kind) {
  for (;;) {
    if (dropping) {
      p = index(l, ";")
      if (p == 0) return ""
      dropping = 0
      l = substr(l, p + 1)
      if (l ~ /^[ \t]*$/) return ""
    }
    u = toupper(l)
    sub(/^[ \t]+/, "", u)
    sub(/^\/\*![0-9]*[ \t]*/, "", u)
    kind = ""
    if (u ~ /^CREATE[ \t]+(DATABASE|SCHEMA)([ \t`]|$)/) kind = "CREATE-DATABASE"
    else if (u ~ /^DROP[ \t]+(DATABASE|SCHEMA)([ \t`]|$)/) kind = "DROP-DATABASE"
    else if (u ~ /^USE([ \t`]|$)/) kind = "USE"
    else if (u ~ /^SET[ \t]+@@GLOBAL\.GTID_PURGED/) kind = "SET-GTID-PURGED"
    if (kind == "") return l
    dropped[kind]++
    dropping = 1
  }
}
function count_definer(l,   u, p, rest) {
  u = toupper(l)
  if (u ~ /DEFINER[ \t]*=/ || !match(u, /^[ \t]*CREATE([ \t]+OR[ \t]+REPLACE)?/)) return
  p = RLENGTH
  rest = substr(u, p + 1)
  if (rest !~ /^[ \t]+(TRIGGER|PROCEDURE|FUNCTION|EVENT)[ \t`]/) {
    if (match(rest, /^[ \t]+ALGORITHM[ \t]*=[ \t]*[A-Z]+/)) {
      p += RLENGTH
      rest = substr(rest, RLENGTH + 1)
    }
    if (rest !~ /^[ \t]+(SQL[ \t]+SECURITY[ \t]+[A-Z]+[ \t]+)?VIEW[ \t`]/) return
  }
  ndef["CURRENT_USER", definer]++
}
function translate(l,   out, low, c, to, m, p, acct) {
  out = ""
  low = tolower(l)
  while (match(low, /utf8mb4_([a-z]+_)*0900_[a-z_]*[a-z]/)) {
    c = substr(low, RSTART, RLENGTH)
    to = collation(c)
    if (to != c) {
      ncoll[c, to]++
      m = to
    } else m = substr(l, RSTART, RLENGTH)
    out = out substr(l, 1, RSTART - 1) m
    l = substr(l, RSTART + RLENGTH)
    low = substr(low, RSTART + RLENGTH)
  }
  l = out l
  out = ""
  low = tolower(l)
  while (match(low, defre)) {
    m = substr(l, RSTART, RLENGTH)
    p = index(m, "=")
    acct = substr(m, p + 1)
    sub(/^[ \t]+/, "", acct)
    if (tolower(acct) != tolower(definer)) ndef[acct, definer]++
    m = substr(m, 1, p) "CURRENT_USER"
    out = out substr(l, 1, RSTART - 1) m
    l = substr(l, RSTART + RLENGTH)
    low = substr(low, RSTART + RLENGTH)
  }
  l = out l
  if (inject) count_definer(l)
  return l
}
BEGIN {
  q = sprintf("%c", 39)
  part = "(`[^`]*`|" q "[^" q "]*" q "|\"[^\"]*\"|[a-z0-9_.$%-]+)"
  defre = "definer[ \t]*=[ \t]*(" part "@" part "|current_user(\\(\\))?)"
  while ((getline c < known) > 0) have[tolower(c)] = 1
  close(known)
  ai_ci = ("utf8mb4_uca1400_ai_ci" in have) ? "utf8mb4_uca1400_ai_ci" : "utf8mb4_unicode_520_ci"
  as_cs = ("utf8mb4_uca1400_as_cs" in have) ? "utf8mb4_uca1400_as_cs" : "utf8mb4_bin"
  as_ci = ("utf8mb4_uca1400_as_ci" in have) ? "utf8mb4_uca1400_as_ci" : "utf8mb4_unicode_520_ci"
  delim = ";"
}
{
  l = $0
  if (substr(l, length(l)) == "\r") l = substr(l, 1, length(l) - 1)
  if (data) {
    print l
    if (ends(l)) data = 0
    next
  }
  if (l ~ /^[ \t]*$/) { print l; next }
  if (done) after = 1
  if (substr(l, 1, 2) == "--") {
    if (substr(l, 1, 16) == "-- mi-manifest: ") print l > trailer
    else if (substr(l, 1, 21) == "-- mi-dump-complete: ") {
      print l > trailer
      done = 1
      after = 0
    }
    print l
    next
  }
  stmts++
  if (delim == ";" && !dropping) {
    c = substr(l, 1, 1)
    if ((c == "I" || c == "i" || c == "R" || c == "r") && toupper(substr(l, 1, 8)) ~ /^(INSERT|REPLACE)[ \t]/) {
      print l
      data = !ends(l)
      next
    }
  }
  if (toupper(substr(l, 1, 10)) == "DELIMITER ") {
    d = substr(l, 11)
    gsub(/[ \t]/, "", d)
    if (d != "") delim = d
    print l
    next
  }
  if (delim == ";") l = drop(l)
  print translate(l)
}
END {
  for (k in ncoll) { split(k, p, SUBSEP); print "translated collation " p[1] " " p[2] " " ncoll[k] > report }
  for (k in ndef) { split(k, p, SUBSEP); print "translated definer " p[1] " " p[2] " " ndef[k] > report }
  for (k in dropped) print "dropped statement " k " " dropped[k] > report
  print "statements " (stmts + 0) > state
  print "trailer " (done && !after ? 1 : 0) > state
}'

# The statuses compare afterwards: who failed first decides the message.
db_load_stream() {
  {
    case $DB_COMPRESSION in
      gzip) gzip -dc ;;
      zstd) zstd -dcq ;;
      *) cat ;;
    esac 2>"$DB_TMP/decompress.err"
    echo $? >"$DB_TMP/decompress.status"
  } | LC_ALL=C awk -v known="$DB_TMP/collations" -v definer="$DB_DEFINER" -v inject="$DB_INJECT" \
    -v trailer="$DB_TMP/trailer" -v report="$DB_TMP/report" -v state="$DB_TMP/state" "$DB_TRANSLATE_AWK" | {
    db_run "$DB_SCRATCH" 2>"$DB_TMP/load.err"
    echo $? >"$DB_TMP/load.status"
  }
}

# Compares the trailer of the input (first file) with the manifest of the loaded data (second);
# prints the first difference. Exit 1: a table differs; 2: the trailer contradicts itself.
DB_COMPARE_AWK='
function name(   i, s) { s = $3; for (i = 4; i <= NF - 2; i++) s = s " " $i; return s }
function show(v,   a) { split(v, a, " "); return a[1] " rows (md5 " a[2] ")" }
FNR == NR && $2 == "mi-manifest:" { t = name(); want[t] = $(NF - 1) " " $NF; order[++n] = t; sum += $(NF - 1); next }
FNR == NR && $2 == "mi-dump-complete:" { wt = $(NF - 1); wr = $NF; next }
FNR == NR { next }
$2 == "mi-manifest:" { t = name(); got[t] = $(NF - 1) " " $NF; if (!(t in want) && extra == "") extra = t }
END {
  if (wt != n || wr != sum) { print "its trailer counts " wt " tables and " wr " rows, its manifest lines " n " and " sum; exit 2 }
  for (i = 1; i <= n; i++) {
    t = order[i]
    if (!(t in got)) { print "table " t " is missing after the load (the dump has " show(want[t]) ")"; exit 1 }
    if (got[t] != want[t]) { print "table " t " holds " show(got[t]) " after the load, the dump recorded " show(want[t]); exit 1 }
  }
  if (extra != "") { print "table " extra " is not in the dump manifest"; exit 1 }
}'

# db_kill_tree PID: PID and everything it started, children first (the pipeline of a load).
db_kill_tree() {
  for dk_child in $(children "$1"); do db_kill_tree "$dk_child"; done
  kill "$1" 2>/dev/null
  true
}

# db_drop_objects DB: drops every view, trigger, routine and event of DB.
db_drop_objects() {
  do_sql=$(db_query "SELECT CONCAT('DROP VIEW IF EXISTS $BT$1$BT.', $(db_qi TABLE_NAME), ';') FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '$1'
    UNION ALL SELECT CONCAT('DROP TRIGGER IF EXISTS $BT$1$BT.', $(db_qi TRIGGER_NAME), ';') FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '$1'
    UNION ALL SELECT CONCAT('DROP ', ROUTINE_TYPE, ' IF EXISTS $BT$1$BT.', $(db_qi ROUTINE_NAME), ';') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '$1'
    UNION ALL SELECT CONCAT('DROP EVENT IF EXISTS $BT$1$BT.', $(db_qi EVENT_NAME), ';') FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '$1'") || return 1
  [ -z "$do_sql" ] && return 0
  printf 'SET SESSION lock_wait_timeout = 60;\n%s\n' "$do_sql" | db_client mariadb --batch 2>"$DB_TMP/err"
}

# db_rename A TO_A B TO_B: every table of A into TO_A and every table of B into TO_B, in one RENAME
# TABLE (atomic: all or none), A's first, so B's tables may take the names A's had.
db_rename() {
  dr_sql=$(db_query "SET SESSION group_concat_max_len = 4294967295;
    SELECT CONCAT('RENAME TABLE ', GROUP_CONCAT(CONCAT('$BT', TABLE_SCHEMA, '$BT.', $(db_qi TABLE_NAME), ' TO $BT',
      IF(TABLE_SCHEMA = '$1', '$2', '$4'), '$BT.', $(db_qi TABLE_NAME)) ORDER BY TABLE_SCHEMA = '$1' DESC, TABLE_NAME SEPARATOR ', '), ';')
    FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('$1', '$3') AND TABLE_TYPE <> 'VIEW' HAVING COUNT(*) > 0") || return 1
  [ -z "$dr_sql" ] && return 0
  # A session still using a table would make RENAME wait for a year by default.
  printf 'SET SESSION lock_wait_timeout = 60;\n%s\n' "$dr_sql" | db_client mariadb --batch 2>"$DB_TMP/err"
}

# db_capture DB NAME: DB's triggers, routines and events ($DB_TMP/NAME-objects.sql) and views
# (NAME-views.sql) as SQL, for re-creating them elsewhere: mariadb-dump writes them unqualified
# (DB is the current database while it dumps), and views in two stages (stand-ins first), so views
# on views work in any order.
db_capture() {
  db_client mariadb-dump --default-character-set=utf8mb4 --no-create-info --no-data --skip-opt --triggers --routines \
    --events --skip-comments "$1" >"$DB_TMP/$2-objects.sql" 2>"$DB_TMP/err" || return 1
  dc_views=$(db_query "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '$1' ORDER BY TABLE_NAME") || return 1
  : >"$DB_TMP/$2-views.sql"
  [ -n "$dc_views" ] || return 0
  (
    dc_db=$1 dc_file=$DB_TMP/$2-views.sql
    IFS='
'
    set -f
    # shellcheck disable=SC2086 # one view name per line
    set -- $dc_views
    db_client mariadb-dump --default-character-set=utf8mb4 --no-data --skip-triggers --skip-lock-tables --skip-comments \
      "$dc_db" "$@" >"$dc_file" 2>"$DB_TMP/err"
  )
}

# db_swapped: whether the RENAME happened (it is atomic: the scratch database lost all its tables,
# or the holding database got the target's).
db_swapped() {
  if [ "$DB_S_TABLES" -gt 0 ]; then
    [ "$(db_base_tables "$DB_SCRATCH")" = 0 ]
  elif [ "$DB_T_TABLES" -gt 0 ]; then
    ds_n=$(db_base_tables "$DB_HOLD") && [ -n "$ds_n" ] && [ "$ds_n" -gt 0 ]
  else
    return 1
  fi
}

# db_undo: TARGET back as it was, the scratch and holding databases gone.
db_undo() {
  if [ "$DB_TOUCHED" = 1 ]; then
    db_drop_objects "$DB_TARGET" || say "db load: cannot drop the new objects of $DB_TARGET: $(db_err)"
    if db_swapped; then
      db_rename "$DB_TARGET" "$DB_SCRATCH" "$DB_HOLD" "$DB_TARGET" || {
        DB_KEEP_TMP=1
        DB_UNDO_FAILED="cannot move the tables of $DB_TARGET back ($(db_err)): they are in database $DB_HOLD, the loaded ones in $DB_TARGET, the previous views, triggers and routines in $DB_TMP/target-*.sql"
        return
      }
    fi
    db_run "$DB_TARGET" <"$DB_TMP/target-objects.sql" 2>"$DB_TMP/err" && db_run "$DB_TARGET" <"$DB_TMP/target-views.sql" 2>"$DB_TMP/err" || {
      DB_KEEP_TMP=1
      DB_UNDO_FAILED="the tables of $DB_TARGET are back, but its views, triggers and routines could not be re-created ($(db_err)): they are in $DB_TMP/target-*.sql"
    }
  fi
  db_drop_scratch
}

db_drop_scratch() {
  for dd_db in "$DB_SCRATCH" "$DB_HOLD"; do
    [ -n "$dd_db" ] || continue
    db_query "DROP DATABASE IF EXISTS $BT$dd_db$BT" || say "db load: cannot drop database $dd_db: $(db_err)"
  done
}

# db_fail STATUS MESSAGE: stops the load, puts TARGET back, exits.
db_fail() {
  trap '' HUP INT TERM PIPE
  if [ -n "$DB_BG" ]; then
    db_kill_tree "$DB_BG"
    wait "$DB_BG" 2>/dev/null
    DB_BG=''
  fi
  db_undo
  [ -z "$DB_UNDO_FAILED" ] || die "$MI_EXIT_FAILED" "db load: $2; then $DB_UNDO_FAILED"
  die "$1" "db load: $2"
}

db_interrupted() { db_fail "$MI_EXIT_INTERRUPTED" "interrupted by a signal; $DB_TARGET unchanged"; }

# db_swap: the loaded tables of SCRATCH become TARGET's; TARGET's old ones go to HOLD.
db_swap() {
  db_capture "$DB_SCRATCH" scratch && db_capture "$DB_TARGET" target || return 1
  if [ "$DB_INJECT" = 1 ]; then
    # mariadb-dump writes every definer as `user`@`host`; in the scratch database they are all root.
    for ds_f in "$DB_TMP/scratch-objects.sql" "$DB_TMP/scratch-views.sql"; do
      sed "s|DEFINER=${BT}[^${BT}]*${BT}@${BT}[^${BT}]*${BT}|DEFINER=$DB_DEFINER|g" "$ds_f" >"$ds_f.new" && mv -f "$ds_f.new" "$ds_f" || return 1
    done
  fi
  DB_S_TABLES=$(db_base_tables "$DB_SCRATCH") && DB_T_TABLES=$(db_base_tables "$DB_TARGET") || return 1
  db_query "CREATE DATABASE $BT$DB_HOLD$BT" || return 1
  # MariaDB refuses to move a table with triggers to another database, and views, routines and
  # events cannot move at all: they are dropped on both sides and re-created after the RENAME.
  DB_TOUCHED=1
  db_drop_objects "$DB_SCRATCH" && db_drop_objects "$DB_TARGET" || return 1
  db_rename "$DB_TARGET" "$DB_HOLD" "$DB_SCRATCH" "$DB_TARGET" || return 1
  checkpoint db-renamed
  db_run "$DB_TARGET" <"$DB_TMP/scratch-objects.sql" 2>"$DB_TMP/err" &&
    db_run "$DB_TARGET" <"$DB_TMP/scratch-views.sql" 2>"$DB_TMP/err"
}

# db_first_error FILE: the client's first error line (it names the input line), printable.
db_first_error() {
  { grep -m1 '^ERROR' "$1" || grep -m1 . "$1"; } 2>/dev/null | cut -c1-300 | LC_ALL=C tr -d '\000-\010\013-\037\177'
}

cmd_db_load() {
  [ $# -ge 1 ] || die "$MI_EXIT_USAGE" "usage: db load TARGET [--replace] [--compression none|gzip|zstd] [--definer USER@HOST] [--expect-manifest]"
  DB_TARGET=$1
  shift
  db_name "$DB_TARGET"
  replace='' expect='' DB_COMPRESSION=none DB_DEFINER=CURRENT_USER DB_INJECT=0
  while [ $# -gt 0 ]; do
    case $1 in
      --replace) replace=1 && shift ;;
      --expect-manifest) expect=1 && shift ;;
      --compression)
        case ${2:-} in
          none | gzip | zstd) DB_COMPRESSION=$2 ;;
          *) die "$MI_EXIT_USAGE" "db load: --compression takes none, gzip or zstd" ;;
        esac
        shift 2
        ;;
      --definer)
        dl_acct=${2:-}
        dl_user=${dl_acct%@*} dl_host=${dl_acct##*@}
        case $dl_user in '' | *[!A-Za-z0-9_.-]*) dl_acct='' ;; esac
        case $dl_host in '' | *[!A-Za-z0-9_.%:-]*) dl_acct='' ;; esac
        [ -n "$dl_acct" ] && [ "$dl_user" != "$dl_acct" ] ||
          die "$MI_EXIT_USAGE" "db load: --definer takes USER@HOST (letters, digits, _ . - and % : in the host)"
        DB_DEFINER="$BT$dl_user$BT@$BT$dl_host$BT" DB_INJECT=1
        shift 2
        ;;
      *) die "$MI_EXIT_USAGE" "db load: unknown option $1" ;;
    esac
  done

  db_exists "$DB_TARGET" || die "$MI_EXIT_USAGE" "db load: database $DB_TARGET does not exist; create it (and its grants) first"
  if [ -z "$replace" ]; then
    dl_n=$(db_query "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB_TARGET' AND TABLE_TYPE <> 'VIEW'),
      (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '$DB_TARGET')
      + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '$DB_TARGET')
      + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '$DB_TARGET')
      + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '$DB_TARGET')") || db_server_failed
    # shellcheck disable=SC2086 # two numbers
    set -- $dl_n
    [ "$1" = 0 ] && [ "$2" = 0 ] ||
      die "$MI_EXIT_NOT_EMPTY" "db load: database $DB_TARGET is not empty ($1 tables, $2 views/triggers/routines/events); pass --replace to replace its contents"
  fi
  # The collations this server has; COLLATIONS lists utf8mb4_uca1400_* only as uca1400_* since
  # 10.10, where the full names are in COLLATION_CHARACTER_SET_APPLICABILITY.
  { db_query "SELECT FULL_COLLATION_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY" ||
    db_query "SELECT COLLATION_NAME FROM information_schema.COLLATIONS"; } >"$DB_TMP/collations" || db_server_failed
  dl_charset=$(db_query "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$DB_TARGET'") ||
    db_server_failed

  dl_id=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  DB_SCRATCH=mi_load_$dl_id DB_HOLD=mi_old_$dl_id
  trap db_interrupted HUP INT TERM PIPE
  # The scratch database takes TARGET's defaults: objects that name no charset get what they would
  # have got in TARGET. Loads run as root (SUPER), so stored functions load even with log_bin on:
  # log_bin_trust_function_creators only matters for users without SUPER.
  db_query "CREATE DATABASE $BT$DB_SCRATCH$BT CHARACTER SET $dl_charset" || db_fail "$MI_EXIT_FAILED" "cannot create the scratch database: $(db_err)"
  say "db load: loading into $DB_SCRATCH"
  : >"$DB_TMP/trailer"
  : >"$DB_TMP/report"
  exec 3<&0
  # In the background (stdin from fd 3: an asynchronous list gets /dev/null), so a signal ends the
  # wait at once and the trap can stop the pipeline.
  db_load_stream <&3 3<&- &
  DB_BG=$!
  wait "$DB_BG"
  DB_BG=''
  exec 3<&-

  dl_decompress=$(cat "$DB_TMP/decompress.status" 2>/dev/null)
  dl_client=$(cat "$DB_TMP/load.status" 2>/dev/null)
  dl_stmts=$(sed -n 's/^statements //p' "$DB_TMP/state" 2>/dev/null)
  dl_trailer=$(sed -n 's/^trailer //p' "$DB_TMP/state" 2>/dev/null)
  # The translator read to the end: a failed decompressor cut the input short (and any SQL error
  # followed from that); otherwise the client stopped first, at its error.
  if [ -n "$dl_stmts" ] && [ "$dl_decompress" != 0 ]; then
    db_fail "$MI_EXIT_INPUT" "cannot decompress the input as $DB_COMPRESSION: $(grep -m1 . "$DB_TMP/decompress.err" | cut -c1-200); $DB_TARGET unchanged"
  fi
  [ "$dl_client" = 0 ] ||
    db_fail "$MI_EXIT_INPUT" "$(db_first_error "$DB_TMP/load.err"); fix the dump and load again, $DB_TARGET unchanged"
  [ "$dl_decompress" = 0 ] ||
    db_fail "$MI_EXIT_INPUT" "cannot decompress the input as $DB_COMPRESSION: $(grep -m1 . "$DB_TMP/decompress.err" | cut -c1-200); $DB_TARGET unchanged"
  [ -n "$dl_stmts" ] || db_fail "$MI_EXIT_FAILED" "the SQL translator failed; $DB_TARGET unchanged"
  [ "$dl_stmts" -gt 0 ] || db_fail "$MI_EXIT_INPUT" "the input holds no SQL statement; $DB_TARGET unchanged"

  if [ -n "$expect" ]; then
    [ "$dl_trailer" = 1 ] ||
      db_fail "$MI_EXIT_INPUT" "the dump is truncated: no mi-dump-complete line at its end; $DB_TARGET unchanged"
    say "db load: verifying $DB_SCRATCH against the dump's manifest"
    db_dump "$DB_SCRATCH" 1 "$DB_TMP/verify" >"$DB_TMP/loaded" &
    DB_BG=$!
    wait "$DB_BG"
    DB_BG=''
    [ "$(cat "$DB_TMP/verify/status" 2>/dev/null)" = 0 ] ||
      db_fail "$MI_EXIT_FAILED" "cannot dump the loaded data to verify it: $(tail -n1 "$DB_TMP/verify/err")"
    dl_diff=$(LC_ALL=C awk "$DB_COMPARE_AWK" "$DB_TMP/trailer" "$DB_TMP/loaded")
    case $? in
      0) ;;
      2) db_fail "$MI_EXIT_INPUT" "the dump is damaged: $dl_diff; $DB_TARGET unchanged" ;;
      *) db_fail "$MI_EXIT_VERIFY" "the loaded data does not match the dump: $dl_diff; $DB_TARGET unchanged" ;;
    esac
  fi

  checkpoint db-loaded
  say "db load: swapping $DB_SCRATCH into $DB_TARGET"
  db_swap || db_fail "$MI_EXIT_FAILED" "cannot swap the loaded tables into $DB_TARGET: $(db_err); $DB_TARGET put back"
  # Committed: finishing the clean-up and the report beats stopping half-way now.
  trap '' HUP INT TERM PIPE
  DB_TOUCHED=0
  db_drop_scratch
  db_list "$DB_TARGET" || die "$MI_EXIT_FAILED" "db load: loaded into $DB_TARGET, but cannot list it: $(db_err)"
  LC_ALL=C sort "$DB_TMP/report"
}

cmd_db() {
  [ $# -ge 1 ] || die "$MI_EXIT_USAGE" "usage: db dump|load|tables|exists ..."
  db_cmd=$1
  shift
  DB_TMP=$(mktemp -d) || exit "$MI_EXIT_FAILED"
  trap '[ "$DB_KEEP_TMP" = 1 ] || rm -rf "$DB_TMP"' EXIT
  case $db_cmd in
    dump) cmd_db_dump "$@" ;;
    load) cmd_db_load "$@" ;;
    tables)
      [ $# -eq 1 ] || die "$MI_EXIT_USAGE" "usage: db tables DB"
      db_name "$1"
      db_exists "$1" || die "$MI_EXIT_USAGE" "db tables: database $1 does not exist"
      db_list "$1" || db_server_failed
      ;;
    exists)
      [ $# -eq 1 ] || die "$MI_EXIT_USAGE" "usage: db exists DB"
      db_name "$1"
      db_exists "$1"
      ;;
    *) die "$MI_EXIT_USAGE" "db: unknown subcommand $db_cmd (dump, load, tables, exists)" ;;
  esac
}

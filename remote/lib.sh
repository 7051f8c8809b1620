# shellcheck shell=sh
# Shared by every mi-remote command: exit statuses, messages, the test checkpoints, and the file
# transaction (stage -> back up -> swap -> validate -> notify -> commit, restored on any failure).

# Exit statuses the executor maps to error codes (src/core/remote.ts mirrors this table; a test
# keeps them equal).
MI_EXIT_FAILED=1
MI_EXIT_USAGE=2
MI_EXIT_INVALID=10
MI_EXIT_ACTIVATION=11
MI_EXIT_NOT_READY=12
MI_EXIT_APT_LOCKED=13
MI_EXIT_DOWNLOAD=14
MI_EXIT_INTERRUPTED=15
MI_EXIT_BUILD=16
MI_EXIT_MIGRATION=17
MI_EXIT_DUMP=18
MI_EXIT_INPUT=19
MI_EXIT_VERIFY=20
MI_EXIT_NOT_EMPTY=21
MI_EXIT_REPOSITORY=22
MI_EXIT_LOCKED=75

# Runtime state of messenger-infra on the host (tmpfs: a reboot forgets locks and holds). Tests of
# the programs on a developer's machine point it elsewhere.
MI_RUN_DIR=${MI_RUN_DIR:-/run/messenger-infra}

# Used by the files that source this one.
: "$MI_EXIT_FAILED" "$MI_EXIT_INVALID" "$MI_EXIT_ACTIVATION" "$MI_EXIT_NOT_READY" "$MI_EXIT_APT_LOCKED" \
  "$MI_EXIT_DOWNLOAD" "$MI_EXIT_INTERRUPTED" "$MI_EXIT_BUILD" "$MI_EXIT_MIGRATION" "$MI_EXIT_LOCKED" \
  "$MI_EXIT_DUMP" "$MI_EXIT_INPUT" "$MI_EXIT_VERIFY" "$MI_EXIT_NOT_EMPTY" "$MI_EXIT_REPOSITORY"

say() { printf '%s\n' "$*" >&2; }

# die STATUS MESSAGE
die() {
  status=$1
  shift
  say "$*"
  exit "$status"
}

# checkpoint NAME: if $MI_RUN_DIR/hold-NAME exists, this program takes it (renamed to at-NAME, which
# then holds its PID) and waits here while at-NAME exists (at most 60 s). Tests use it to stop one
# program at an exact point and kill it there; in normal runs it is one `test -e`.
checkpoint() {
  [ -e "$MI_RUN_DIR/hold-$1" ] || return 0
  mv "$MI_RUN_DIR/hold-$1" "$MI_RUN_DIR/at-$1" 2>/dev/null || return 0
  echo "$$" >"$MI_RUN_DIR/at-$1"
  i=0
  while [ -e "$MI_RUN_DIR/at-$1" ] && [ "$i" -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  rm -f "$MI_RUN_DIR/at-$1"
}

# ---------------------------------------------------------------------------------------------
# The file transaction. Next to each managed PATH:
#   PATH.mi-new   the staged new content (written by `stage`)
#   PATH.mi-prev  the previous content, while a transaction is open
#   PATH.mi-none  marker: PATH did not exist before the open transaction
# A backup left by an interrupted run is the last known-good copy, so it is kept, never replaced by
# the unvalidated file now live. Facts report these leftovers as drift, so the next run validates
# and activates again.

TXN_FILES=''

# txn_add PATH: PATH takes part in the transaction.
txn_add() {
  case $1 in
    *'
'*) die "$MI_EXIT_USAGE" "a managed path must not contain a line break" ;;
  esac
  TXN_FILES="$TXN_FILES$1
"
}

# txn_each FUNCTION: calls FUNCTION PATH for every path of the transaction, in order.
txn_each() {
  saved_ifs=$IFS
  IFS='
'
  set -f
  for txn_path in $TXN_FILES; do
    IFS=$saved_ifs
    "$1" "$txn_path" || {
      set +f
      return 1
    }
    IFS='
'
  done
  IFS=$saved_ifs
  set +f
}

txn_backup_one() {
  if [ -e "$1.mi-prev" ] || [ -e "$1.mi-none" ]; then return 0; fi
  if [ -e "$1" ] || [ -L "$1" ]; then
    cp -pP "$1" "$1.mi-prev.tmp" && mv -fT "$1.mi-prev.tmp" "$1.mi-prev"
  else
    : >"$1.mi-none"
  fi
}

txn_swap_one() {
  [ -e "$1.mi-new" ] || {
    say "nothing staged for $1"
    return 1
  }
  mv -fT "$1.mi-new" "$1"
}

txn_restore_one() {
  if [ -e "$1.mi-prev" ] || [ -L "$1.mi-prev" ]; then
    mv -fT "$1.mi-prev" "$1"
  elif [ -e "$1.mi-none" ]; then
    rm -f "$1" "$1.mi-none"
  fi
  rm -f "$1.mi-new" "$1.mi-prev.tmp"
}

txn_commit_one() {
  rm -f "$1.mi-prev" "$1.mi-none" "$1.mi-prev.tmp"
}

# txn_begin: every backup first, then the swaps, so a failure at any point can put all back.
txn_begin() {
  txn_each txn_backup_one || {
    say "cannot back up the previous files"
    return 1
  }
  checkpoint backed-up
  txn_each txn_swap_one || {
    say "cannot move the new files into place"
    return 1
  }
  checkpoint swapped
}

# txn_extend PATH...: PATHs (staged beforehand) join the open transaction and swap in now; a later
# failure restores them with the rest.
txn_extend() {
  for txn_path in "$@"; do
    txn_add "$txn_path"
    txn_backup_one "$txn_path" || return 1
  done
  for txn_path in "$@"; do txn_swap_one "$txn_path" || return 1; done
}

txn_restore() { txn_each txn_restore_one; }
txn_commit() { txn_each txn_commit_one; }

# What `txn_fail` and a signal run to put the host back: a program sets its own (files, link, units).
TXN_ROLLBACK=txn_restore

# txn_fail STATUS MESSAGE: the verdict, the rollback (signals ignored meanwhile), the exit status.
txn_fail() {
  # Signals off first: after a dropped link, saying anything raises SIGPIPE, which must not re-enter
  # here. A signal may also have landed inside txn_each: word splitting back to normal.
  trap '' HUP INT TERM PIPE
  IFS=$(printf ' \t\n')
  set +f
  say "$2"
  "$TXN_ROLLBACK"
  exit "$1"
}

txn_interrupted() { txn_fail "$MI_EXIT_INTERRUPTED" "interrupted by a signal; previous files restored"; }

# txn_guard ROLLBACK: from here until txn_done, failures and HUP/INT/TERM/PIPE (a remote timeout, a
# dropped SSH link) run the function ROLLBACK before the program exits.
txn_guard() {
  TXN_ROLLBACK=$1
  trap txn_interrupted HUP INT TERM PIPE
}
txn_done() {
  txn_commit
  trap - HUP INT TERM PIPE
}

# ---------------------------------------------------------------------------------------------
# run_as USER DIR CMD [ARG...]: CMD (shell text from the stack: build, migrate) as USER in DIR, with
# ARGs as its $1..., in a transient unit, so it sees what the app will see; RA_OPTS holds more
# systemd-run options (our paths and names: no spaces), e.g. the app's environment files; RA_NODE a
# Node.js folder to put first on PATH (the release's own). Bounded to 15 minutes.
RA_OPTS=''
RA_NODE=''
run_as() {
  ra_user=$1 ra_dir=$2 ra_cmd=$3
  shift 3
  # shellcheck disable=SC2086 # RA_OPTS is a list of words
  systemd-run --quiet --wait --pipe --collect --service-type=exec --uid="$ra_user" --gid="$ra_user" \
    -p WorkingDirectory="$ra_dir" -p RuntimeMaxSec=900 -E PATH="${RA_NODE:+$RA_NODE/bin:}/usr/local/bin:/usr/bin:/bin" \
    -E NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt -E npm_config_update_notifier=false $RA_OPTS -- /bin/sh -c "$ra_cmd" sh "$@" </dev/null
}

# fetch_into URL SHA512HEX DIR: the registry tarball at URL, checked against its sha512, unpacked into
# DIR all or nothing (DIR.mi-new first, then renamed). apt-helper ships with apt on every Debian and
# Ubuntu, speaks https with the system CAs and checks the hash itself: no curl needed. Exits 14 on a
# failed or mismatched download.
fetch_into() {
  fi_tmp=$(mktemp -d) || exit "$MI_EXIT_FAILED"
  chown _apt "$fi_tmp" 2>/dev/null || true
  /usr/lib/apt/apt-helper -q download-file "$1" "$fi_tmp/pkg.tgz" "SHA512:$2" >/dev/null || {
    rm -rf "$fi_tmp"
    die "$MI_EXIT_DOWNLOAD" "cannot download $1 with sha512 $2"
  }
  rm -rf "$3.mi-new" && mkdir -p "$3.mi-new" || exit "$MI_EXIT_FAILED"
  tar -xzf "$fi_tmp/pkg.tgz" -C "$3.mi-new" --strip-components=1 --no-same-owner || {
    rm -rf "$fi_tmp"
    die "$MI_EXIT_DOWNLOAD" "cannot unpack $1"
  }
  rm -rf "$fi_tmp"
}

# ---------------------------------------------------------------------------------------------
# Validators (VALIDATOR: nginx:MAIN_CONF | mariadb | systemd:UNIT | sysctl:FILE) run with the new
# files live.

validate() {
  case $1 in
    nginx:*) nginx -t -q -c "${1#nginx:}" ;;
    # mariadbd parses every option file and fails on an unknown or malformed option.
    mariadb) mariadbd --help --verbose >/dev/null ;;
    systemd:*)
      # verify reports most mistakes as warnings with exit 0: a line naming a managed file fails too.
      out=$(systemd-analyze verify --man=no "${1#systemd:}" 2>&1)
      status=$?
      printf '%s\n' "$out" | grep -v '^$' >&2
      [ "$status" -eq 0 ] || return 1
      ! printf '%s\n' "$out" | grep -q '^/etc/systemd/system/'
      ;;
    # sysctl -p applies key by key and fails on a key the kernel refuses.
    sysctl:*) sysctl -q -p "${1#sysctl:}" ;;
    sshd:*) sshd_login_ok "${1#sshd:}" ;;
    fail2ban) fail2ban-client -t >/dev/null ;;
    # apt-config parses every apt.conf.d file and fails on a syntax error.
    apt) apt-config dump >/dev/null ;;
    perl:*) perl -c "${1#perl:}" 2>/dev/null ;;
    # A failure, not an exit: the caller is inside a transaction and must restore.
    *)
      say "unknown validator $1"
      return "$MI_EXIT_USAGE"
      ;;
  esac
}

# sshd_login_ok USER: sshd parses every file (sshd -t), and the settings evaluated for USER's next
# login (sshd -T -C) still take USER's key: a change can never lock out the account `up` runs as.
sshd_login_ok() {
  sshd -t || return 1
  eff=$(sshd -T -C "user=$1,host=localhost,addr=127.0.0.1" 2>&1) || {
    printf '%s\n' "$eff" >&2
    return 1
  }
  [ "$(sshd_value pubkeyauthentication)" = yes ] || {
    say "sshd would refuse $1's key (PubkeyAuthentication is not yes)"
    return 1
  }
  case $(sshd_value authenticationmethods) in
    any | publickey | '') ;;
    *)
      say "sshd would ask $1 for more than a key (AuthenticationMethods $(sshd_value authenticationmethods))"
      return 1
      ;;
  esac
  if [ "$1" = root ]; then
    case $(sshd_value permitrootlogin) in
      yes | prohibit-password | without-password) ;;
      *)
        say "sshd would refuse root, who deploys (PermitRootLogin $(sshd_value permitrootlogin))"
        return 1
        ;;
    esac
  fi
  allowed=$(sshd_value allowusers)
  if [ -n "$allowed" ] && ! printf '%s\n' "$allowed" | tr ' ' '\n' | grep -Eqx "($1|\*)(@.*)?"; then
    say "sshd would refuse $1 (AllowUsers does not name it)"
    return 1
  fi
  if printf '%s\n' "$(sshd_value denyusers)" | tr ' ' '\n' | grep -qx "$1"; then
    say "sshd would refuse $1 (DenyUsers names it)"
    return 1
  fi
}

# sshd_value KEY: KEY's value(s) in $eff (sshd -T output), one line.
sshd_value() {
  printf '%s\n' "$eff" | sed -n "s/^$1 //p" | tr '\n' ' ' | sed 's/ $//'
}

# What a validator leaves behind when the files are restored: sysctl has applied some keys already.
unvalidate() {
  case $1 in
    sysctl:*) sysctl -q --system ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Notifications (ACTION:UNIT: reload:nginx.service | restart:UNIT | daemon-reload).

notify() {
  case $1 in
    reload:nginx.service) reload_nginx ;;
    # A socket-activated sshd (ssh.socket) reads its files per connection: nothing runs to reload.
    reload:ssh.service) ! systemctl is-active --quiet ssh.service || systemctl reload ssh.service ;;
    reload:*) systemctl reload "${1#reload:}" ;;
    restart:*)
      # A unit that hit its start limit refuses to start until reset.
      systemctl reset-failed "${1#restart:}" 2>/dev/null
      systemctl enable --quiet "${1#restart:}" && systemctl restart "${1#restart:}"
      ;;
    daemon-reload) systemctl daemon-reload ;;
    *)
      say "unknown notification $1"
      return "$MI_EXIT_USAGE"
      ;;
  esac
}

# The PIDs of the children of process $1, space separated.
children() {
  for d in /proc/[0-9]*; do
    read -r _ _ _ pp _ <"$d/stat" 2>/dev/null && [ "$pp" = "$1" ] && printf '%s ' "${d#/proc/}"
  done
  true
}

# `systemctl reload nginx` only signals the master. Wait (bounded, 5 s) until a worker started from
# the new config exists and every old worker has stopped accepting ("is shutting down"), so the next
# request is served by the new config. The unit is enabled on the way.
reload_nginx() {
  if ! systemctl is-active --quiet nginx; then
    systemctl enable --quiet nginx && systemctl start nginx
    return
  fi
  master=$(cat /run/nginx.pid) || return 1
  old=" $(children "$master")"
  systemctl enable --quiet nginx && systemctl reload nginx || return 1
  i=0
  while [ "$i" -lt 100 ]; do
    fresh=0
    for p in $(children "$master"); do
      case "$old " in *" $p "*) ;; *) fresh=1 ;; esac
    done
    accepting=0
    for p in $old; do
      [ "$(tr -d '\000' <"/proc/$p/cmdline" 2>/dev/null)" = "nginx: worker process" ] && accepting=1
    done
    [ "$fresh" = 1 ] && [ "$accepting" = 0 ] && return 0
    i=$((i + 1))
    sleep 0.05
  done
  # nginx -t passed but the master did not load it (a port taken, a key it cannot read).
  say "nginx did not load the new config within 5 s; see journalctl -u nginx"
  return 1
}

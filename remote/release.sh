# shellcheck shell=sh
# release --release DIR --current LINK --instances DIR --port P... [--old P]... [--stale UNIT]...
#         --upstream FILE --health PATH [--timeout S] [--drain-after S] [--live-check PORT]
#         [--bus] [--migrate CMD --user USER [--env-file FILE]...] [--stamp FILE VALUE]
#         [--releases DIR --keep N] [--node DIR] [--node-current LINK] [--node-root DIR]
#         [--validate VALIDATOR]... -- [PATH...]
# Puts release DIR live on the instance ports P (messenger-chat@P.service, which runs from
# INSTANCES/P -> DIR), as one transaction with its staged config files:
#   1. the files and the INSTANCES/P links swap in; validators run;
#   2. MIGRATE runs once, as USER in DIR with the units' environment files (before any traffic);
#   3. the units on P start and each must answer PATH with 2xx within S seconds (the health gate);
#      with --bus (the bundled server with Redis), every new instance must also report the bus up,
#      so a message sent on either release reaches the clients of both;
#   4. nginx's upstream FILE names P, nginx -t, reload, and nginx's own live check (loopback
#      PORT/mi-live, answered through the upstream) must come from P three times running;
#   5. CURRENT -> DIR and NODE-CURRENT -> the release's Node.js (DIR/.mi-node) in the same
#      transaction, the stamp is written, the units on P are enabled;
#   6. the OLD instances drain: `systemctl stop` right away (the bundled server closes its sockets
#      itself, spread over a few seconds) or after S seconds (--drain-after, for a user's app that
#      keeps its sockets until SIGTERM); they are no longer enabled at boot.
# The units run DIR/.mi-node/bin/node: a release made before releases carried their Node.js (or a
# bundled one) gets the link first: to --node, else the Node.js that is live now. Versions under
# --node-root that no kept release links any more are removed with the releases (--keep).
# When P are the OLD ports (strategy restart, or the first release) the units restart in place.
# Any failure or signal before step 5 ends puts every file, link and the upstream back, stops what
# was started and reloads nginx: the old release never stopped serving.
# Exit: 0, 10 validation failed, 11 activation failed, 12 not ready / not switched, 15 interrupted,
#       17 the migration failed; all restored.

# shellcheck source=remote/wait-ready.sh
. "$MI_DIR/wait-ready.sh"

REL_UNITS=''
REL_INPLACE=0
REL_STARTED=0
REL_RELOADED=0

rel_rollback() {
  # The new instances never took traffic: stop them first, then put files, links and upstream back.
  # shellcheck disable=SC2086 # unit names have no spaces
  [ "$REL_STARTED" = 1 ] && [ "$REL_INPLACE" = 0 ] && systemctl stop $REL_UNITS
  txn_restore
  systemctl daemon-reload
  [ "$REL_RELOADED" = 1 ] && reload_nginx
  # In place, the live units restart on the restored release only if they were restarted at all.
  [ "$REL_INPLACE" = 1 ] && [ "$REL_STARTED" = 1 ] || return 0
  # shellcheck disable=SC2086
  systemctl reset-failed $REL_UNITS 2>/dev/null
  if [ -L "$REL_LINK" ]; then
    # shellcheck disable=SC2086
    systemctl restart $REL_UNITS
  else
    # shellcheck disable=SC2086
    systemctl stop $REL_UNITS
  fi
}

# live_from PORT: the port nginx's loopback live check was answered from (empty when none).
live_from() {
  curl -sS -m 2 -o /dev/null -D - "http://127.0.0.1:$1/mi-live" 2>/dev/null |
    sed -n 's/^[Xx]-[Mm]i-[Uu]pstream: *//p' | tr -d '\r' | sed 's/.*://'
}

# confirm_switch PORT: nginx answers its live check from a new port three times running (bounded).
confirm_switch() {
  i=0 ok=0
  while [ "$i" -lt 100 ]; do
    case " $REL_PORTS " in
      *" $(live_from "$1") "*) ok=$((ok + 1)) && [ "$ok" -ge 3 ] && return 0 ;;
      *) ok=0 ;;
    esac
    i=$((i + 1))
    sleep 0.1
  done
  say "nginx still answers from the old release after 10 s"
  return 1
}

# bus_of PORT: the state of the Redis bus the bundled server on PORT reports in /readyz ("old" for
# a release from before the bus, whose /readyz has no such field).
bus_of() {
  r=$(curl -fsS -m 2 "http://127.0.0.1:$1/readyz" 2>/dev/null) || return 0
  case $r in *'"bus":"'*) printf '%s\n' "$r" | sed -n 's/.*"bus":"\([a-z]*\)".*/\1/p' ;; *) echo old ;; esac
}

# await_bus PORT...: each instance is subscribed to the bus and can publish (bounded, 10 s); a
# release from before the bus (a rollback to it) has nothing to wait for.
await_bus() {
  i=0
  while [ "$i" -lt 100 ]; do
    short=''
    for p in "$@"; do
      case $(bus_of "$p") in up | old) ;; *) short="$short $p" ;; esac
    done
    [ -z "$short" ] && return 0
    i=$((i + 1))
    sleep 0.1
  done
  say "the new instances did not reach Redis within 10 s (ports:$short); is redis-server running? (up installs and configures it)"
  return 1
}

# drain PORT AFTER: the old instance on PORT stops now or after AFTER seconds, and not at boot.
drain() {
  u=messenger-chat@$1.service
  systemctl disable --quiet "$u" 2>/dev/null
  if [ "$2" -eq 0 ]; then
    systemctl stop --no-block "$u"
  else
    # A timer's default accuracy is a minute: the drain would last up to a minute longer.
    systemd-run --quiet --collect --unit="messenger-chat-drain-$1" --on-active="$2" --timer-property=AccuracySec=100ms \
      /bin/systemctl stop "$u" >&2 ||
      systemctl stop --no-block "$u"
  fi
}

cmd_release() {
  release='' REL_LINK='' instances='' REL_PORTS='' old='' stale='' upstream='' health=/readyz timeout=60
  drain_after=0 live_check='' bus=0 migrate='' user='' env_files='' stamp_file='' stamp='' releases='' keep=5 validators=''
  node='' node_current='' node_root=''
  while [ $# -gt 0 ]; do
    case $1 in
      --release) release=${2:?} && shift 2 ;;
      --current) REL_LINK=${2:?} && shift 2 ;;
      --instances) instances=${2:?} && shift 2 ;;
      --port) REL_PORTS="$REL_PORTS ${2:?}" && shift 2 ;;
      --old) old="$old ${2:?}" && shift 2 ;;
      --stale) stale="$stale ${2:?}" && shift 2 ;;
      --upstream) upstream=${2:?} && shift 2 ;;
      --health) health=${2:?} && shift 2 ;;
      --timeout) timeout=${2:?} && shift 2 ;;
      --drain-after) drain_after=${2:?} && shift 2 ;;
      --live-check) live_check=${2:?} && shift 2 ;;
      --bus) bus=1 && shift ;;
      --migrate) migrate=${2:?} && shift 2 ;;
      --user) user=${2:?} && shift 2 ;;
      --env-file) env_files="$env_files ${2:?}" && shift 2 ;;
      --stamp) stamp_file=${2:?} && stamp=${3:?} && shift 3 ;;
      --releases) releases=${2:?} && shift 2 ;;
      --keep) keep=${2:?} && shift 2 ;;
      --node) node=${2:?} && shift 2 ;;
      --node-current) node_current=${2:?} && shift 2 ;;
      --node-root) node_root=${2:?} && shift 2 ;;
      --validate) validators="$validators ${2:?}" && shift 2 ;;
      --) shift && break ;;
      *) die "$MI_EXIT_USAGE" "release: unknown option $1" ;;
    esac
  done
  [ -f "$release/.complete" ] && [ -n "$REL_LINK" ] && [ -n "$instances" ] && [ -n "$REL_PORTS" ] && [ -n "$upstream" ] ||
    die "$MI_EXIT_USAGE" "release: a complete --release, --current, --instances, --port and --upstream are required"
  [ -z "$migrate" ] || [ -n "$user" ] || die "$MI_EXIT_USAGE" "release: --migrate needs --user"
  for p in $REL_PORTS; do
    REL_UNITS="$REL_UNITS messenger-chat@$p.service"
    case " $old " in *" $p "*) REL_INPLACE=1 ;; esac
  done
  # Ports the new release does not take over keep serving until the switch; in place, none do.
  draining=''
  for p in $old; do
    case " $REL_PORTS " in *" $p "*) ;; *) draining="$draining $p" ;; esac
  done

  # Every kept release names its Node.js before anything switches (older ones: the live Node.js,
  # which is what they ran on), so a later rollback runs each on its own.
  live_node=''
  [ -n "$node_current" ] && live_node=$(readlink -f "$node_current" 2>/dev/null)
  for r in "$release" ${releases:+"$releases"/[0-9]*}; do
    [ -d "$r" ] && [ ! -L "$r/.mi-node" ] || continue
    n=$live_node
    [ "$r" = "$release" ] && n=${node:-$live_node}
    [ -n "$n" ] && ln -sfn "$n" "$r/.mi-node"
  done
  release_node=$(readlink "$release/.mi-node")
  [ -x "$release_node/bin/node" ] || die "$MI_EXIT_ACTIVATION" "release $release has no Node.js (${release_node:-no .mi-node link}); the live release keeps serving"

  for f in "$@"; do txn_add "$f"; done
  mkdir -p "$instances" || exit "$MI_EXIT_FAILED"
  for p in $REL_PORTS; do
    ln -sfn "$release" "$instances/$p.mi-new" || die "$MI_EXIT_ACTIVATION" "cannot stage $instances/$p"
    txn_add "$instances/$p"
  done
  txn_guard rel_rollback
  txn_begin || txn_fail "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  for v in $validators; do
    validate "$v" >&2 || txn_fail "$MI_EXIT_INVALID" "validation failed; previous files restored"
  done
  systemctl daemon-reload || txn_fail "$MI_EXIT_ACTIVATION" "activation failed; previous files restored"
  # A slot that still drains an older release (a deploy within drainSeconds) ends that drain now.
  for p in $REL_PORTS; do
    systemctl stop "messenger-chat-drain-$p.timer" 2>/dev/null
    [ "$REL_INPLACE" = 1 ] || systemctl stop "messenger-chat@$p.service"
    # A unit that hit its start limit refuses to start until reset.
    systemctl reset-failed "messenger-chat@$p.service" 2>/dev/null
  done

  if [ -n "$migrate" ]; then
    # shellcheck disable=SC2034 # read by run_as (lib.sh)
    RA_OPTS=''
    for f in $env_files; do RA_OPTS="$RA_OPTS -p EnvironmentFile=$f"; done
    # shellcheck disable=SC2034 # read by run_as (lib.sh)
    RA_NODE=$release_node
    say "migrating: $migrate"
    run_as "$user" "$release" "$migrate" >&2 || txn_fail "$MI_EXIT_MIGRATION" "the migration failed; nothing was switched, the live release keeps serving"
    checkpoint migrated
  fi

  REL_STARTED=1
  # shellcheck disable=SC2086
  systemctl restart $REL_UNITS || txn_fail "$MI_EXIT_ACTIVATION" "the new release did not start; previous files restored"
  checkpoint restarted
  for p in $REL_PORTS; do
    wait_ready "$p" "$timeout" "$health" || txn_fail "$MI_EXIT_NOT_READY" "the new release failed its health gate; the live release keeps serving"
  done
  if [ "$bus" = 1 ]; then
    # shellcheck disable=SC2086 # port numbers
    await_bus $REL_PORTS || txn_fail "$MI_EXIT_NOT_READY" "the new release failed its health gate; the live release keeps serving"
  fi

  # The upstream names the new ports; the file and the current link join the open transaction.
  : >"$upstream.mi-new" || txn_fail "$MI_EXIT_ACTIVATION" "cannot stage $upstream"
  for p in $REL_PORTS; do
    printf 'server 127.0.0.1:%s max_fails=3 fail_timeout=10s;\n' "$p" >>"$upstream.mi-new"
  done
  ln -sfn "$release" "$REL_LINK.mi-new" || txn_fail "$MI_EXIT_ACTIVATION" "cannot stage $REL_LINK"
  if [ -n "$node_current" ]; then
    ln -sfn "$release_node" "$node_current.mi-new" || txn_fail "$MI_EXIT_ACTIVATION" "cannot stage $node_current"
  fi
  txn_extend "$upstream" "$REL_LINK" ${node_current:+"$node_current"} || txn_fail "$MI_EXIT_ACTIVATION" "cannot switch the upstream"
  if systemctl is-active --quiet nginx; then
    nginx -t -q >&2 || txn_fail "$MI_EXIT_INVALID" "nginx rejected the new upstream; previous files restored"
    REL_RELOADED=1
    reload_nginx >&2 || txn_fail "$MI_EXIT_ACTIVATION" "nginx did not reload; previous files restored"
    # Only a site that serves the old release has something to confirm (not the first release).
    if [ -n "$draining" ] && [ -n "$live_check" ] && [ -n "$(live_from "$live_check")" ]; then
      confirm_switch "$live_check" || txn_fail "$MI_EXIT_NOT_READY" "the switch was not confirmed; the old release keeps serving"
    fi
  fi
  checkpoint switched
  # shellcheck disable=SC2086
  systemctl enable --quiet $REL_UNITS || txn_fail "$MI_EXIT_ACTIVATION" "cannot enable the new release; previous files restored"
  if [ -n "$stamp_file" ]; then
    printf '%s\n' "$stamp" >"$stamp_file.mi-tmp" && mv -f "$stamp_file.mi-tmp" "$stamp_file"
  fi
  txn_done

  for p in $draining; do drain "$p" "$drain_after"; done
  for u in $stale; do
    systemctl disable --now --quiet "$u" || true
    # A stopped unit that had failed stays listed until reset; the next run would see it again.
    systemctl reset-failed "$u" 2>/dev/null || true
  done
  if [ -n "$releases" ]; then
    # Keep the newest KEEP releases, the live one and the one still draining among them for sure.
    # Release names are ours (time-hash): no spaces or newlines.
    keepers="$release"
    for p in $draining; do keepers="$keepers
$(readlink "$instances/$p")"; done
    find "$releases" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' | sort -r |
      grep -Fvx "$keepers" | tail -n +"$keep" | while read -r gone; do rm -rf "$gone"; done
  fi
  if [ -n "$node_root" ] && [ -n "$releases" ]; then
    # A Node.js version (about 100 MB) stays while a kept release or `current` runs on it.
    # Resolved on both sides: a root reached through a link must not look unused.
    root=$(readlink -f "$node_root") || root=$node_root
    used=$(readlink -f "$node_current" 2>/dev/null
      for r in "$releases"/[0-9]*; do readlink -f "$r/.mi-node" 2>/dev/null; done)
    for d in "$root"/[0-9]*; do
      [ -d "$d" ] || continue
      printf '%s\n' "$used" | grep -Fqx "$d" || rm -rf "$d"
    done
  fi
}

# shellcheck shell=sh
# facts N KIND [ARG...] [N KIND [ARG...]]...: reads many facts in one round trip; read-only. Each
# group is its word count N, then the kind and its arguments. Every fact's output is framed as
#   @@MI-FACT <index>\n<output>\n@@MI-END <index> <exit status>\n
# for the parsers in src/core/facts.ts. Kinds:
#   host                    os-release ID and VERSION_ID, uname -m, container (or none), uid
#   limits                  PID 1's hard nofile limit and whether it may raise it, nr_open, file-max,
#                           somaxconn, the ephemeral port range
#   file PATH               leftovers of an interrupted transaction, then mode/owner/group, sha256
#                           and base64 content, or "missing"
#   link PATH               leftovers, then the link's target
#   exists PATH             yes | no
#   read PATH               the file's content
#   packages NAME...        "NAME STATUS" per installed package
#   releases DIR            per complete release, newest first: its name and manifest (JSON line)
#   unit NAME               "ACTIVE ENABLED"
#   units PREFIX            loaded units PREFIX* with their state, and "enabled UNIT" per enabled one
#   user NAME               the uid, if the user exists
#   version BINARY          BINARY --version
#   swap                    active swap devices
#   ufw                     ufw status verbose
#   ssh-ports               "sshd PORT" per port sshd listens on, "session PORT" for this run's own connection
#   secrets FILE KEY...     the file's mode and owner, and per KEY the sha256 of its value
#   statoverride PATH       the path's mode and owner, and dpkg's statoverride for it ("override OWNER GROUP MODE")
#   inputs FILE             leftovers, then a composed file's mode and owner, and the hash of what it
#                           was composed from (its "# MI_INPUTS=" line), without its secret content
#   database DB USER FILE KEY  anonymous users, databases, the user@localhost/127.0.0.1, their grants on DB, and
#                           whether the user can log in
#   cert DOMAIN             the live certificate: fresh|expiring, its DNS names, its ACME server
#   cert-end DOMAIN         the live certificate's notAfter date
#   uptime                  seconds since boot
#   service UNIT            systemctl show: LoadState, ActiveState, SubState, ActiveEnterTimestamp
#   timer UNIT              systemctl show: NextElapseUSecRealtime, LastTriggerUSec
#   http URL                the body of GET URL on this host's loopback (a metrics or status page)
#   disk PATH               df -P -k of the file system holding PATH
#   memory                  /proc/meminfo
#   harden USER UNIT        sshd -T for USER's next login ("sshd KEY VALUE"), fail2ban's jails and bans,
#                           security updates on/off, a pending reboot, services needrestart lists,
#                           systemd-analyze security's exposure of UNIT

# shellcheck source=remote/secret.sh
. "$MI_DIR/secret.sh"

leftovers() {
  printf 'left'
  for s in mi-prev mi-none mi-new; do
    if [ -e "$1.$s" ] || [ -L "$1.$s" ]; then printf ' %s' "$s"; fi
  done
  printf '\n'
}

fact_host() {
  # shellcheck disable=SC1091
  (. /etc/os-release && printf '%s %s\n' "$ID" "$VERSION_ID")
  uname -m
  systemd-detect-virt --container 2>/dev/null || true
  id -u
}

# The descriptor and network limits a service gets: PID 1's hard nofile limit, whether PID 1 may
# raise it (CAP_SYS_RESOURCE, bit 24, in its bounding set; not in most containers), fs.nr_open,
# fs.file-max, somaxconn and the ephemeral port range.
fact_limits() {
  printf 'nofile-hard %s\n' "$(sed -n 's/^Max open files *[0-9a-z]* *\([0-9a-z]*\) .*/\1/p' /proc/1/limits)"
  bnd=$(sed -n 's/^CapBnd:\t*//p' /proc/1/status)
  if [ $((0x$bnd >> 24 & 1)) -eq 1 ]; then echo 'raise yes'; else echo 'raise no'; fi
  printf 'nr-open %s\nfile-max %s\nsomaxconn %s\nports %s\n' "$(cat /proc/sys/fs/nr_open)" "$(cat /proc/sys/fs/file-max)" \
    "$(cat /proc/sys/net/core/somaxconn)" "$(tr -s '\t ' ' ' </proc/sys/net/ipv4/ip_local_port_range)"
}

fact_file() {
  leftovers "$1"
  if [ -f "$1" ]; then
    stat -c '%a %U %G' "$1"
    sha256sum <"$1" | cut -d' ' -f1
    base64 -w0 <"$1"
  else
    echo missing
  fi
}

fact_link() {
  leftovers "$1"
  readlink "$1"
}

fact_exists() { if [ -e "$1" ]; then echo yes; else echo no; fi; }
fact_read() { cat "$1"; }
fact_packages() { dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true; }
fact_unit() { printf '%s %s\n' "$(systemctl is-active "$1" 2>/dev/null)" "$(systemctl is-enabled "$1" 2>/dev/null)"; }

fact_units() {
  systemctl list-units --all --plain --no-legend "$1*" 2>/dev/null | awk '{print $1, $3}'
  for u in /etc/systemd/system/multi-user.target.wants/"$1"*; do
    [ -e "$u" ] && printf 'enabled %s\n' "${u##*/}"
  done
  true
}

# releases DIR: one line per complete release, newest first: NAME then its manifest (one JSON line).
fact_releases() {
  [ -d "$1" ] || return 0
  for d in "$1"/[0-9]*/; do
    [ -f "$d.complete" ] || continue
    n=${d%/}
    printf '%s %s\n' "${n##*/}" "$(tr -d '\n' <"$d.mi-manifest.json" 2>/dev/null)"
  done | sort -r
}

fact_user() { id -u "$1"; }
fact_version() { "$1" --version; }
fact_swap() { swapon --show=NAME --noheadings; }
fact_ufw() { ufw status verbose; }

# The ports sshd listens on (`sshd -T`: every Port and ListenAddress, drop-ins included) and the local
# port of the session running this: the socket of the sshd process among our ancestors ($SSH_CONNECTION
# does not survive sudo). The firewall must keep both open.
fact_ssh_ports() {
  sshd -T 2>/dev/null | sed -n 's/^port \([0-9]*\)$/sshd \1/p; s/^listenaddress .*:\([0-9]*\)$/sshd \1/p' | sort -u
  pid=$$
  while [ "$pid" -gt 1 ] 2>/dev/null; do
    port=$(ss -tnpH state established 2>/dev/null | sed -n "s/^[0-9]* *[0-9]* *[^ ]*:\([0-9]*\) .*pid=$pid,.*/\1/p" | head -n1)
    if [ -n "$port" ]; then
      echo "session $port"
      break
    fi
    pid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
    [ -n "$pid" ] || break
  done
  true
}
fact_harden() {
  command -v sshd >/dev/null && sshd -T -C "user=$1,host=localhost,addr=127.0.0.1" 2>/dev/null | sed 's/^/sshd /'
  if command -v fail2ban-client >/dev/null && fail2ban-client ping >/dev/null 2>&1; then
    echo 'fail2ban running'
    for j in $(fail2ban-client status 2>/dev/null | sed -n 's/.*Jail list:[[:space:]]*//p' | tr ',' ' '); do
      echo "jail $j $(fail2ban-client status "$j" 2>/dev/null | sed -n 's/.*Currently banned:[[:space:]]*//p')"
    done
  fi
  if [ -x /usr/bin/unattended-upgrade ]; then
    apt-config dump 2>/dev/null | sed -n 's/^APT::Periodic::Unattended-Upgrade "\(.*\)";$/updates \1/p' | tail -n 1
  fi
  [ -f /run/reboot-required ] && echo "reboot-required $(sort -u /run/reboot-required.pkgs 2>/dev/null | tr '\n' ' ')"
  command -v needrestart >/dev/null && needrestart -b -r l 2>/dev/null | sed -n 's/^NEEDRESTART-SVC: */outdated /p'
  systemd-analyze security --no-pager "$2" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: *\([0-9.]*\).*/exposure \1/p'
  true
}

fact_secrets() {
  f=$1
  shift
  [ -f "$f" ] || return 0
  stat -c 'mode %a %U:%G' "$f"
  for k in "$@"; do
    v=$(secret_value "$f" "$k")
    [ -n "$v" ] && printf '%s %s\n' "$k" "$(printf %s "$v" | sha256sum | cut -c1-64)"
  done
  true
}

fact_statoverride() {
  [ -e "$1" ] || return 0
  stat -c 'mode %a %U:%G' "$1"
  dpkg-statoverride --list "$1" 2>/dev/null | sed -n 's/^\([^ ]*\) \([^ ]*\) \([0-7]*\) .*/override \1 \2 \3/p'
  true
}

fact_inputs() {
  leftovers "$1"
  [ -f "$1" ] || return 0
  stat -c 'mode %a %U:%G' "$1"
  sed -n 's/^# MI_INPUTS=/inputs /p' "$1"
}

fact_database() {
  db=$1 user=$2
  case "$db$user" in *[!a-z0-9_]*) die "$MI_EXIT_USAGE" "database: bad name" ;; esac
  command -v mariadb >/dev/null || {
    echo absent
    return 0
  }
  users=$(printf "SELECT CONCAT('anon ', host) FROM mysql.user WHERE user=''; SELECT CONCAT('db ', schema_name) FROM information_schema.schemata WHERE schema_name IN ('test', '%s'); SELECT CONCAT('user ', user, '@', host) FROM mysql.user WHERE user='%s';" "$db" "$user" |
    mariadb -N -B 2>/dev/null) || {
    echo down
    return 0
  }
  [ -z "$users" ] || printf '%s\n' "$users"
  # Every account of the app's user: the socket one (the bundled server), the TCP one (apps that dial
  # 127.0.0.1) and one per app server elsewhere; host names here are addresses (skip-name-resolve).
  for h in $(printf '%s\n' "$users" | sed -n "s/^user $user@\([0-9a-z.:%]*\)$/\1/p"); do
    printf "SHOW GRANTS FOR '%s'@'%s'" "$user" "$h" | mariadb -N -B 2>/dev/null | sed -n "s/^GRANT \\(.*\\) ON .$db.\\..*/grants@$h \\1/p"
  done
  if printf 'SELECT 1' | MYSQL_PWD=$(secret_value "$3" "$4") mariadb -u "$user" -N "$db" >/dev/null 2>&1; then
    echo login-ok
  else
    echo login-failed
  fi
}

fact_cert() {
  c=/etc/letsencrypt/live/$1/fullchain.pem
  [ -f "$c" ] || {
    echo missing
    return 0
  }
  if openssl x509 -in "$c" -noout -checkend 2592000 >/dev/null; then echo fresh; else echo expiring; fi
  openssl x509 -in "$c" -noout -ext subjectAltName 2>/dev/null | tr ',' '\n' | sed -n 's/^ *DNS://p'
  sed -n 's/^server = /server /p' "/etc/letsencrypt/renewal/$1.conf" 2>/dev/null
}

fact_cert_end() { openssl x509 -in "/etc/letsencrypt/live/$1/fullchain.pem" -noout -enddate; }
fact_uptime() { cut -d' ' -f1 /proc/uptime; }
fact_service() { systemctl show --timestamp=utc -p LoadState -p ActiveState -p SubState -p ActiveEnterTimestamp "$1"; }
fact_timer() { systemctl show --timestamp=utc -p NextElapseUSecRealtime -p LastTriggerUSec "$1"; }
fact_disk() { df -P -k "$1" | tail -n 1; }
fact_memory() { cat /proc/meminfo; }

fact_http() {
  # Loopback only: facts never reach out of the host.
  case $1 in
    http://127.0.0.1:* | http://localhost:*) curl -fsS -m 2 "$1" ;;
    *) die "$MI_EXIT_USAGE" "facts: http takes a loopback URL" ;;
  esac
}

# fact_one N KIND ARG...: runs fact KIND with exactly its N-1 arguments (the rest are later groups).
fact_one() {
  count=$(($1 - 1))
  kind=$2
  shift 2
  j=0
  for a in "$@"; do
    [ "$j" -eq 0 ] && set --
    [ "$j" -lt "$count" ] && set -- "$@" "$a"
    j=$((j + 1))
  done
  [ "$j" -ge "$count" ] || die "$MI_EXIT_USAGE" "facts: $kind needs $count argument(s)"
  case $kind in
    host | file | limits | link | exists | read | packages | releases | unit | units | user | version | swap | ufw | ssh-ports | secrets | statoverride | inputs | database | cert | \
      cert-end | uptime | service | timer | http | disk | memory | harden)
      "fact_$(printf %s "$kind" | tr - _)" "$@"
      ;;
    *) die "$MI_EXIT_USAGE" "facts: unknown kind $kind" ;;
  esac
}

cmd_facts() {
  index=0
  while [ $# -gt 0 ]; do
    n=$1
    shift
    case $n in '' | *[!0-9]*) die "$MI_EXIT_USAGE" "facts: expected a word count, got $n" ;; esac
    [ "$n" -ge 1 ] && [ $# -ge "$n" ] || die "$MI_EXIT_USAGE" "facts: group $index is cut short"
    printf '@@MI-FACT %s\n' "$index"
    (fact_one "$n" "$@") 2>/dev/null </dev/null
    printf '\n@@MI-END %s %d\n' "$index" "$?"
    shift "$n"
    index=$((index + 1))
  done
}

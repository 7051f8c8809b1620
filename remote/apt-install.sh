# shellcheck shell=sh
# apt-install PACKAGE...: installs the packages non-interactively in one transaction, keeping
# existing config files, and waits (bounded, 10 min) for a dpkg lock held by another process, e.g.
# unattended-upgrades on a fresh VPS. Package lists this program fetched in the last 10 minutes (for
# this run's first install, say) are used as they are, unless the install fails with them.
# Exit: 0, 13 dpkg stayed locked, 1 apt failed.

apt_get() {
  apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

cmd_apt_install() {
  [ $# -ge 1 ] || die "$MI_EXIT_USAGE" "usage: apt-install PACKAGE..."
  # needrestart lists, never restarts: the chat's instances restart only through a release switch.
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l
  log=$(mktemp) || exit "$MI_EXIT_FAILED"
  # apt dates its list files by the mirror's Last-Modified: our own stamp says when we updated.
  stamp=/var/lib/messenger-infra/apt-updated
  if [ -n "$(find "$stamp" -mmin -10 2>/dev/null)" ]; then
    if apt_get install --no-install-recommends "$@" >/dev/null 2>"$log"; then
      rm -f "$log"
      return 0
    fi
    # dpkg stayed locked: the second try would only wait as long again.
    grep -q 'Could not get lock' "$log" && apt_fail "$log"
  fi
  if apt_get update >/dev/null 2>"$log"; then
    mkdir -p "${stamp%/*}" && touch "$stamp"
    if apt_get install --no-install-recommends "$@" >/dev/null 2>>"$log"; then
      rm -f "$log"
      return 0
    fi
  fi
  apt_fail "$log"
}

# apt_fail LOG: apt's output on stderr, and the exit status it means.
apt_fail() {
  status=$MI_EXIT_FAILED
  grep -q 'Could not get lock' "$1" && status=$MI_EXIT_APT_LOCKED
  cat "$1" >&2
  rm -f "$1"
  exit "$status"
}

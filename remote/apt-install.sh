# shellcheck shell=sh
# apt-install PACKAGE...: installs the packages non-interactively in one transaction, keeping
# existing config files, and waits (bounded, 10 min) for a dpkg lock held by another process, e.g.
# unattended-upgrades on a fresh VPS. Package lists fetched in the last 10 minutes (by this run's
# first install, say) are used as they are, unless the install fails with them.
# Exit: 0, 13 dpkg stayed locked, 1 apt failed.

apt_get() {
  apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

cmd_apt_install() {
  [ $# -ge 1 ] || die "$MI_EXIT_USAGE" "usage: apt-install PACKAGE..."
  # needrestart lists, never restarts: the chat's instances restart only through a release switch.
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l
  log=$(mktemp) || exit "$MI_EXIT_FAILED"
  if [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*InRelease' -mmin -10 2>/dev/null | head -n 1)" ] &&
    apt_get install --no-install-recommends "$@" >/dev/null 2>"$log"; then
    rm -f "$log"
    return 0
  fi
  if apt_get update >/dev/null 2>"$log" && apt_get install --no-install-recommends "$@" >/dev/null 2>>"$log"; then
    rm -f "$log"
    return 0
  fi
  status=$MI_EXIT_FAILED
  grep -q 'Could not get lock' "$log" && status=$MI_EXIT_APT_LOCKED
  cat "$log" >&2
  rm -f "$log"
  exit "$status"
}

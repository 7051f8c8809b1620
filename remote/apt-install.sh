# shellcheck shell=sh
# apt-install PACKAGE...: installs the packages non-interactively in one transaction, keeping
# existing config files, and waits (bounded, 10 min) for a dpkg lock held by another process, e.g.
# unattended-upgrades on a fresh VPS.
# Exit: 0, 13 dpkg stayed locked, 1 apt failed.

apt_get() {
  apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

cmd_apt_install() {
  [ $# -ge 1 ] || die "$MI_EXIT_USAGE" "usage: apt-install PACKAGE..."
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
  log=$(mktemp) || exit "$MI_EXIT_FAILED"
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

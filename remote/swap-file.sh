# shellcheck shell=sh
# swap-file FILE MB: creates and enables a swap file of MB megabytes, listed in /etc/fstab.

cmd_swap_file() {
  [ $# -eq 2 ] || die "$MI_EXIT_USAGE" "usage: swap-file FILE MB"
  if ! swapon --show=NAME --noheadings | grep -qx "$1"; then
    rm -f "$1"
    fallocate -l "$2M" "$1" 2>/dev/null || dd if=/dev/zero of="$1" bs=1M count="$2" 2>/dev/null || exit "$MI_EXIT_FAILED"
    chmod 600 "$1" && mkswap "$1" >/dev/null && swapon "$1" || exit "$MI_EXIT_FAILED"
  fi
  grep -q "^$1 " /etc/fstab || echo "$1 none swap sw 0 0" >>/etc/fstab
}

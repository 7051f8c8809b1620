# shellcheck shell=sh
# swap-link TARGET LINK: points LINK at TARGET atomically (a new link renamed over the old one).

swap_link() {
  ln -sfn "$1" "$2.mi-new" && mv -Tf "$2.mi-new" "$2"
}

cmd_swap_link() {
  [ $# -eq 2 ] || die "$MI_EXIT_USAGE" "usage: swap-link TARGET LINK"
  mkdir -p "$(dirname "$2")" && swap_link "$1" "$2" || exit "$MI_EXIT_FAILED"
}

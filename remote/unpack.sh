# shellcheck shell=sh
# unpack DIR: extracts the tar archive on stdin into DIR (a release), all or nothing: into DIR.mi-new
# first, then renamed, with DIR/.complete last so a half-written release is never taken for one.

cmd_unpack() {
  [ $# -eq 1 ] || die "$MI_EXIT_USAGE" "usage: unpack DIR"
  rm -rf "$1.mi-new" && mkdir -p "$1.mi-new" || exit "$MI_EXIT_FAILED"
  tar -x -f - -C "$1.mi-new" --no-same-owner || {
    rm -rf "$1.mi-new"
    die "$MI_EXIT_FAILED" "cannot unpack into $1"
  }
  chmod 755 "$1.mi-new" && rm -rf "$1" && mv -T "$1.mi-new" "$1" && touch "$1/.complete" || exit "$MI_EXIT_FAILED"
}

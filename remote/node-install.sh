# shellcheck shell=sh
# node-install URL SHA512HEX DIR LINK: downloads the Node.js tarball, checks its sha512 and unpacks
# it into DIR (all or nothing), beside the versions already there. LINK (`current`, operators' node)
# is pointed at DIR only on a host that has none yet: on a live host it switches with the release
# that runs DIR, through the health gate (release --node-current).
# The download (lib.sh fetch_into) needs no curl, so this runs while apt installs packages.
# Exit: 0, 14 the download failed or did not match.

# shellcheck source=remote/swap-link.sh
. "$MI_DIR/swap-link.sh"

cmd_node_install() {
  [ $# -eq 4 ] || die "$MI_EXIT_USAGE" "usage: node-install URL SHA512HEX DIR LINK"
  dir=$3 link=$4
  # An image without CA certificates gets them from the apt install running alongside: wait (bounded).
  i=0
  until [ -s /etc/ssl/certs/ca-certificates.crt ]; do
    i=$((i + 1))
    [ "$i" -le 300 ] || die "$MI_EXIT_DOWNLOAD" "no CA certificates after 300 s"
    sleep 1
  done
  fetch_into "$1" "$2" "$dir"
  "$dir.mi-new/bin/node" --version >/dev/null || die "$MI_EXIT_DOWNLOAD" "the downloaded node does not run on this host"
  rm -rf "$dir" && mv -T "$dir.mi-new" "$dir" || exit "$MI_EXIT_FAILED"
  [ -L "$link" ] || swap_link "$dir" "$link" || exit "$MI_EXIT_FAILED"
}

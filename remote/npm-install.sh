# shellcheck shell=sh
# npm-install URL SHA512HEX DIR NPMLINK NPXLINK: downloads the registry's npm package, checks its
# sha512, unpacks it into DIR (all or nothing) and points NPMLINK/NPXLINK (/usr/local/bin/npm, npx)
# at its entry scripts, which run on the `node` that node-install put on PATH. Builds and operators
# use the same npm.
# Exit: 0, 14 the download failed or did not match.

# shellcheck source=remote/swap-link.sh
. "$MI_DIR/swap-link.sh"

cmd_npm_install() {
  [ $# -eq 5 ] || die "$MI_EXIT_USAGE" "usage: npm-install URL SHA512HEX DIR NPMLINK NPXLINK"
  dir=$3 npm=$4 npx=$5
  fetch_into "$1" "$2" "$dir"
  rm -rf "$dir" && mv -T "$dir.mi-new" "$dir" || exit "$MI_EXIT_FAILED"
  swap_link "$dir/bin/npm-cli.js" "$npm" && swap_link "$dir/bin/npx-cli.js" "$npx" || exit "$MI_EXIT_FAILED"
  "$npm" --version >/dev/null || die "$MI_EXIT_DOWNLOAD" "the downloaded npm does not run here"
}

# shellcheck shell=sh
# build DIR USER CACHE NODE ci|production [BUILD]: a user's app from its source (a tar archive on
# stdin) into the release DIR, all or nothing, with the Node.js in folder NODE (the one the release
# will run: DIR/.mi-node links it): unpacked into DIR.mi-new, installed as USER with `npm ci`
# (its download cache CACHE is kept between releases), built with BUILD (shell text), pruned to the
# production dependencies, then made root's (the app reads its code, never writes it), and renamed
# to DIR with DIR/.complete last. `production` (a tree built elsewhere) installs without dev
# dependencies and builds nothing. Nothing live changes. On failure the output's last lines come
# first and the verdict last.
# Exit: 0, 16 the install or build failed.

cmd_build() {
  [ $# -ge 5 ] && [ $# -le 6 ] || die "$MI_EXIT_USAGE" "usage: build DIR USER CACHE NODE ci|production [BUILD]"
  dir=$1 user=$2 cache=$3 node=$4 mode=$5 build=${6:-}
  [ -x "$node/bin/node" ] || die "$MI_EXIT_USAGE" "build: no Node.js in $node"
  case $mode in
    ci) install='npm ci --no-audit --no-fund --prefer-offline' ;;
    production) install='npm ci --omit=dev --no-audit --no-fund --prefer-offline' ;;
    *) die "$MI_EXIT_USAGE" "build: mode must be ci or production" ;;
  esac
  new=$dir.mi-new
  rm -rf "$new" && mkdir -p "$new" "$cache" || exit "$MI_EXIT_FAILED"
  tar -x -f - -C "$new" --no-same-owner || {
    rm -rf "$new"
    die "$MI_EXIT_FAILED" "cannot unpack the source into $new"
  }
  chown -R "$user:$user" "$new" "$cache" || exit "$MI_EXIT_FAILED"
  log=$(mktemp) || exit "$MI_EXIT_FAILED"
  # The build command comes after the install and before the prune, as $1 of the inner shell.
  steps="$install"' && { [ -z "$1" ] || { echo "> $1" && sh -c "$1"; }; }'
  [ "$mode" = ci ] && steps="$steps"' && npm prune --omit=dev --no-audit --no-fund'
  # shellcheck disable=SC2034 # read by run_as (lib.sh)
  RA_OPTS="-E HOME=$cache -E npm_config_cache=$cache/npm -E CI=true"
  # shellcheck disable=SC2034 # read by run_as (lib.sh)
  RA_NODE=$node
  if ! run_as "$user" "$new" "$steps" "$build" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -rf "$log" "$new"
    die "$MI_EXIT_BUILD" "installing or building the release failed; the live release keeps serving"
  fi
  rm -f "$log"
  chown -R root:root "$new" && chmod 755 "$new" && ln -sfn "$node" "$new/.mi-node" &&
    rm -rf "$dir" && mv -T "$new" "$dir" && touch "$dir/.complete" || exit "$MI_EXIT_FAILED"
}

#!/usr/bin/env bash
# Installs everything the toolkit, its tests and its local sandbox need on a fresh Debian machine:
# Debian packages (only the missing ones), npm packages (when the lock file changed), the app bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

# Host packages: nginx, MariaDB and systemd-analyze validate rendered configs for real; Redis carries the
# app tests' instance bus; debootstrap, systemd-nspawn and Pebble make the sandbox VPS, tinyproxy
# is the guests' way out in a multi-host sandbox; chromium runs the web client test; restic, rclone (an off-host repository on loopback) and zstd test backups and
# imports for real.
PACKAGES=(nginx mariadb-server mariadb-client redis-server systemd debootstrap systemd-container pebble tinyproxy openssh-client openssl curl iproute2 ca-certificates chromium shellcheck restic rclone zstd)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}" >&2
  # Keep the packages' services from starting on this machine: the sandbox needs ports 80, 443 and 3306,
  # and tests start their own throwaway servers.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1; fi
  trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
fi

# npm packages, again only when package-lock.json changed since the last install.
mkdir -p .cache
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.mi-lock-sum 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.mi-lock-sum
fi

# The chat server bundle that `up` deploys.
node scripts/build-app.mjs >/dev/null

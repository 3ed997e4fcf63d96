#!/bin/sh
# lintian on the package built by packaging.deb_build: no error allowed. Warnings and infos are printed;
# deploy/README.md lists the ones we accept and why. Exit 77 = skipped.
set -eu
deb=$1/netpie-edge.deb
if ! command -v lintian >/dev/null 2>&1; then
  echo "SKIP: lintian is not installed (deploy/install-deps.sh installs it)"
  exit 77
fi
# --allow-root: the CI container runs as root; lintian only reads the package.
out=$(lintian --allow-root --info -L '>=info' "$deb" 2>&1) || true
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -q '^E: '; then
  echo "FAIL: lintian reports errors"
  exit 1
fi
echo "ok: no lintian errors"

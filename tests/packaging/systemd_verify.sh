#!/bin/sh
# systemd-analyze verify on the unit the package installs. The unit names /usr/bin/netpie-edge and the
# manual page; verify checks both exist, so a copy points at the binary of this build tree and MANPATH at
# the page the build wrote. Exit 77 = skipped.
set -eu
src=$1
bin=$2
work=$3
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not installed (package systemd; deploy/install-deps.sh installs it)"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work/unit" "$work/man/man8"
sed "s|/usr/bin/netpie-edge|$bin|" "$src/deploy/debian/netpie-edge.service" >"$work/unit/netpie-edge.service"
cp "$(dirname "$bin")/netpie-edge.8" "$work/man/man8/netpie-edge.8"  # written by the build (gateway/)
cd "$work/unit"
# verify exits 0 on directives it ignores ("Failed to parse ..., ignoring"), so any output is a failure too.
rc=0
out=$(MANPATH="$work/man" systemd-analyze verify ./netpie-edge.service 2>&1) || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  printf '%s\n' "$out"
  echo "FAIL: systemd-analyze verify (exit $rc, output above)"
  exit 1
fi
echo "ok: systemd-analyze verify, no complaint"

#!/bin/sh
# Installs the package built by packaging.deb_build on this machine with dpkg, then removes and purges it,
# checking what Debian policy says stays: remove keeps the conffile (and the state), purge deletes the
# conffile, the state directory and the system user. It changes the real system, so it runs only as root
# and when asked (NETPIE_EDGE_PKG_INSTALL_TEST=1, or CI=true); it purges the package whatever happens.
# The service is started by the postinst only where systemd is PID 1 (/run/systemd/system), and the prerm
# stops it before the purge. Exit 77 = skipped.
set -eu
deb=$1/netpie-edge.deb
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root (dpkg -i)"
  exit 77
fi
if [ "${NETPIE_EDGE_PKG_INSTALL_TEST:-}" != 1 ] && [ "${CI:-}" != true ]; then
  echo "SKIP: installs a package on this machine; set NETPIE_EDGE_PKG_INSTALL_TEST=1 (CI=true does it in CI)"
  exit 77
fi
if dpkg-query -W -f='${Status}' netpie-edge 2>/dev/null | grep -q 'installed\|config-files'; then
  echo "SKIP: a netpie-edge package is already on this machine; this test will not replace it"
  exit 77
fi
if getent passwd netpie-edge >/dev/null || [ -e /var/lib/netpie-edge ] || [ -e /etc/netpie-edge ]; then
  echo "SKIP: a netpie-edge user, /var/lib/netpie-edge or /etc/netpie-edge exists without the package"
  exit 77
fi
trap 'dpkg --purge netpie-edge >/dev/null 2>&1 || true' EXIT

fail=0
check() {
  what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}
status() { dpkg-query -W -f='${Status}' netpie-edge 2>/dev/null || true; }

# Dependencies are already here on a machine that built the package; dpkg -i does not fetch any.
dpkg -i "$deb"
check "installed" test "$(status)" = "install ok installed"
check "system user netpie-edge" getent passwd netpie-edge
check "its home is the state directory" test "$(getent passwd netpie-edge | cut -d: -f6)" = /var/lib/netpie-edge
check "conffile in place" test -f /etc/netpie-edge/netpie-edge.yaml
check "the installed binary accepts the installed config" /usr/bin/netpie-edge --check-config --config /etc/netpie-edge/netpie-edge.yaml
check "unit installed" test -f /lib/systemd/system/netpie-edge.service
check "unit enabled (deb-systemd-helper)" test -L /etc/systemd/system/multi-user.target.wants/netpie-edge.service
if [ ! -d /run/systemd/system ]; then
  check "no daemon started without systemd" sh -c '! pgrep -x netpie-edge -u netpie-edge >/dev/null'
fi

# What the service would leave: a database in the state directory, and an edited conffile.
mkdir -p /var/lib/netpie-edge
echo state >/var/lib/netpie-edge/netpie-edge.db
chown -R netpie-edge:netpie-edge /var/lib/netpie-edge
echo "# edited" >>/etc/netpie-edge/netpie-edge.yaml

dpkg -r netpie-edge
check "removed, config files kept" test "$(status)" = "deinstall ok config-files"
check "binary gone" test ! -e /usr/bin/netpie-edge
check "unit gone" test ! -e /lib/systemd/system/netpie-edge.service
check "edited conffile kept on remove" grep -q '^# edited' /etc/netpie-edge/netpie-edge.yaml
check "state kept on remove" test -f /var/lib/netpie-edge/netpie-edge.db

dpkg --purge netpie-edge
check "purged" test -z "$(status | grep -v 'not-installed')"
check "conffile gone" test ! -e /etc/netpie-edge
check "state directory gone" test ! -e /var/lib/netpie-edge
check "user gone" sh -c '! getent passwd netpie-edge >/dev/null'
check "group gone" sh -c '! getent group netpie-edge >/dev/null'
check "enablement gone" test ! -e /etc/systemd/system/multi-user.target.wants/netpie-edge.service
exit $fail

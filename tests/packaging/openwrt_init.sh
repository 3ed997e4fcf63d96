#!/bin/sh
# The OpenWrt init script (deploy/openwrt/netpie-edge/files/netpie-edge.init): shellcheck in the sh dialect,
# then a run of its start action under a stand-in /etc/rc.common whose procd_* functions print what they get,
# and whose mkdir/chown/chmod/logger print instead of acting. Checks the command line, the user, respawn,
# the watched config file, and the state directory it prepares (warning when it is in RAM).
# Exit 77 = skipped (shellcheck missing).
set -eu
src=$1
work=$2
init=$src/deploy/openwrt/netpie-edge/files/netpie-edge.init
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "SKIP: shellcheck is not installed (deploy/install-deps.sh installs it)"
  exit 77
fi
fail=0
if shellcheck -s sh "$init"; then echo "ok: shellcheck -s sh"; else echo "FAIL: shellcheck"; fail=1; fi

rm -rf "$work"
mkdir -p "$work"
# The stand-in rc.common: `sh rc.common <script> <action>`, as the script's #! line runs the real one.
# TEST_CONF replaces the script's CONF so that the YAML it reads is a test file.
cat >"$work/rc.common" <<'RC'
procd_open_instance() { echo "open_instance $*"; }
procd_close_instance() { echo "close_instance"; }
procd_set_param() { echo "param $*"; }
procd_send_signal() { echo "send_signal $*"; }
mkdir() { echo "mkdir $*"; }
chown() { echo "chown $*"; }
chmod() { echo "chmod $*"; }
logger() { echo "logger $*"; }
initscript=$1
action=$2
. "$initscript"
if [ -n "${TEST_CONF:-}" ]; then CONF=$TEST_CONF; fi
echo "START=$START STOP=$STOP USE_PROCD=$USE_PROCD"
case "$action" in
  start) start_service ;;
  *) echo "unsupported action $action"; exit 2 ;;
esac
RC

expect() {  # expect <what> <output> <line (fixed string, whole line)>
  if printf '%s\n' "$2" | grep -qxF -- "$3"; then echo "ok: $1"; else echo "FAIL: $1: no line '$3' in:"; printf '%s\n' "$2"; fail=1; fi
}
contains() {  # contains <what> <output> <substring>
  if printf '%s\n' "$2" | grep -qF -- "$3"; then echo "ok: $1"; else echo "FAIL: $1: no '$3' in:"; printf '%s\n' "$2"; fail=1; fi
}
absent() {  # absent <what> <output> <substring>
  if printf '%s\n' "$2" | grep -qF -- "$3"; then echo "FAIL: $1: '$3' in:"; printf '%s\n' "$2"; fail=1; else echo "ok: $1"; fi
}

# 1. The shipped configuration file.
out=$(TEST_CONF=$src/deploy/openwrt/netpie-edge/files/netpie-edge.yaml sh "$work/rc.common" "$init" start)
expect "procd, started late, stopped early" "$out" "START=95 STOP=10 USE_PROCD=1"
expect "one instance" "$out" "open_instance "
expect "command line" "$out" "param command /usr/bin/netpie-edge --config $src/deploy/openwrt/netpie-edge/files/netpie-edge.yaml"
expect "runs as its own user" "$out" "param user netpie-edge"
expect "respawn 3600 s window, 5 s delay, 5 retries" "$out" "param respawn 3600 5 5"
expect "config file watched for reload" "$out" "param file $src/deploy/openwrt/netpie-edge/files/netpie-edge.yaml"
expect "state directory on flash, from the file" "$out" "mkdir -p /srv/netpie-edge"
expect "state directory owned by the user" "$out" "chown netpie-edge:netpie-edge /srv/netpie-edge"
expect "instance closed" "$out" "close_instance"
absent "no RAM warning for /srv" "$out" "logger"
# The shipped file itself is valid for the daemon, when this tree has one built.
if [ -n "${NETPIE_EDGE_BIN:-}" ] && [ -x "$NETPIE_EDGE_BIN" ]; then
  if "$NETPIE_EDGE_BIN" --check-config --config "$src/deploy/openwrt/netpie-edge/files/netpie-edge.yaml"; then
    echo "ok: shipped OpenWrt config loads"
  else
    echo "FAIL: shipped OpenWrt config"; fail=1
  fi
fi

# 2. A state directory in RAM (/tmp), quoted, with a comment: used, and warned about.
printf 'log:\n  level: info\nstate_dir: "/tmp/ne-state"   # volatile\n' >"$work/tmp.yaml"
out=$(TEST_CONF=$work/tmp.yaml sh "$work/rc.common" "$init" start)
expect "quoted state_dir with a comment" "$out" "mkdir -p /tmp/ne-state"
contains "RAM warning to syslog" "$out" "logger -t netpie-edge -p daemon.warn state_dir /tmp/ne-state is in RAM"

# 3. No state_dir key: the default of the shipped file.
printf 'log:\n  level: debug\n' >"$work/none.yaml"
out=$(TEST_CONF=$work/none.yaml sh "$work/rc.common" "$init" start)
expect "default state directory" "$out" "mkdir -p /srv/netpie-edge"
exit $fail

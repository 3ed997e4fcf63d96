#!/bin/sh
# Builds the .deb of this build tree with CPack into $2 (packaging.deb_build, the fixture of the other
# packaging tests) and checks what it holds: the files, the conffile, the maintainer scripts, the
# architecture. Exit 77 = skipped (a tool is missing).
set -eu
build_dir=$1
out=$2
for tool in cpack dpkg-deb dpkg-shlibdeps fakeroot; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed (deploy/install-deps.sh installs it)"
    exit 77
  fi
done
rm -rf "$out"
mkdir -p "$out"
# fakeroot: CPack writes root-owned tar entries itself, but the file modes come from the staging tree.
(cd "$build_dir" && fakeroot cpack -G DEB -B "$out/cpack" >"$out/cpack.log" 2>&1) || { cat "$out/cpack.log"; exit 1; }
deb=$(ls "$out"/cpack/netpie-edge_*.deb)
cp "$deb" "$out/netpie-edge.deb"
deb=$out/netpie-edge.deb
fail=0
check() {  # check <what> <command...>
  what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/netpie-edge ./etc/netpie-edge/netpie-edge.yaml ./lib/systemd/system/netpie-edge.service \
         ./usr/share/doc/netpie-edge/copyright ./usr/share/doc/netpie-edge/changelog.gz \
         ./usr/share/man/man8/netpie-edge.8.gz ./usr/share/doc/netpie-edge/examples/netpie-edge.yaml; do
  check "package holds $f" sh -c "printf '%s\n' \"\$1\" | grep -qx \"\$2\"" _ "$contents" "$f"
done
ctl=$out/control
dpkg-deb -e "$deb" "$ctl"
check "conffiles lists the config" grep -qx /etc/netpie-edge/netpie-edge.yaml "$ctl/conffiles"
for s in postinst prerm postrm; do check "$s is executable" test -x "$ctl/$s"; done
check "Depends has adduser and the libraries" sh -c "grep '^Depends:' '$ctl/control' | grep -q adduser && grep '^Depends:' '$ctl/control' | grep -q libuv1"
arch=$(dpkg-deb -f "$deb" Architecture)
check "Architecture $arch is this machine's ($(dpkg --print-architecture))" test "$arch" = "$(dpkg --print-architecture)"
check "the binary is stripped" sh -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/bin/netpie-edge > '$out/bin' && ! file '$out/bin' 2>/dev/null | grep -q 'not stripped'"
# One maintainer in the control file, the changelog's trailer and the copyright file; one licence statement in
# the copyright file, the OpenWrt package and README.md (deploy/README.md, lintian).
src=$(dirname "$0")/../..
maint=$(dpkg-deb -f "$deb" Maintainer)
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/netpie-edge/copyright > "$out/copyright"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/netpie-edge/changelog.gz | gzip -dc > "$out/changelog"
check "Maintainer '$maint' is a name and an address" sh -c "printf '%s' \"\$1\" | grep -Eq '^[^<>@]+ <[^<>@ ]+@[^<>@ ]+>\$'" _ "$maint"
check "the changelog is signed by the Maintainer" grep -qF -- " -- $maint  " "$out/changelog"
check "the copyright's Upstream-Contact is the Maintainer" grep -qxF "Upstream-Contact: $maint" "$out/copyright"
check "the copyright states no licence granted (all rights reserved)" grep -qx "License: all-rights-reserved" "$out/copyright"
check "the OpenWrt package states the same licence" grep -qx "PKG_LICENSE:=LicenseRef-all-rights-reserved" "$src/deploy/openwrt/netpie-edge/Makefile"
check "README.md states it" grep -q "all rights are" "$src/README.md"
# The shipped config is valid for the binary shipped with it.
check "the shipped config loads" "$build_dir/gateway/netpie-edge" --check-config --config "$(dirname "$0")/../../deploy/debian/netpie-edge.yaml"
exit $fail

#!/bin/sh
# Test certificates for the TLS tests, made with the openssl CLI (EC P-256 keys, so it takes well under a
# second). Usage: make-test-ca.sh <outdir>. Writes, each as <name>.crt + <name>.key:
#   ca            the test CA
#   server        signed by ca; CN localhost, SAN DNS:localhost and IP:127.0.0.1 (serverAuth)
#   client        signed by ca; CN test-client (clientAuth)
#   wrong-ca      a second CA that signed nothing the tests trust
#   wrong-client  signed by wrong-ca (a client certificate the server's CA does not know)
#   expired       signed by ca; like server but valid only in 2020 (openssl ca -startdate/-enddate, since
#                 OpenSSL 3.0's x509 -req has no way to set dates in the past)
#   other-name    signed by ca; CN and SAN other.example (a name mismatch for localhost and 127.0.0.1)
# Idempotent: when <outdir> already holds a complete set made by this same script, it does nothing.
set -eu

out=${1:?usage: make-test-ca.sh <outdir>}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp="$out/.made-by"
want=$(sha256sum "$0" | cut -d' ' -f1)
names="ca wrong-ca server client wrong-client other-name expired"
complete=yes
for n in $names; do
  [ -f "$out/$n.crt" ] && [ -f "$out/$n.key" ] || complete=no
done
if [ "$complete" = yes ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

ca() {  # ca <name> <CN>
  key "$1"
  openssl req -x509 -new -key "$1.key" -subj "/O=netpie-edge tests/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.crt"
}

ext() {  # ext <file> <extendedKeyUsage> [subjectAltName]
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$2"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    if [ -n "${3:-}" ]; then echo "subjectAltName=$3"; fi
  } >"$1"
}

leaf() {  # leaf <name> <CN> <signing CA> <ext file>
  key "$1"
  openssl req -new -key "$1.key" -subj "/O=netpie-edge tests/CN=$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 3650 -sha256 -extfile "$4" -out "$1.crt" 2>/dev/null
}

ext server.ext serverAuth "DNS:localhost,IP:127.0.0.1"
ext client.ext clientAuth
ext other.ext serverAuth "DNS:other.example"

ca ca "netpie-edge test CA"
ca wrong-ca "unrelated test CA"
leaf server localhost ca server.ext
leaf client test-client ca client.ext
leaf wrong-client test-client wrong-ca client.ext
leaf other-name other.example ca other.ext

# The expired certificate: `openssl ca` accepts explicit dates.
mkdir newcerts
: >index.txt
echo 1000 >serial
cat >ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = $work
database = $work/index.txt
new_certs_dir = $work/newcerts
serial = $work/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
organizationName = optional
CNF
key expired
openssl req -new -key expired.key -subj "/O=netpie-edge tests/CN=localhost" -out expired.csr
openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt -notext \
  -startdate 20200101000000Z -enddate 20210101000000Z -extfile server.ext 2>/dev/null

for n in $names; do
  mv -f "$n.crt" "$n.key" "$out/"
done
echo "$want" >"$stamp"

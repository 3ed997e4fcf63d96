#!/usr/bin/env python3
"""The certificates of make-test-ca.sh, checked by TLS code we did not write: Debian's mosquitto (OpenSSL) serves
them on TLS listeners and mosquitto_pub connects with --cafile. The good server certificate must be accepted (by
IP address and by name), and every bad case refused: an unknown CA, an expired certificate, a certificate for
another name, a missing client certificate and one from another CA. Without this, the unit tests' verdicts on
these files would only be mbedTLS agreeing with itself.

Usage: check_with_mosquitto.py <dir made by make-test-ca.sh>. Exit 0 when every case went as expected.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mosquitto exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"mosquitto did not listen on {port}:\n{log.read_text()}")


def main() -> int:
    certs = Path(sys.argv[1]).resolve()
    c = lambda name: str(certs / name)  # noqa: E731
    # One listener per server certificate; the last one requires client certificates from the test CA.
    listeners = {"good": ("server", False), "expired": ("expired", False), "other": ("other-name", False),
                 "mutual": ("server", True)}
    ports = {name: free_port() for name in listeners}
    with tempfile.TemporaryDirectory(prefix="tls-mosquitto-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        log = Path(tmp) / "mosquitto.log"
        lines = ["persistence false", "log_dest stderr", "allow_anonymous true"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it switches to a user that cannot read the temp dir
        for name, (cert, mutual) in listeners.items():
            lines += [f"listener {ports[name]} {HOST}", f"cafile {c('ca.crt')}", f"certfile {c(cert + '.crt')}",
                      f"keyfile {c(cert + '.key')}"]
            if mutual:
                lines += ["require_certificate true", "use_identity_as_username true"]
        conf.write_text("\n".join(lines) + "\n")
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log_file, stderr=log_file,
                                    stdin=subprocess.DEVNULL)
        try:
            for port in ports.values():
                wait_listening(port, proc, log)
            cases = [
                # (what, listener, host, extra mosquitto_pub arguments, should connect)
                ("trusted CA, by IP address (SAN IP)", "good", HOST, ["--cafile", c("ca.crt")], True),
                ("trusted CA, by name (SAN DNS)", "good", "localhost", ["--cafile", c("ca.crt")], True),
                ("unknown CA", "good", HOST, ["--cafile", c("wrong-ca.crt")], False),
                ("expired certificate", "expired", HOST, ["--cafile", c("ca.crt")], False),
                ("certificate for another name", "other", HOST, ["--cafile", c("ca.crt")], False),
                ("client certificate presented", "mutual", HOST,
                 ["--cafile", c("ca.crt"), "--cert", c("client.crt"), "--key", c("client.key")], True),
                ("client certificate missing", "mutual", HOST, ["--cafile", c("ca.crt")], False),
                ("client certificate from another CA", "mutual", HOST,
                 ["--cafile", c("ca.crt"), "--cert", c("wrong-client.crt"), "--key", c("wrong-client.key")], False),
            ]
            failures = 0
            for what, listener, host, extra, should in cases:
                r = subprocess.run(["mosquitto_pub", "-h", host, "-p", str(ports[listener]), "-q", "1", "-t",
                                    "tls/check", "-m", what, *extra], capture_output=True, text=True, timeout=20)
                ok = r.returncode == 0
                verdict = "ok" if ok == should else "UNEXPECTED"
                print(f"{verdict}: {what}: mosquitto_pub {'connected' if ok else 'refused'}"
                      f"{'' if ok else ' (' + (r.stderr or r.stdout).strip() + ')'}")
                failures += ok != should
        finally:
            proc.terminate()
            proc.wait(10)
        if failures:
            print(log.read_text())
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""10,000 half-open TLS handshakes against netpie-edge and Mosquitto (by hand; results in bench/README.md).

Each attacker connection sends the first 20 bytes of a real ClientHello and nothing more. Reported per broker:
how many were closed at accept (netpie-edge: past listeners[].max_handshakes, policy refuse_new), the broker's
resident memory before and with the flood held, whether a plain MQTT witness (mosquitto_pub/sub) and a TLS witness
(mosquitto_pub --cafile) get through during the flood, and how long until the held ones are closed (netpie-edge:
handshake_timeout_ms; Mosquitto has no handshake deadline, so its count stays). Run from the repository root:
  /usr/bin/python3 bench/tls_half_open.py [netpie-edge binary]     (default build/release/gateway/netpie-edge)
"""
from __future__ import annotations

import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("HALF_OPEN", "10000"))
HOLD_S = float(os.environ.get("HOLD_S", "15"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def hello_prefix() -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()[:20]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, work: Path, certs: Path, edge: str):
    plain, tls = free_port(), free_port()
    if kind == "netpie-edge":
        conf = work / "edge.yaml"
        conf.write_text(f"""state_dir: {work}/state
log: {{level: warn}}
listeners:
  - {{name: mqtt, protocol: mqtt, bind: 127.0.0.1, port: {plain}}}
  - {{name: mqtts, protocol: mqtt, bind: 127.0.0.1, port: {tls},
     tls: {{cert_file: {certs}/server.crt, key_file: {certs}/server.key}}}}
limits: {{max_connections: 20000}}
""")
        cmd = [edge, "-c", str(conf)]
    else:
        conf = work / "mosquitto.conf"
        conf.write_text(f"listener {plain} 127.0.0.1\nallow_anonymous true\nlistener {tls} 127.0.0.1\n"
                        f"certfile {certs}/server.crt\nkeyfile {certs}/server.key\ntls_version tlsv1.2\n"
                        "log_dest stderr\nlog_type error\n" + ("user root\n" if os.geteuid() == 0 else ""))
        cmd = ["/usr/sbin/mosquitto", "-c", str(conf)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(work / f"{kind}.log", "w"))
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", tls), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    return proc, plain, tls


def witness(port: int, certs: Path | None) -> str:
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "w", "-m", "x", "-q", "1"]
    if certs:
        args += ["--cafile", str(certs / "ca.crt")]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=20)
        return "ok" if r.returncode == 0 else f"refused ({r.stderr.strip() or r.returncode})"
    except subprocess.TimeoutExpired:
        return "hung (20 s)"


def run(kind: str, edge: str, certs: Path, work: Path) -> None:
    proc, plain, tls = start(kind, work, certs, edge)
    time.sleep(0.5)
    base = rss_kib(proc.pid)
    prefix = hello_prefix()
    socks = []
    t0 = time.monotonic()
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", tls), timeout=10)
        s.sendall(prefix)
        s.setblocking(False)
        socks.append(s)
    opened_s = time.monotonic() - t0
    time.sleep(1)

    def closed(s: socket.socket) -> bool:
        try:
            return s.recv(1) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    refused = sum(closed(s) for s in socks)
    held_rss = rss_kib(proc.pid)
    w_plain, w_tls = witness(plain, None), witness(tls, certs)
    # Until the held ones are gone (netpie-edge's handshake timeout) or HOLD_S passes.
    open_left = [s for s in socks if s.fileno() >= 0]
    t1 = time.monotonic()
    still = N - refused
    while time.monotonic() - t1 < HOLD_S:
        still = sum(not closed(s) for s in socks)
        if still == 0:
            break
        time.sleep(0.5)
    drained = time.monotonic() - t1
    w_tls_after = witness(tls, certs)
    alive = proc.poll() is None
    for s in socks:
        s.close()
    proc.terminate()
    proc.wait(10)
    del open_left
    print(f"| {kind} | {N} in {opened_s:.1f} s | {refused} | {N - refused} | {base / 1024:.1f} -> {held_rss / 1024:.1f} MB "
          f"(+{(held_rss - base) * 1024 / max(N - refused, 1):,.0f} B per held handshake) | plain: {w_plain}; TLS: {w_tls} "
          f"| {still} still open after {drained:.1f} s | TLS witness afterwards: {w_tls_after}; alive: {alive} |")


def main() -> None:
    edge = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "build/release/gateway/netpie-edge")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        os.chmod(work, 0o755)
        certs = work / "certs"
        subprocess.run(["sh", str(ROOT / "tests/tls/make-test-ca.sh"), str(certs)], check=True, capture_output=True)
        for f in certs.iterdir():
            os.chmod(f, 0o644)
        print("| broker | half-open handshakes opened | closed at accept | held | broker RSS before -> with the flood "
              "| witnesses during the flood | after | end |")
        print("|---|---|---:|---:|---|---|---|---|")
        for kind in ("netpie-edge", "mosquitto"):
            run(kind, edge, certs, work)
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()

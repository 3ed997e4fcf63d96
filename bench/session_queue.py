#!/usr/bin/python3
"""Start time and memory of the daemon with a long queue for one absent persistent session (storage/README.md,
"Measured: a million queued rows for one absent session").

A daemon (the binary given) creates its database and a persistent session (mosquitto_sub -c, then away); it is
stopped, ROWS queued messages (PAYLOAD-byte payloads) are put straight into session_msgs, and the daemon is started
again: the time from spawn to its ports file (listening, sessions restored) and its VmRSS then are printed. With
--drain, mosquitto_sub then takes the whole queue and the peak VmRSS during the drain and the rate are printed.

  /usr/bin/python3 bench/session_queue.py build/release/gateway/netpie-edge --rows 1000000 --drain
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CONFIG = """log:
  level: info
state_dir: {dir}/state
ports_file: {dir}/ports
sys_interval: 0
listeners:
  - name: mqtt
    protocol: mqtt
    bind: 127.0.0.1
    port: {port}
"""


def vm_rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def start(binary: str, workdir: Path, port: int) -> tuple[subprocess.Popen, int, float]:
    ports = workdir / "ports"
    ports.unlink(missing_ok=True)
    (workdir / "c.yaml").write_text(CONFIG.format(dir=workdir, port=port))
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "-c", str(workdir / "c.yaml")], stdout=open(workdir / "log.txt", "ab"),
                            stderr=subprocess.STDOUT)
    while not ports.exists() or not ports.read_text().strip():
        if proc.poll() is not None:
            sys.exit(f"daemon exited {proc.returncode}; see {workdir / 'log.txt'}")
        time.sleep(0.005)
    ready = time.monotonic() - t0
    return proc, int(ports.read_text().split()[2]), ready


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(60)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--payload", type=int, default=100)
    ap.add_argument("--drain", action="store_true")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="session-queue-bench-"))
    proc, port, _ = start(args.binary, workdir, 0)
    subprocess.run(["mosquitto_sub", "-p", str(port), "-i", "bench-sub", "-c", "-q", "1", "-t", "bench/#", "-E"],
                   check=True)
    stop(proc)
    db = sqlite3.connect(workdir / "state" / "netpie-edge.db")
    payload = b"x" * args.payload
    with db:
        db.executemany("INSERT INTO session_msgs(client_id, seq, packet_id, state, qos, retain, topic, payload, "
                       "properties, expiry_unix) VALUES('bench-sub', ?, 0, 0, 1, 0, 'bench/t', ?, x'', 0)",
                       ((i, payload) for i in range(1, args.rows + 1)))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a daemon that ran for a while leaves it
    db.close()
    size = sum(f.stat().st_size for f in (workdir / "state").iterdir())
    proc, port, ready = start(args.binary, workdir, port)
    time.sleep(0.5)  # let the start settle (the first batch, the checkpointer) before reading memory
    print(f"rows {args.rows} x {args.payload} B payload, database {size / 1e6:.0f} MB: ready in {ready:.2f} s, "
          f"VmRSS {vm_rss_kib(proc.pid) / 1024:.1f} MiB (VmHWM {vm_rss_kib(proc.pid, 'VmHWM') / 1024:.1f} MiB)")
    if args.drain:
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], vm_rss_kib(proc.pid))
                time.sleep(0.05)

        t = threading.Thread(target=sample)
        t.start()
        t0 = time.monotonic()
        out = subprocess.run(["mosquitto_sub", "-p", str(port), "-i", "bench-sub", "-c", "-q", "1", "-t", "bench/#",
                              "-C", str(args.rows), "-F", "%m"], stdout=subprocess.PIPE, check=True)
        took = time.monotonic() - t0
        done.set()
        t.join()
        n = out.stdout.count(b"\n")
        print(f"drained {n} messages in {took:.1f} s ({n / took:.0f} msg/s), peak VmRSS {peak[0] / 1024:.1f} MiB")
    stop(proc)
    if os.environ.get("KEEP") != "1":
        subprocess.run(["rm", "-rf", str(workdir)])
    return 0


if __name__ == "__main__":
    sys.exit(main())

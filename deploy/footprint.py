#!/usr/bin/env python3
"""Footprint of a netpie-edge binary for deploy/README.md: stripped size, installed size with the shared
libraries it loads, and resident memory (VmRSS) idle and with N connected MQTT clients.

    deploy/footprint.py build/release/gateway/netpie-edge [--connections 1000]

The daemon runs on a temporary state directory with MQTT on 127.0.0.1 (port 0); the clients are plain
sockets that send an MQTT 3.1.1 CONNECT and wait for the CONNACK. Memory is read once the CONNACKs are in
and again a second later; the larger value is printed."""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def connect_packet(client_id: str) -> bytes:
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid  # clean session, keepalive 60
    return bytes([0x10, len(body)]) + body


def shared_libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split("=>")
        path = (parts[1] if len(parts) > 1 else parts[0]).strip().split(" (")[0]
        if path.startswith("/"):
            libs.append(os.path.realpath(path))
    return libs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--connections", type=int, default=1000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections * 2 + 256), hard))

    work = tempfile.mkdtemp(prefix="gw-footprint-")
    try:
        stripped = os.path.join(work, "netpie-edge.stripped")
        shutil.copy(args.binary, stripped)
        subprocess.run(["strip", "--strip-all", stripped], check=True)
        size = os.path.getsize(stripped)
        libs = shared_libraries(args.binary)
        lib_bytes = sum(os.path.getsize(l) for l in libs)
        print(f"stripped binary: {size / 1024:.0f} KiB")
        print(f"shared libraries loaded ({len(libs)}): {lib_bytes / 1024:.0f} KiB")
        for l in libs:
            print(f"  {os.path.getsize(l) / 1024:8.0f} KiB  {l}")

        ports = os.path.join(work, "ports")
        conf = os.path.join(work, "netpie-edge.yaml")
        with open(conf, "w") as f:
            f.write(f"state_dir: {work}/state\nports_file: {ports}\n"
                    "listeners:\n  - name: mqtt\n    bind: 127.0.0.1\n    port: 0\n")
        proc = subprocess.Popen([stripped, "--config", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(ports):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("daemon did not start")
                time.sleep(0.05)
            port = int(open(ports).read().split()[2])
            time.sleep(1)
            idle = rss_kib(proc.pid)
            print(f"RSS idle: {idle / 1024:.1f} MiB")
            clients = []
            for i in range(args.connections):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                s.sendall(connect_packet(f"fp-{i}"))
                clients.append(s)
            for s in clients:
                ack = b""
                while len(ack) < 4:
                    chunk = s.recv(4 - len(ack))
                    if not chunk:
                        raise RuntimeError("connection closed before CONNACK")
                    ack += chunk
                if ack[0] != 0x20 or ack[3] != 0:
                    raise RuntimeError(f"CONNACK refused: {ack!r}")
            first = rss_kib(proc.pid)
            time.sleep(1)
            loaded = max(first, rss_kib(proc.pid))
            print(f"RSS with {args.connections} connections: {loaded / 1024:.1f} MiB")
            for s in clients:
                s.close()
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

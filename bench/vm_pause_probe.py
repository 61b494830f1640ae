#!/usr/bin/env python3
"""Measures a machine's pauses: a 64-byte TCP echo between this process and a child, open loop.

Usage: vm_pause_probe.py SECONDS RATE OUT

Sends one round trip every 1/RATE s for SECONDS and prints p50/p99/p99.9/largest and the
answers over 5 ms (with when they were due); OUT gets one line per round trip ("due_s ms").
Run it in the real-time class beside a load to see what the load does to everything else on the
machine, e.g. (BENCHMARKS.md, session 10):

    chrt -r 1 bench/vm_pause_probe.py 60 200 /tmp/idle.txt
    dd if=/dev/zero of=/tmp/f bs=1M count=512 conv=fdatasync & \
        chrt -r 1 bench/vm_pause_probe.py 30 200 /tmp/disk.txt
"""
import os
import socket
import sys
import time

ECHO_BYTES = 64


def serve(listener):
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = b""
        while len(data) < ECHO_BYTES:
            chunk = conn.recv(ECHO_BYTES - len(data))
            if not chunk:
                os._exit(0)
            data += chunk
        conn.sendall(data)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    seconds, rate, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    child = os.fork()
    if child == 0:
        serve(listener)
    conn = socket.create_connection(listener.getsockname())
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"x" * ECHO_BYTES

    def round_trip():
        conn.sendall(payload)
        got = 0
        while got < ECHO_BYTES:
            got += len(conn.recv(ECHO_BYTES - got))

    round_trip()  # untimed: connects both ends
    start = time.monotonic() + 0.05
    samples = []
    i = 0
    while True:
        due = start + i / rate
        if due - start >= seconds:
            break
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        round_trip()
        samples.append((due - start, (time.monotonic() - due) * 1000))
        i += 1
    conn.close()
    os.waitpid(child, 0)
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(f"{at:.3f} {ms:.3f}\n" for at, ms in samples))
    ms = sorted(m for _, m in samples)

    def rank(q):
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    slow = [(at, m) for at, m in samples if m > 5]
    print(f"n {len(ms)} p50 {rank(0.5):.2f} p99 {rank(0.99):.2f} p99.9 {rank(0.999):.2f} "
          f"max {ms[-1]:.2f} ms; answers > 5 ms: {len(slow)}, due at "
          + " ".join(f"{at:.1f}" for at, _ in slow[:15]))


if __name__ == "__main__":
    main()

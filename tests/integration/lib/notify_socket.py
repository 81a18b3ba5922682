#!/usr/bin/env python3
"""Stands in for systemd's notification socket in the sd_notify test (Node has no unix datagram
sockets): binds a datagram socket at argv[1], prints "bound", then every datagram it receives as
one JSON string per line. Ends when its stdin closes, or after argv[2] seconds at the latest."""
import json
import select
import socket
import sys
import time

path = sys.argv[1]
deadline = time.monotonic() + float(sys.argv[2] if len(sys.argv) > 2 else 120)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
print("bound", flush=True)
while time.monotonic() < deadline:
    readable, _, _ = select.select([sock, sys.stdin], [], [], 0.5)
    if sock in readable:
        print(json.dumps(sock.recv(65536).decode()), flush=True)
    if sys.stdin in readable and not sys.stdin.buffer.read1(1):
        break
sock.close()

"""Asks for a 10 MB file with a 4 KB receive buffer, reads nothing for WAIT seconds,
then reads until the end: prints "reset N", "closed N" or "timeout N" (N bytes read)
(attacks_veth.rs).

Usage: never_reads.py HOST WAIT
"""
import socket, sys, time
host, wait = sys.argv[1], float(sys.argv[2])
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.settimeout(20)
c.connect((host, 80))
c.sendall(b"GET /10m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
# The test itself: a reader that stalls for longer than the send timeout.
time.sleep(wait)
got = 0
try:
    while True:
        d = c.recv(65536)
        if not d:
            print("closed", got)
            break
        got += len(d)
except ConnectionResetError:
    print("reset", got)
except socket.timeout:
    print("timeout", got)

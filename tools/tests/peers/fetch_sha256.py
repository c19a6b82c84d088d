"""CONNS keep-alive connections, PER GETs of PATH each; prints how many bodies had the
sha256 WANT (faults_veth.rs).

Usage: fetch_sha256.py HOST PATH CONNS PER WANT
"""
import socket, sys, hashlib, threading
host, path, conns, per, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
good = [0] * conns
def run(i):
    try:
        fetch(i)
    except Exception as e:
        print("connection %d: %r after %d good bodies" % (i, e, good[i]), file=sys.stderr)
def fetch(i):
    s = socket.create_connection((host, 80), timeout=60)
    buf = b""
    for _ in range(per):
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        while b"\r\n\r\n" not in buf:
            d = s.recv(1 << 20)
            if not d: raise EOFError
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        n = int([l.split(b": ")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(buf) < n:
            d = s.recv(1 << 20)
            if not d: raise EOFError
            buf += d
        body, buf = buf[:n], buf[n:]
        if hashlib.sha256(body).hexdigest() == want:
            good[i] += 1
        else:
            print("connection %d: a body of %d bytes with another sha256" % (i, len(body)), file=sys.stderr)
ts = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sum(good))

"""A raw-socket HTTP peer for what curl, wrk and ab cannot do (http_veth.rs).

Usage: http_client.py HOST MODE [ARG]; MODE is idle N, pipeline, raw REQUEST, garbage
or slowloris.
"""
import socket, sys, time, resource
host = sys.argv[1]
mode = sys.argv[2]

def connect():
    s = socket.create_connection((host, 80), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def read_response(s, buf):
    # one response: head, then Content-Length bytes; returns (status, headers, body, rest)
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before a response")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {}
    for l in lines[1:]:
        k, v = l.split(": ", 1)
        headers[k.lower()] = v
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed mid-body")
        rest += d
    return lines[0], headers, rest[:n], rest[n:]

def closed_by_peer(s):
    s.settimeout(5)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except (ConnectionResetError, socket.timeout):
        return False

if mode == "idle":
    n = int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    socks = [connect() for _ in range(n)]
    # The test itself, not a wait for readiness: all n connections sit idle together for
    # a second before any of them asks for anything.
    time.sleep(1)
    ok = 0
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    for s in socks:
        status, h, body, _ = read_response(s, b"")
        if status == "HTTP/1.1 200 OK":
            ok += 1
    print("ok", ok)
elif mode == "pipeline":
    s = connect()
    s.sendall(b"".join(b"GET /%d.txt HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(16)))
    buf = b""
    for i in range(16):
        status, h, body, buf = read_response(s, buf)
        print(status, body.decode().strip())
elif mode == "raw":
    s = connect()
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
    status, h, body, _ = read_response(s, b"")
    print(status, "|", h.get("connection"), "|", "closed" if closed_by_peer(s) else "open")
elif mode == "garbage":
    # A valid request, then binary garbage in the same write: the request is answered,
    # the garbage gets a 400 and a close; nothing of it is echoed.
    import random
    rnd = random.Random(5)
    junk = bytes(rnd.randrange(256) for _ in range(2048))
    s = connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + junk)
    first, h1, body1, buf = read_response(s, b"")
    second, h2, body2, _ = read_response(s, buf)
    echoed = junk[:16] in body1 + body2
    print(first, "|", second, "|", h2.get("connection"), "|", "closed" if closed_by_peer(s) else "open", "|", "echoed" if echoed else "not echoed")
elif mode == "slowloris":
    s = connect()
    t = time.time()
    try:
        for b in b"GET / HTTP/1.1\r\nHost: x\r\n":
            s.sendall(bytes([b]))
            # The test itself: one byte every half second, slower than the header timeout
            # allows; the loop ends when the engine closes.
            time.sleep(0.5)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        status, h, body, _ = read_response(s, b"")
    except (EOFError, ConnectionResetError):
        status = "closed"
    print(status, "|", "closed" if closed_by_peer(s) else "open", "|", round(time.time() - t))

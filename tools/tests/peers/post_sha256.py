"""POSTs a body to the api example with Python's http.client and checks the answer.

Usage: post_sha256.py HOST PORT SIZE length|chunked

Sends SIZE pseudo-random bytes to POST /echo, framed by Content-Length or in chunks of
uneven sizes (encode_chunked), twice on one keep-alive connection, then GET /hello.
Prints one line: "ok SHA256" when the body came back byte-exact with X-Body-Sha256 equal
to the digest of what was sent, and /hello answered JSON; otherwise what went wrong (exit 1).
"""

import hashlib
import http.client
import json
import random
import sys

host, port, size, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = random.Random(size).randbytes(size)
digest = hashlib.sha256(body).hexdigest()


def pieces():
    at, step = 0, 1
    while at < len(body):
        yield body[at:at + step]
        at += step
        step = step * 3 + 7


conn = http.client.HTTPConnection(host, port, timeout=20)
for _ in range(2):
    if mode == "chunked":
        conn.request("POST", "/echo", body=pieces(), encode_chunked=True,
                     headers={"Content-Type": "application/octet-stream"})
    else:
        conn.request("POST", "/echo", body=body,
                     headers={"Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    got = r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}")
    if r.getheader("X-Body-Sha256") != digest:
        sys.exit(f"X-Body-Sha256 {r.getheader('X-Body-Sha256')} != {digest}")
    if got != body:
        sys.exit(f"body came back altered: {len(got)} bytes of {len(body)}")
conn.request("GET", "/hello")
r = conn.getresponse()
hello = json.loads(r.read())
if r.status != 200 or hello.get("hello") != "world":
    sys.exit(f"/hello: {r.status} {hello}")
print("ok", digest)

"""Sending on the raw (AF_PACKET) sockets of the flooders, and the checksum they build
frames with; imported by them.

`send(sock, frame)` returns False when the link dropped the frame. veth answers an
AF_PACKET send with ENOBUFS when the receiving side's queue is full (the engine's core
busy): a real flooder shrugs that off, and a peer that must deliver every frame
(`send_all`) backs off half a millisecond and tries again (a retry on a refusal, not a
wait for time to pass).
"""
import errno as _errno, struct, time as _time

def csum(b):
    """The Internet checksum (RFC 1071) of `b`."""
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def send(sock, frame):
    try:
        sock.send(frame)
        return True
    except OSError as e:
        if e.errno != _errno.ENOBUFS:
            raise
        return False
def send_all(sock, frame):
    for _ in range(10000):
        if send(sock, frame):
            return
        _time.sleep(0.0005)
    raise SystemExit("link kept refusing a frame (ENOBUFS) for 5 s")

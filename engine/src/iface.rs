//! The engine's side of one interface, below TCP: which addresses are ours, and what to do
//! with a frame the steering program handed us. Sans-IO: bytes in, an action out.
//!
//! Replies that fit in the received frame (ARP reply, ICMP echo reply, ICMP destination
//! unreachable, TCP RST) are written over it in place, so answering never allocates a frame.
//!
//! Where a host has a choice, the engine answers as Linux does (see `icmp_out` and
//! docs/tcp.md, "Answering like Linux"): echo requests of any code, their replies with
//! the request's TOS and no DF; UDP to an owned address gets "port unreachable", other
//! protocols "protocol unreachable", within Linux's rate limits.

use std::net::{IpAddr, Ipv4Addr};

use crate::frame::{self, Ip};
use crate::icmp_out::{IcmpLimitConfig, IcmpOut};
use crate::stats::Counters;
use crate::time::Instant;
use crate::wire::arp::{self, ArpRepr, Op};
use crate::wire::ethernet::{self, EtherType, MacAddr};
use crate::wire::icmp::{self, IcmpRepr};
use crate::wire::ipv4;
use crate::wire::tcp::TcpPacket;
use crate::wire::{be16, checksum, WireError};

/// IP protocol number of UDP.
const PROTO_UDP: u8 = 17;

/// An address of the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OurAddr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length of its subnet.
    pub prefix: u8,
    /// Owned: the kernel does not have it, the engine answers ARP and ICMP echo. Shared:
    /// the kernel has it and answers those; the engine only sees its TCP ports.
    pub owned: bool,
}

/// What to do with a frame after `Iface::handle`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The frame now holds a reply of this many bytes: transmit it.
    Transmit(usize),
    /// Nothing to send: release the frame.
    Drop,
    /// A TCP segment for one of our addresses, parsed: hand it to the host, or answer it
    /// with `Iface::reset` (in place) when nothing takes it.
    Tcp(TcpIn),
    /// An ARP packet for one of our owned addresses that needs no answer (a reply to our
    /// request): hand it to the host's neighbour cache. Release the frame.
    Neighbor(ArpRepr),
    /// ICMP "fragmentation needed" (RFC 1191) for a TCP segment we sent: the connection
    /// `tuple` should call `Conn::on_path_mtu(seq, mtu)`. Release the frame.
    PathMtu {
        /// The connection the segment belonged to.
        tuple: crate::tcp::FourTuple,
        /// The segment's sequence number (checked against what is in flight).
        seq: crate::tcp::SeqNum,
        /// The MTU the router reports.
        mtu: u16,
    },
}

/// What the link layer knew about a received segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The sender's link address.
    pub src_mac: MacAddr,
    /// The VLAN the frame came on, if tagged.
    pub vlan: Option<u16>,
    /// The IPv4 source.
    pub src: Ipv4Addr,
    /// The IPv4 destination (one of our addresses).
    pub dst: Ipv4Addr,
}

/// A received TCP segment: where it came from and where its parts are in the frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TcpIn {
    /// Where the segment came from.
    pub meta: Meta,
    /// The TCP header.
    pub repr: crate::wire::tcp::TcpRepr,
    /// Payload bytes: `frame[payload.0..payload.1]`.
    pub payload: (usize, usize),
    /// Where the IPv4 header starts (after Ethernet and any VLAN tag).
    pub ip_at: usize,
}

/// Where a received datagram is in the frame and whom it came from, for an answer
/// written over it.
struct Offender {
    eth_len: usize,
    total: usize,
    src_mac: MacAddr,
    src: Ipv4Addr,
    tos: u8,
}

/// Per-interface state and counters.
#[derive(Debug)]
pub struct Iface {
    mac: MacAddr,
    addrs: Vec<OurAddr>,
    /// What the link layer and the worker counted.
    pub counters: Counters,
    /// Malformed frames by reason, indexed by `WireError::index`.
    pub malformed: [u64; WireError::ALL.len()],
    /// The VLAN tag of the frame being handled, for replies that leave later.
    rx_vlan: Option<u16>,
    /// ICMP error rate limits and IPv4 IDs of what leaves without a connection.
    icmp: IcmpOut,
    /// The time of the frames being handled (`set_now`).
    now: Instant,
}

impl Iface {
    /// The link layer for link address `mac` and our addresses `addrs`.
    pub fn new(mac: MacAddr, addrs: Vec<OurAddr>) -> Iface {
        Iface {
            mac,
            addrs,
            counters: Counters::default(),
            malformed: [0; WireError::ALL.len()],
            rx_vlan: None,
            icmp: IcmpOut::new(
                IcmpLimitConfig::default(),
                u64::from_le_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]),
            ),
            now: Instant::ZERO,
        }
    }

    /// Keys the hashes and random numbers of the ICMP rules with `seed` (the engine
    /// takes it from its secrets; without it they are derived from the link address).
    pub fn set_seed(&mut self, seed: u64) {
        self.icmp = IcmpOut::new(IcmpLimitConfig::default(), seed);
    }

    /// The time of the frames about to be handled (the rate limits read it).
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    /// Our link address.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    fn ours(&self, ip: Ipv4Addr) -> Option<&OurAddr> {
        self.addrs.iter().find(|a| a.addr == ip)
    }

    fn malformed(&mut self, e: WireError) -> Action {
        self.malformed[e.index()] += 1;
        if e == WireError::Fragment {
            self.counters.drop_fragment += 1;
        } else {
            self.counters.drop_malformed += 1;
        }
        Action::Drop
    }

    /// Handles one received frame of `len` bytes at the start of `buf` (the frame's whole
    /// room, so a reply may be written over it).
    pub fn handle(&mut self, buf: &mut [u8], len: usize) -> Action {
        let len = len.min(buf.len());
        let eth = match ethernet::Frame::new_checked(&buf[..len]) {
            Ok(f) => f,
            Err(e) => return self.malformed(e),
        };
        let (eth_len, ethertype, src_mac) = (eth.header_len(), eth.ethertype(), eth.src());
        self.rx_vlan = eth.vlan();
        match ethertype {
            t if t == EtherType::Arp as u16 => self.arp(buf, len, eth_len, src_mac),
            t if t == EtherType::Ipv4 as u16 => self.ipv4(buf, len, eth_len, src_mac),
            _ => {
                self.counters.drop_unsupported += 1;
                Action::Drop
            }
        }
    }

    /// Writes the Ethernet addresses of a reply to `to` (the VLAN tag, if any, stays).
    fn reply_eth(&self, buf: &mut [u8], to: MacAddr) {
        frame::readdress(buf, self.mac, to);
    }

    fn arp(&mut self, buf: &mut [u8], len: usize, eth_len: usize, src_mac: MacAddr) -> Action {
        let req = match ArpRepr::parse(&buf[eth_len..len]) {
            Ok(r) => r,
            Err(e) => return self.malformed(e),
        };
        let ours = self.ours(req.target_ip).is_some_and(|a| a.owned);
        if !ours {
            self.counters.arp_ignored += 1;
            return Action::Drop;
        }
        if req.op != Op::Request {
            self.counters.arp_learned += 1;
            return Action::Neighbor(req);
        }
        // RFC 826: swap sender and target, fill in our hardware address, opcode reply.
        let reply = ArpRepr {
            op: Op::Reply,
            sender_mac: self.mac,
            sender_ip: req.target_ip,
            target_mac: req.sender_mac,
            target_ip: req.sender_ip,
        };
        self.reply_eth(buf, src_mac);
        reply.emit(&mut buf[eth_len..]);
        self.counters.arp_replies += 1;
        Action::Transmit(eth_len + arp::PACKET_LEN)
    }

    fn ipv4(&mut self, buf: &mut [u8], len: usize, eth_len: usize, src_mac: MacAddr) -> Action {
        let (src, dst, proto, hl, total, tos) = match ipv4::Packet::new_checked(&buf[eth_len..len])
        {
            Ok(p) => (
                p.src(),
                p.dst(),
                p.protocol(),
                p.header_len(),
                p.total_len(),
                p.tos(),
            ),
            Err(e) => return self.malformed(e),
        };
        let ecn = tos & 0x3;
        let Some(ours) = self.ours(dst).copied() else {
            self.counters.drop_not_ours += 1;
            return Action::Drop;
        };
        if src.is_loopback() || self.ours(src).is_some() {
            // Our own or a loopback source from the wire is spoofed (a "martian"): what
            // the engine sends to itself never leaves memory.
            self.counters.drop_martian += 1;
            return Action::Drop;
        }
        let l4 = eth_len + hl..eth_len + total;
        let from = Offender {
            eth_len,
            total,
            src_mac,
            src,
            tos,
        };
        match proto {
            ipv4::PROTO_ICMP => self.icmp(buf, l4, &from, ours),
            ipv4::PROTO_TCP => self.tcp(buf, l4, eth_len, src_mac, (src, dst, ecn)),
            PROTO_UDP => self.udp(buf, l4, &from, ours),
            _ if ours.owned => {
                // RFC 1122 3.2.2.1: no transport for the protocol (Linux, no raw socket).
                self.unreachable(buf, &from, ours, icmp::CODE_PROTO_UNREACHABLE)
            }
            _ => {
                self.counters.drop_unsupported += 1;
                Action::Drop
            }
        }
    }

    /// A UDP datagram: the engine has no UDP sockets, so an owned address answers "port
    /// unreachable" (RFC 1122 4.1.3.1) once the header and checksum are good (Linux drops
    /// a bad checksum silently, `__udp4_lib_rcv`).
    fn udp(
        &mut self,
        buf: &mut [u8],
        l4: core::ops::Range<usize>,
        from: &Offender,
        ours: OurAddr,
    ) -> Action {
        let b = &buf[l4];
        if b.len() < 8 {
            return self.malformed(WireError::Truncated);
        }
        let ulen = be16(b, 4) as usize;
        if ulen < 8 || ulen > b.len() {
            return self.malformed(WireError::BadTotalLen);
        }
        let sum = checksum::combine(&[
            checksum::pseudo_header(from.src, ours.addr, PROTO_UDP, ulen as u16),
            checksum::sum(&b[..ulen]),
        ]);
        if be16(b, 6) != 0 && sum != 0xffff {
            return self.malformed(WireError::BadChecksum);
        }
        if !ours.owned {
            self.counters.drop_unsupported += 1;
            return Action::Drop;
        }
        self.unreachable(buf, from, ours, icmp::CODE_PORT_UNREACHABLE)
    }

    /// Answers the datagram in the frame with ICMP destination unreachable `code`, built
    /// in place as Linux's `icmp_send` builds it: as much of the datagram as fits in 576
    /// bytes, precedence "internetwork control" with the datagram's TOS bits, no DF, an
    /// ID from the per-destination counters; within the rate limits.
    fn unreachable(&mut self, buf: &mut [u8], from: &Offender, ours: OurAddr, code: u8) -> Action {
        // RFC 1122 3.2.2: never about a datagram whose source is not one host.
        if from.src.is_unspecified() || from.src.is_broadcast() || from.src.is_multicast() {
            self.counters.drop_unsupported += 1;
            return Action::Drop;
        }
        if !self.icmp.allow_error(self.now, IpAddr::V4(from.src)) {
            self.counters.icmp_rate_limited += 1;
            return Action::Drop;
        }
        let ip_at = from.eth_len;
        let msg_at = ip_at + ipv4::MIN_HEADER_LEN;
        let quote_at = msg_at + icmp::HEADER_LEN;
        let quoted = from
            .total
            .min(icmp::ERROR_QUOTE_MAX)
            .min(buf.len().saturating_sub(quote_at));
        buf.copy_within(ip_at..ip_at + quoted, quote_at);
        let msg_len = icmp::emit_unreachable(&mut buf[msg_at..], code, quoted);
        let ip = Ip {
            src: ours.addr,
            dst: from.src,
            ident: self.icmp.ip_id(
                self.now,
                IpAddr::V4(ours.addr),
                IpAddr::V4(from.src),
                ipv4::PROTO_ICMP,
            ),
        };
        // Linux: `RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL` for an error.
        let tos = 0xC0 | (from.tos & 0x1E);
        frame::icmp_ipv4_header(buf, ip_at, &ip, tos, msg_len);
        self.reply_eth(buf, from.src_mac);
        self.counters.icmp_unreachable_sent += 1;
        Action::Transmit(msg_at + msg_len)
    }

    fn icmp(
        &mut self,
        buf: &mut [u8],
        l4: core::ops::Range<usize>,
        from: &Offender,
        ours: OurAddr,
    ) -> Action {
        let (eth_len, src_mac, src) = (from.eth_len, from.src_mac, from.src);
        match IcmpRepr::parse(&buf[l4.clone()]) {
            Ok(IcmpRepr::EchoRequest { .. }) if ours.owned => {}
            Ok(IcmpRepr::FragNeeded {
                mtu,
                orig_src,
                orig_dst,
                orig_protocol: ipv4::PROTO_TCP,
                orig_src_port,
                orig_dst_port,
                orig_seq,
            }) if orig_src == ours.addr => {
                self.counters.icmp_frag_needed += 1;
                return Action::PathMtu {
                    tuple: crate::tcp::FourTuple {
                        local: std::net::SocketAddrV4::new(orig_src, orig_src_port),
                        remote: std::net::SocketAddrV4::new(orig_dst, orig_dst_port),
                    },
                    seq: crate::tcp::SeqNum(orig_seq),
                    mtu,
                };
            }
            Ok(_) => {
                self.counters.icmp_other += 1;
                return Action::Drop;
            }
            Err(e) => return self.malformed(e),
        }
        let msg_len = l4.len();
        if icmp::echo_request_to_reply(&mut buf[l4.clone()]).is_err() {
            self.counters.icmp_other += 1;
            return Action::Drop;
        }
        // A fresh 20-byte header: request options (record route, ...) are not echoed.
        // As Linux's `icmp_reply`: the request's TOS, no DF, a per-destination ID.
        let ip_at = eth_len;
        buf.copy_within(l4, ip_at + ipv4::MIN_HEADER_LEN);
        let ip = Ip {
            src: ours.addr,
            dst: src,
            ident: self.icmp.ip_id(
                self.now,
                IpAddr::V4(ours.addr),
                IpAddr::V4(src),
                ipv4::PROTO_ICMP,
            ),
        };
        frame::icmp_ipv4_header(buf, ip_at, &ip, from.tos, msg_len);
        self.reply_eth(buf, src_mac);
        self.counters.icmp_echo_replies += 1;
        Action::Transmit(ip_at + ipv4::MIN_HEADER_LEN + msg_len)
    }

    fn tcp(
        &mut self,
        buf: &mut [u8],
        l4: core::ops::Range<usize>,
        eth_len: usize,
        src_mac: MacAddr,
        (src, dst, ecn): (Ipv4Addr, Ipv4Addr, u8),
    ) -> Action {
        let (repr, payload) = match TcpPacket::parse(&buf[l4.clone()], src, dst) {
            Ok(p) => {
                let end = l4.end;
                // The IP header's ECN field travels with the segment (RFC 3168 5).
                (
                    crate::wire::tcp::TcpRepr { ecn, ..p.repr },
                    (end - p.payload.len(), end),
                )
            }
            Err(e) => return self.malformed(e),
        };
        self.counters.tcp_segments += 1;
        let vlan = self.rx_vlan;
        Action::Tcp(TcpIn {
            meta: Meta {
                src_mac,
                vlan,
                src,
                dst,
            },
            repr,
            payload,
            ip_at: eth_len,
        })
    }

    /// Answers a segment nothing took, as any host does: a reset built in place over the
    /// received frame (RFC 9293 3.10.7.1). `Drop` when the segment was itself a reset.
    pub fn reset(&mut self, buf: &mut [u8], t: &TcpIn) -> Action {
        let Some(rst) = t.repr.rst_reply(t.payload.1 - t.payload.0) else {
            return Action::Drop;
        };
        let ip = Ip {
            src: t.meta.dst,
            dst: t.meta.src,
            ident: 0,
        };
        let tcp_at = t.ip_at + ipv4::MIN_HEADER_LEN;
        let f = frame::tcp_segment(buf, tcp_at, None, &ip, &rst, 0);
        self.reply_eth(buf, t.meta.src_mac);
        self.counters.tcp_rst_sent += 1;
        Action::Transmit(f.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const SHARED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const OUR_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
    const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 1];

    fn iface() -> Iface {
        Iface::new(
            OUR_MAC,
            vec![
                OurAddr {
                    addr: US,
                    prefix: 24,
                    owned: true,
                },
                OurAddr {
                    addr: SHARED,
                    prefix: 24,
                    owned: false,
                },
            ],
        )
    }

    fn run(i: &mut Iface, frame: &[u8]) -> (Action, Vec<u8>) {
        let mut buf = vec![0u8; 2048];
        buf[..frame.len()].copy_from_slice(frame);
        let mut a = i.handle(&mut buf, frame.len());
        if let Action::Tcp(t) = a {
            // No host in these tests: every segment is one nothing takes.
            a = i.reset(&mut buf, &t);
        }
        let out = match a {
            Action::Transmit(n) => buf[..n].to_vec(),
            Action::Drop | Action::PathMtu { .. } | Action::Tcp(_) | Action::Neighbor(_) => {
                Vec::new()
            }
        };
        (a, out)
    }

    fn arp_request(target: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0u8; 42];
        ethernet::emit(&mut f, ethernet::BROADCAST, PEER_MAC, None, EtherType::Arp);
        ArpRepr {
            op: Op::Request,
            sender_mac: PEER_MAC,
            sender_ip: PEER,
            target_mac: [0; 6],
            target_ip: target,
        }
        .emit(&mut f[14..]);
        f
    }

    #[test]
    fn answers_arp_for_owned_addresses_only() {
        let mut i = iface();
        let (a, out) = run(&mut i, &arp_request(US));
        assert_eq!(a, Action::Transmit(42));
        assert_eq!(&out[0..6], &PEER_MAC);
        assert_eq!(&out[6..12], &OUR_MAC);
        let r = ArpRepr::parse(&out[14..]).unwrap();
        assert_eq!(
            (r.op, r.sender_mac, r.sender_ip, r.target_mac, r.target_ip),
            (Op::Reply, OUR_MAC, US, PEER_MAC, PEER)
        );
        assert_eq!(run(&mut i, &arp_request(SHARED)).0, Action::Drop);
        assert_eq!(run(&mut i, &arp_request(PEER)).0, Action::Drop);
        assert_eq!((i.counters.arp_replies, i.counters.arp_ignored), (1, 2));
    }

    fn ping(dst: Ipv4Addr, vlan: bool, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let b = PacketBuilder::ethernet2(PEER_MAC, OUR_MAC);
        if vlan {
            b.single_vlan(5.try_into().unwrap())
                .ipv4(PEER.octets(), dst.octets(), 64)
                .icmpv4_echo_request(7, 3)
                .write(&mut out, data)
                .unwrap();
        } else {
            b.ipv4(PEER.octets(), dst.octets(), 64)
                .icmpv4_echo_request(7, 3)
                .write(&mut out, data)
                .unwrap();
        }
        out
    }

    #[test]
    fn fragmentation_needed_for_our_tcp_names_the_connection() {
        // The start of a TCP segment we sent, as a router quotes it back (RFC 792, 1191).
        let mut quoted = Vec::new();
        PacketBuilder::ipv4(US.octets(), PEER.octets(), 64)
            .tcp(80, 40000, 0x1234_5678, 1000)
            .write(&mut quoted, &[0u8; 100])
            .unwrap();
        for (mtu, from_us) in [(1400u16, true), (1400, false)] {
            let mut q = quoted.clone();
            if !from_us {
                q[12..16].copy_from_slice(&PEER.octets()); // not a segment we sent
            }
            let mut out = Vec::new();
            let icmp = etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: mtu,
                },
            );
            PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
                .ipv4([10, 0, 0, 254], US.octets(), 64)
                .icmpv4(icmp)
                .write(&mut out, &q[..28])
                .unwrap();
            let (a, _) = run(&mut iface(), &out);
            if from_us {
                assert_eq!(
                    a,
                    Action::PathMtu {
                        tuple: crate::tcp::FourTuple {
                            local: std::net::SocketAddrV4::new(US, 80),
                            remote: std::net::SocketAddrV4::new(PEER, 40000),
                        },
                        seq: crate::tcp::SeqNum(0x1234_5678),
                        mtu,
                    }
                );
            } else {
                assert_eq!(a, Action::Drop);
            }
        }
    }

    #[test]
    fn answers_ping_with_valid_checksums_also_tagged() {
        for vlan in [false, true] {
            let mut i = iface();
            let data: Vec<u8> = (0..56u8).collect();
            let (a, out) = run(&mut i, &ping(US, vlan, &data));
            assert!(matches!(a, Action::Transmit(_)));
            let p = SlicedPacket::from_ethernet(&out).unwrap();
            let ip = match p.net.unwrap() {
                etherparse::NetSlice::Ipv4(ip) => ip,
                _ => panic!("not ipv4"),
            };
            assert_eq!(ip.header().source_addr(), US);
            assert_eq!(ip.header().destination_addr(), PEER);
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
                panic!("no icmp")
            };
            assert_eq!(
                icmp.icmp_type(),
                etherparse::Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id: 7, seq: 3 })
            );
            assert_eq!(icmp.payload(), &data[..]);
            assert_eq!(
                icmp.checksum(),
                icmp.icmp_type().calc_checksum(icmp.payload())
            );
            assert_eq!(i.counters.icmp_echo_replies, 1);
        }
        // The kernel answers ping for a shared address.
        let mut i = iface();
        assert_eq!(run(&mut i, &ping(SHARED, false, b"x")).0, Action::Drop);
    }

    #[test]
    fn resets_tcp_with_no_listener_per_rfc9293() {
        let mut i = iface();
        let mut syn = Vec::new();
        PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
            .ipv4(PEER.octets(), US.octets(), 64)
            .tcp(40000, 22, 1000, 64240)
            .syn()
            .write(&mut syn, &[])
            .unwrap();
        let (a, out) = run(&mut i, &syn);
        assert_eq!(a, Action::Transmit(54));
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("no tcp")
        };
        assert!(t.rst() && t.ack() && !t.syn());
        assert_eq!(
            (
                t.source_port(),
                t.destination_port(),
                t.sequence_number(),
                t.acknowledgment_number()
            ),
            (22, 40000, 0, 1001)
        );
        let etherparse::NetSlice::Ipv4(ip) = p.net.unwrap() else {
            panic!()
        };
        assert_eq!(
            t.calc_checksum_ipv4(ip.header().source(), ip.header().destination())
                .unwrap(),
            t.checksum()
        );
    }

    #[test]
    fn malformed_frames_are_counted_by_reason() {
        let mut i = iface();
        let mut p = ping(US, false, b"abc");
        p[14 + 8] = 1; // TTL changed: IPv4 header checksum now wrong
        assert_eq!(run(&mut i, &p).0, Action::Drop);
        assert_eq!(i.malformed[WireError::BadChecksum.index()], 1);
        let p = ping(US, false, b"abc");
        for len in 0..p.len() {
            let (a, _) = run(&mut i, &p[..len]);
            assert_eq!(a, Action::Drop, "prefix of {len} bytes");
        }
        assert!(i.counters.drop_malformed >= 40);
    }
}

#[cfg(test)]
#[path = "iface_answers_tests.rs"]
mod answers_tests;

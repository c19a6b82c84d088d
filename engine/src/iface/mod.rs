//! The engine's side of one interface, below TCP: which addresses are ours, and what to do
//! with a frame the steering program handed us. Sans-IO: bytes in, an action out.
//!
//! Replies that fit in the received frame (ARP reply, ICMP echo reply, ICMP destination
//! unreachable, TCP RST, and for IPv6 the neighbour advertisement and ICMPv6 echo reply)
//! are written over it in place, so answering never allocates a frame. IPv6 is in `v6.rs`.
//!
//! Where a host has a choice, the engine answers as Linux does (see `icmp_out` and
//! docs/tcp.md, "Answering like Linux"): echo requests of any code, their replies with
//! the request's TOS and no DF; UDP to an owned address gets "port unreachable", other
//! protocols "protocol unreachable", within Linux's rate limits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod v6;
pub use v6::{Meta6, OurAddr6, TcpIn6};

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

/// The flow label key derived from the interface's seed.
fn flow_key(seed: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&seed.to_le_bytes());
    k[8..].copy_from_slice(
        &seed
            .rotate_left(32)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .to_le_bytes(),
    );
    k
}

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
    /// A TCP segment for one of our IPv6 addresses, parsed: hand it to the host, or answer
    /// it with `Iface::reset6` (in place) when nothing takes it.
    Tcp6(TcpIn6),
    /// ICMPv6 packet too big (RFC 8201) for a TCP segment we sent: the connection `tuple`
    /// should call `Conn::on_path_mtu(seq, mtu)`. Release the frame.
    PathMtu6 {
        /// The connection the segment belonged to.
        tuple: crate::tcp::FourTuple6,
        /// The segment's sequence number (checked against what is in flight).
        seq: crate::tcp::SeqNum,
        /// The MTU the router reports (saturated to 16 bits: jumbograms are not ours).
        mtu: u16,
    },
    /// A neighbour advertisement (RFC 4861 7.2.5) telling where IPv6 neighbour `ip` is:
    /// hand it to the host's neighbour cache. Release the frame.
    Neighbor6 {
        /// The advertised address.
        ip: Ipv6Addr,
        /// Its link-layer address.
        mac: MacAddr,
    },
    /// Duplicate address detection (RFC 4862 5.4.3, 5.4.4) found another node using or
    /// trying our tentative address `0`: it must not be used. Release the frame.
    DadConflict(Ipv6Addr),
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
    /// Our IPv6 addresses, each with whether it is still tentative (RFC 4862 5.4).
    addrs6: Vec<(OurAddr6, bool)>,
    /// What the link layer and the worker counted.
    pub counters: Counters,
    /// Malformed frames by reason, indexed by `WireError::index`.
    pub malformed: [u64; WireError::ALL.len()],
    /// The VLAN tag of the frame being handled, for replies that leave later.
    rx_vlan: Option<u16>,
    /// ICMP error rate limits and IPv4 IDs of what leaves without a connection.
    icmp: IcmpOut,
    /// Keys the IPv6 flow labels of what leaves without a connection (`v6.rs`).
    flow_key: [u8; 16],
    /// The time of the frames being handled (`set_now`).
    now: Instant,
}

impl Iface {
    /// The link layer for link address `mac` and our addresses `addrs`.
    pub fn new(mac: MacAddr, addrs: Vec<OurAddr>) -> Iface {
        Iface {
            mac,
            addrs,
            addrs6: Vec::new(),
            counters: Counters::default(),
            malformed: [0; WireError::ALL.len()],
            rx_vlan: None,
            icmp: IcmpOut::new(
                IcmpLimitConfig::default(),
                u64::from_le_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]),
            ),
            flow_key: flow_key(u64::from_le_bytes([
                0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
            ])),
            now: Instant::ZERO,
        }
    }

    /// Keys the hashes and random numbers of the ICMP rules with `seed` (the engine
    /// takes it from its secrets; without it they are derived from the link address).
    pub fn set_seed(&mut self, seed: u64) {
        self.icmp = IcmpOut::new(IcmpLimitConfig::default(), seed);
        self.flow_key = flow_key(seed);
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
            t if t == EtherType::Ipv6 as u16 => self.ipv6(buf, len, eth_len, src_mac),
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
mod tests;
#[cfg(test)]
mod v6_tests;
#[cfg(test)]
mod answers_tests;

//! IPv6 below TCP: neighbour discovery for our addresses (RFC 4861 7.2.3, 7.2.4: answer
//! solicitations in place), duplicate address detection's receive side (RFC 4862 5.4.3,
//! 5.4.4: report a conflict for a tentative address), ICMPv6 echo (RFC 4443 4.2),
//! advertisements for the neighbour cache, TCP segments for the host (and resets for
//! those nothing takes), packet-too-big for a connection's MSS (RFC 8201).
//!
//! A tentative address (its duplicate address detection not yet done) answers nothing and
//! receives nothing but the messages that reveal a duplicate. The engine has no link-local
//! address: link-local and router traffic stays with the kernel (the steering program
//! passes it), so the engine sees only NDP for its owned addresses.

use std::net::Ipv6Addr;

use super::{Action, Iface};
use crate::frame;
use crate::tcp::{FourTuple6, SeqNum};
use crate::wire::be16;
use crate::wire::ethernet::MacAddr;
use crate::wire::icmpv6::{self, Icmpv6Repr, IpInfo, NdpRepr, NDP_HOP_LIMIT};
use crate::wire::ipv6::{self, solicited_node};
use crate::wire::tcp::{TcpPacket, TcpRepr};

/// ff02::1, all nodes on the link (RFC 4291 2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// ICMPv6 parameter problem (RFC 4443 3.4).
const TYPE_PARAM_PROBLEM: u8 = 4;

/// In IPv6 packet `b` (from its header, cut to its length), the offset of the next header
/// field that names a hop-by-hop header anywhere but first, walking at most
/// `ipv6::MAX_EXT_HEADERS` extension headers.
fn misplaced_hop_by_hop(b: &[u8]) -> Option<usize> {
    let (mut nh, mut field, mut at) = (b[6], 6, ipv6::HEADER_LEN);
    for _ in 0..=ipv6::MAX_EXT_HEADERS {
        match nh {
            ipv6::NH_HOP_BY_HOP if at != ipv6::HEADER_LEN => return Some(field),
            ipv6::NH_HOP_BY_HOP | ipv6::NH_DEST_OPTS | ipv6::NH_ROUTING => {
                let len = (*b.get(at + 1)? as usize + 1) * 8;
                (nh, field) = (*b.get(at)?, at);
                at += len;
            }
            ipv6::NH_FRAGMENT => {
                (nh, field) = (*b.get(at)?, at);
                at += 8;
            }
            _ => return None,
        }
    }
    None
}

/// What the link layer knew about a received IPv6 segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Meta6 {
    /// The sender's link address.
    pub src_mac: MacAddr,
    /// The VLAN the frame came on, if tagged.
    pub vlan: Option<u16>,
    /// The IPv6 source.
    pub src: Ipv6Addr,
    /// The IPv6 destination (one of our addresses).
    pub dst: Ipv6Addr,
}

/// A received IPv6 TCP segment: where it came from and where its parts are in the frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TcpIn6 {
    /// Where the segment came from.
    pub meta: Meta6,
    /// The TCP header.
    pub repr: TcpRepr,
    /// Payload bytes: `frame[payload.0..payload.1]`.
    pub payload: (usize, usize),
    /// Where the IPv6 header starts (after Ethernet and any VLAN tag).
    pub ip_at: usize,
}

/// An IPv6 address of the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OurAddr6 {
    /// The address.
    pub addr: Ipv6Addr,
    /// The prefix length of its on-link prefix.
    pub prefix: u8,
    /// Owned: the kernel does not have it, the engine answers neighbour discovery and
    /// echo for it (after duplicate address detection). Shared: the kernel answers those.
    pub owned: bool,
}

impl Iface {
    /// Adds IPv6 address `a`; `tentative` until duplicate address detection confirms it
    /// ([`Iface::confirm_ipv6`]).
    pub fn add_ipv6(&mut self, a: OurAddr6, tentative: bool) {
        self.addrs6.retain(|(o, _)| o.addr != a.addr);
        self.addrs6.push((a, tentative));
    }

    /// Duplicate address detection found `addr` unique: it may be used.
    pub fn confirm_ipv6(&mut self, addr: Ipv6Addr) {
        for (a, tentative) in &mut self.addrs6 {
            if a.addr == addr {
                *tentative = false;
            }
        }
    }

    /// Forgets `addr` (a duplicate: RFC 4862 5.4.5, the address is not used).
    pub fn remove_ipv6(&mut self, addr: Ipv6Addr) {
        self.addrs6.retain(|(a, _)| a.addr != addr);
    }

    /// Our IPv6 addresses, each with whether it is still tentative.
    pub fn ipv6_addrs(&self) -> impl Iterator<Item = (OurAddr6, bool)> + '_ {
        self.addrs6.iter().copied()
    }

    /// Our address `ip` with its tentative flag.
    fn ours6(&self, ip: Ipv6Addr) -> Option<(OurAddr6, bool)> {
        self.addrs6.iter().copied().find(|(a, _)| a.addr == ip)
    }

    /// Our usable (not tentative) address `ip`.
    fn usable6(&self, ip: Ipv6Addr) -> Option<OurAddr6> {
        self.ours6(ip).filter(|(_, t)| !t).map(|(a, _)| a)
    }

    pub(super) fn ipv6(
        &mut self,
        buf: &mut [u8],
        len: usize,
        eth_len: usize,
        src_mac: MacAddr,
    ) -> Action {
        let (ip, proto, upper) = match ipv6::Packet::new_checked(&buf[eth_len..len]) {
            Ok(p) => {
                let at = eth_len + p.header_len();
                let ip = IpInfo {
                    src: p.src(),
                    dst: p.dst(),
                    hop_limit: p.hop_limit(),
                };
                (ip, p.upper_protocol(), at..at + p.upper().len())
            }
            Err(crate::wire::WireError::ExtHeader) => {
                return self.bad_chain(buf, len, eth_len, src_mac)
            }
            Err(e) => return self.malformed(e),
        };
        // For us: one of our addresses, or a multicast group neighbour discovery uses
        // (the solicited-node group of an owned address, all nodes).
        let ndp_group = ip.dst == ALL_NODES
            || self
                .addrs6
                .iter()
                .any(|(a, _)| a.owned && solicited_node(a.addr) == ip.dst);
        if self.ours6(ip.dst).is_none() && !ndp_group {
            self.counters.drop_not_ours += 1;
            return Action::Drop;
        }
        // A usable address of ours as the source is spoofed; a tentative one is the
        // owner of a duplicate defending it (RFC 4862 5.4.4), let through to be seen.
        if ip.src.is_loopback() || ip.src.is_multicast() || self.usable6(ip.src).is_some() {
            self.counters.drop_martian += 1;
            return Action::Drop;
        }
        match proto {
            ipv6::NH_ICMPV6 => self.icmpv6(buf, upper, eth_len, src_mac, &ip, ndp_group),
            ipv6::NH_TCP if self.usable6(ip.dst).is_some() => {
                self.tcp6(buf, upper, eth_len, src_mac, &ip)
            }
            ipv6::NH_UDP if self.usable6(ip.dst).is_some_and(|a| a.owned) => {
                self.udp6(buf, upper, eth_len, src_mac, &ip)
            }
            _ => {
                self.counters.drop_unsupported += 1;
                Action::Drop
            }
        }
    }

    fn icmpv6(
        &mut self,
        buf: &mut [u8],
        upper: core::ops::Range<usize>,
        eth_len: usize,
        src_mac: MacAddr,
        ip: &IpInfo,
        to_group: bool,
    ) -> Action {
        match Icmpv6Repr::parse(&buf[upper.clone()], ip) {
            Err(e) => self.malformed(e),
            Ok(Icmpv6Repr::EchoRequest { .. }) if !to_group => {
                match self.usable6(ip.dst).filter(|a| a.owned) {
                    Some(_) => self.echo6(buf, upper, eth_len, src_mac, ip),
                    None => {
                        self.counters.icmp6_other += 1;
                        Action::Drop
                    }
                }
            }
            Ok(Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                target,
                source_lladdr,
            })) => self.solicit(buf, eth_len, src_mac, ip, target, source_lladdr),
            Ok(Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                target,
                target_lladdr,
                ..
            })) => self.advert(target, target_lladdr),
            Ok(Icmpv6Repr::PacketTooBig {
                mtu,
                orig_src,
                orig_dst,
                orig_protocol: ipv6::NH_TCP,
                orig_src_port,
                orig_dst_port,
                orig_seq,
            }) if !to_group && self.usable6(orig_src).is_some() => {
                self.counters.icmp6_too_big += 1;
                Action::PathMtu6 {
                    tuple: FourTuple6 {
                        local: orig_src,
                        remote: orig_dst,
                        local_port: orig_src_port,
                        remote_port: orig_dst_port,
                    },
                    seq: SeqNum(orig_seq),
                    mtu: mtu.min(u32::from(u16::MAX)) as u16,
                }
            }
            Ok(Icmpv6Repr::PacketTooBig { .. }) => {
                self.counters.icmp6_too_big += 1;
                Action::Drop
            }
            Ok(_) => {
                self.counters.icmp6_other += 1;
                Action::Drop
            }
        }
    }

    /// A TCP segment for a usable address of ours: checked (pseudo-header checksum, RFC
    /// 8200 8.1) and handed up with where it came from.
    fn tcp6(
        &mut self,
        buf: &mut [u8],
        upper: core::ops::Range<usize>,
        eth_len: usize,
        src_mac: MacAddr,
        ip: &IpInfo,
    ) -> Action {
        let ecn = (be16(buf, eth_len) >> 4) as u8 & 0x3;
        let (repr, payload) = match TcpPacket::parse_v6(&buf[upper.clone()], ip.src, ip.dst) {
            // The traffic class's ECN bits travel with the segment (RFC 3168 5).
            Ok(p) => (
                TcpRepr { ecn, ..p.repr },
                (upper.end - p.payload.len(), upper.end),
            ),
            Err(e) => return self.malformed(e),
        };
        self.counters.tcp_segments += 1;
        Action::Tcp6(TcpIn6 {
            meta: Meta6 {
                src_mac,
                vlan: self.rx_vlan,
                src: ip.src,
                dst: ip.dst,
            },
            repr,
            payload,
            ip_at: eth_len,
        })
    }

    /// A packet whose extension header chain was refused (counted as malformed). One with
    /// a hop-by-hop header that is not first, to a usable owned address, is answered as
    /// Linux answers it (`ip6_input_finish`): ICMPv6 parameter problem, code 1
    /// ("unrecognized next header"), pointing at the next header field that named it
    /// (RFC 8200 4.3, RFC 4443 3.4), within the rate limits. nmap's IE2 probe is one.
    fn bad_chain(
        &mut self,
        buf: &mut [u8],
        len: usize,
        eth_len: usize,
        src_mac: MacAddr,
    ) -> Action {
        let drop = self.malformed(crate::wire::WireError::ExtHeader);
        let b = &buf[eth_len..len];
        if b.len() < ipv6::HEADER_LEN {
            return drop;
        }
        let total = (ipv6::HEADER_LEN + be16(b, 4) as usize).min(b.len());
        let b = &b[..total];
        let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&b[at..at + 16]).unwrap());
        let (src, dst) = (addr(8), addr(24));
        if self.usable6(dst).filter(|a| a.owned).is_none()
            || src.is_unspecified()
            || src.is_multicast()
            || src.is_loopback()
        {
            return drop;
        }
        let Some(pointer) = misplaced_hop_by_hop(b) else {
            return drop;
        };
        if !self.icmp.allow_error(self.now, std::net::IpAddr::V6(src)) {
            self.counters.icmp_rate_limited += 1;
            return drop;
        }
        let ip_at = eth_len;
        let msg_at = ip_at + ipv6::HEADER_LEN;
        let quote_at = msg_at + icmpv6::HEADER_LEN;
        let quoted = total
            .min(1280 - ipv6::HEADER_LEN - icmpv6::HEADER_LEN)
            .min(buf.len().saturating_sub(quote_at));
        buf.copy_within(ip_at..ip_at + quoted, quote_at);
        let msg_len = icmpv6::HEADER_LEN + quoted;
        buf[msg_at..msg_at + 4].copy_from_slice(&[TYPE_PARAM_PROBLEM, 1, 0, 0]);
        buf[msg_at + 4..quote_at].copy_from_slice(&(pointer as u32).to_be_bytes());
        icmpv6::write_checksum(&mut buf[msg_at..msg_at + msg_len], dst, src);
        let hdr = frame::Ip6 {
            src: dst,
            dst: src,
            hop_limit: frame::DEFAULT_TTL,
        };
        frame::ipv6_header(buf, ip_at, &hdr, ipv6::NH_ICMPV6, 0, msg_len);
        let label = frame::flow_label(&self.flow_key, hdr.src, hdr.dst, 0);
        ipv6::set_flow_label(&mut buf[ip_at..], label);
        self.reply_eth(buf, src_mac);
        self.counters.icmp6_param_problems += 1;
        Action::Transmit(msg_at + msg_len)
    }

    /// A UDP datagram to an owned address: no UDP socket, so "port unreachable" (RFC 4443
    /// 3.1, code 4) once the header and checksum are good (RFC 8200 8.1: a zero checksum
    /// is invalid; Linux drops a bad one silently), within the rate limits, as Linux's
    /// `icmp6_send`: as much of the datagram as fits in the minimum MTU (1280), hop limit
    /// 64, an automatic flow label. Counted with IPv4's as `icmp_unreachable_sent`.
    fn udp6(
        &mut self,
        buf: &mut [u8],
        upper: core::ops::Range<usize>,
        eth_len: usize,
        src_mac: MacAddr,
        ip: &IpInfo,
    ) -> Action {
        let b = &buf[upper.clone()];
        if b.len() < 8 {
            return self.malformed(crate::wire::WireError::Truncated);
        }
        let ulen = be16(b, 4) as usize;
        if ulen < 8 || ulen > b.len() {
            return self.malformed(crate::wire::WireError::BadTotalLen);
        }
        let sum = crate::wire::checksum::combine(&[
            crate::wire::checksum::pseudo_header_v6(ip.src, ip.dst, ipv6::NH_UDP, ulen as u32),
            crate::wire::checksum::sum(&b[..ulen]),
        ]);
        if be16(b, 6) == 0 || sum != 0xffff {
            return self.malformed(crate::wire::WireError::BadChecksum);
        }
        // RFC 4443 2.4 (e): never about a packet from an unspecified or multicast source
        // (the martian check dropped multicast sources already).
        if ip.src.is_unspecified() {
            self.counters.drop_unsupported += 1;
            return Action::Drop;
        }
        if !self
            .icmp
            .allow_error(self.now, std::net::IpAddr::V6(ip.src))
        {
            self.counters.icmp_rate_limited += 1;
            return Action::Drop;
        }
        let ip_at = eth_len;
        let msg_at = ip_at + ipv6::HEADER_LEN;
        let quote_at = msg_at + icmpv6::HEADER_LEN;
        let quoted = (upper.end - ip_at)
            .min(1280 - ipv6::HEADER_LEN - icmpv6::HEADER_LEN)
            .min(buf.len().saturating_sub(quote_at));
        buf.copy_within(ip_at..ip_at + quoted, quote_at);
        let msg_len = icmpv6::HEADER_LEN + quoted;
        let (src, dst) = (ip.dst, ip.src);
        buf[msg_at..quote_at].copy_from_slice(&[
            icmpv6::TYPE_DEST_UNREACHABLE,
            4,
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        icmpv6::write_checksum(&mut buf[msg_at..msg_at + msg_len], src, dst);
        let hdr = frame::Ip6 {
            src,
            dst,
            hop_limit: frame::DEFAULT_TTL,
        };
        frame::ipv6_header(buf, ip_at, &hdr, ipv6::NH_ICMPV6, 0, msg_len);
        let label = frame::flow_label(&self.flow_key, src, dst, 0);
        ipv6::set_flow_label(&mut buf[ip_at..], label);
        self.reply_eth(buf, src_mac);
        self.counters.icmp_unreachable_sent += 1;
        Action::Transmit(msg_at + msg_len)
    }

    /// [`Iface::reset`] for IPv6: a reset in place over the received frame, in a fresh
    /// 40-byte header (the segment's extension headers are not echoed).
    pub fn reset6(&mut self, buf: &mut [u8], t: &TcpIn6) -> Action {
        let Some(rst) = t.repr.rst_reply(t.payload.1 - t.payload.0) else {
            return Action::Drop;
        };
        let ip = frame::Ip6 {
            src: t.meta.dst,
            dst: t.meta.src,
            hop_limit: frame::DEFAULT_TTL,
        };
        let tcp_at = t.ip_at + ipv6::HEADER_LEN;
        let f = frame::tcp_segment6(buf, tcp_at, None, &ip, &rst, 0);
        let ports = u32::from(rst.src_port) << 16 | u32::from(rst.dst_port);
        let label = frame::flow_label(&self.flow_key, ip.src, ip.dst, ports);
        ipv6::set_flow_label(&mut buf[t.ip_at..], label);
        self.reply_eth(buf, t.meta.src_mac);
        self.counters.tcp_rst_sent += 1;
        Action::Transmit(f.end)
    }

    /// RFC 4443 4.2: the reply carries the request's identifier, sequence and data, from
    /// the address the request was sent to, in a fresh header (extension headers of the
    /// request are not echoed).
    fn echo6(
        &mut self,
        buf: &mut [u8],
        upper: core::ops::Range<usize>,
        eth_len: usize,
        src_mac: MacAddr,
        ip: &IpInfo,
    ) -> Action {
        let msg_len = upper.len();
        let msg_at = eth_len + ipv6::HEADER_LEN;
        buf.copy_within(upper, msg_at);
        if icmpv6::echo_request_to_reply(&mut buf[msg_at..msg_at + msg_len], ip.dst, ip.src)
            .is_err()
        {
            self.counters.icmp6_other += 1;
            return Action::Drop;
        }
        let hdr = frame::Ip6 {
            src: ip.dst,
            dst: ip.src,
            hop_limit: frame::DEFAULT_TTL,
        };
        frame::ipv6_header(buf, eth_len, &hdr, ipv6::NH_ICMPV6, 0, msg_len);
        let label = frame::flow_label(&self.flow_key, hdr.src, hdr.dst, 0);
        ipv6::set_flow_label(&mut buf[eth_len..], label);
        self.reply_eth(buf, src_mac);
        self.counters.icmp6_echo_replies += 1;
        Action::Transmit(msg_at + msg_len)
    }

    /// RFC 4861 7.2.3 (and RFC 4862 5.4.3 for a tentative target).
    fn solicit(
        &mut self,
        buf: &mut [u8],
        eth_len: usize,
        src_mac: MacAddr,
        ip: &IpInfo,
        target: Ipv6Addr,
        source_lladdr: Option<MacAddr>,
    ) -> Action {
        let Some((ours, tentative)) = self.ours6(target).filter(|(a, _)| a.owned) else {
            self.counters.ndp_ignored += 1;
            return Action::Drop;
        };
        if tentative {
            // From ::, another node is doing duplicate address detection for the same
            // address: it is a duplicate. From anyone else, silently discarded.
            if ip.src.is_unspecified() {
                self.counters.dad_conflicts += 1;
                return Action::DadConflict(target);
            }
            self.counters.ndp_ignored += 1;
            return Action::Drop;
        }
        // To the soliciting node with S=1; to all nodes with S=0 when it asked from ::
        // (it is doing duplicate address detection and has no address to answer to).
        // As Linux (`ndisc_recv_ns`): a solicitation sent to a multicast group gets O=1
        // and our link-layer address in the target option; one sent to our unicast
        // address (the node has our MAC already: unreachability detection, or nmap's NS
        // probe) gets neither (RFC 4861 7.2.4 allows omitting the option).
        let (dst, dst_mac, solicited) = if ip.src.is_unspecified() {
            (ALL_NODES, ipv6::multicast_mac(ALL_NODES), false)
        } else {
            (ip.src, source_lladdr.unwrap_or(src_mac), true)
        };
        let to_group = ip.dst.is_multicast();
        let na = NdpRepr::NeighborAdvert {
            router: false,
            solicited,
            override_: to_group,
            target: ours.addr,
            target_lladdr: to_group.then_some(self.mac),
        };
        let hdr = frame::Ip6 {
            src: ours.addr,
            dst,
            hop_limit: NDP_HOP_LIMIT,
        };
        let n = frame::ndp_packet(buf, eth_len, &hdr, &na);
        self.reply_eth(buf, dst_mac);
        self.counters.ndp_replies += 1;
        Action::Transmit(eth_len + n)
    }

    /// RFC 4861 7.2.5 (and RFC 4862 5.4.4 for a tentative target).
    fn advert(&mut self, target: Ipv6Addr, lladdr: Option<MacAddr>) -> Action {
        if let Some((_, tentative)) = self.ours6(target) {
            if tentative {
                self.counters.dad_conflicts += 1;
                return Action::DadConflict(target);
            }
            // Another node claims an address we use. Linux logs it and keeps the address.
            self.counters.ndp_ignored += 1;
            return Action::Drop;
        }
        match lladdr {
            Some(mac) if mac[0] & 1 == 0 => {
                self.counters.ndp_learned += 1;
                Action::Neighbor6 { ip: target, mac }
            }
            _ => {
                self.counters.ndp_ignored += 1;
                Action::Drop
            }
        }
    }
}

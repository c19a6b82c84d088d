//! IPv6 (RFC 8200) with a bounded walk over its extension headers.
//!
//! The walk (RFC 8200 4) follows hop-by-hop options, routing, fragment and destination
//! options headers to the upper-layer header, at most [`MAX_EXT_HEADERS`] of them. What a
//! host must not process is reported, not skipped:
//! - a hop-by-hop header anywhere but first (RFC 8200 4.3: "MUST immediately follow the
//!   IPv6 header"), or a chain longer than the bound: `WireError::ExtHeader`;
//! - a routing header with segments left (the packet is not for us yet; RFC 8200 4.4 has a
//!   host answer with a parameter problem, the engine drops it): `WireError::ExtHeader`;
//! - a fragment that is not atomic (offset or M set): `WireError::Fragment` (not
//!   reassembled, as for IPv4). An atomic fragment (RFC 6946) is processed as a whole packet.
//!
//! Payload length 0 with a hop-by-hop header (a jumbogram, RFC 2675) is refused as
//! `BadTotalLen`.

use std::net::Ipv6Addr;

use super::{be16, be32, WireError};

mod field {
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Bytes of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// Next header: hop-by-hop options (RFC 8200 4.3).
pub const NH_HOP_BY_HOP: u8 = 0;
/// Next header: TCP.
pub const NH_TCP: u8 = 6;
/// Next header: UDP.
pub const NH_UDP: u8 = 17;
/// Next header: routing (RFC 8200 4.4).
pub const NH_ROUTING: u8 = 43;
/// Next header: fragment (RFC 8200 4.5).
pub const NH_FRAGMENT: u8 = 44;
/// Next header: ICMPv6 (RFC 4443).
pub const NH_ICMPV6: u8 = 58;
/// Next header: no next header (RFC 8200 4.7).
pub const NH_NONE: u8 = 59;
/// Next header: destination options (RFC 8200 4.6).
pub const NH_DEST_OPTS: u8 = 60;
/// At most this many extension headers are walked; a longer chain is `ExtHeader`.
pub const MAX_EXT_HEADERS: usize = 8;
/// The minimum link MTU of IPv6 (RFC 8200 5).
pub const MIN_MTU: usize = 1280;

/// A checked IPv6 packet: version 6, the payload length within the buffer, the extension
/// header chain walked to its upper-layer header. `upper()` is bounded by the payload
/// length (Ethernet padding excluded).
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
    /// Offset of the upper-layer header (40 plus the extension headers).
    upper_at: usize,
    /// Protocol of the upper-layer header.
    upper_proto: u8,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version and payload length and walks the extension headers.
    pub fn new_checked(buf: T) -> Result<Packet<T>, WireError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        let payload = be16(b, field::PAYLOAD_LEN) as usize;
        if payload == 0 && b[field::NEXT_HEADER] == NH_HOP_BY_HOP {
            // A jumbogram (RFC 2675): the engine's links carry none.
            return Err(WireError::BadTotalLen);
        }
        let end = HEADER_LEN + payload;
        if end > b.len() {
            return Err(WireError::BadTotalLen);
        }
        let (upper_at, upper_proto) = walk(&b[..end], b[field::NEXT_HEADER])?;
        Ok(Packet {
            buf,
            upper_at,
            upper_proto,
        })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// The source address.
    pub fn src(&self) -> Ipv6Addr {
        addr(self.b(), field::SRC)
    }

    /// The destination address.
    pub fn dst(&self) -> Ipv6Addr {
        addr(self.b(), field::DST)
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }

    /// The traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.b(), field::VER_TC_FLOW) >> 4) & 0xff) as u8
    }

    /// The ECN field (RFC 3168 5), the low two bits of the traffic class.
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x3
    }

    /// The flow label (RFC 6437).
    pub fn flow_label(&self) -> u32 {
        be32(self.b(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// The next header field of the fixed header (the first extension header, if any).
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }

    /// The payload length field: extension headers plus upper-layer bytes.
    pub fn payload_len(&self) -> usize {
        be16(self.b(), field::PAYLOAD_LEN) as usize
    }

    /// Bytes from the start of the packet to the upper-layer header (40 plus extensions).
    pub fn header_len(&self) -> usize {
        self.upper_at
    }

    /// The protocol of the upper-layer header after the extension headers (`NH_TCP`,
    /// `NH_ICMPV6`, `NH_NONE`, ...).
    pub fn upper_protocol(&self) -> u8 {
        self.upper_proto
    }

    /// The upper-layer bytes, bounded by the payload length.
    pub fn upper(&self) -> &[u8] {
        &self.b()[self.upper_at..HEADER_LEN + self.payload_len()]
    }
}

fn addr(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(o)
}

/// RFC 8200 4: walks the extension headers of `b` (one packet, bounded by its payload
/// length) from next header `nh`; returns the offset and protocol of the upper layer.
fn walk(b: &[u8], mut nh: u8) -> Result<(usize, u8), WireError> {
    let mut at = HEADER_LEN;
    for i in 0..=MAX_EXT_HEADERS {
        let len = match nh {
            NH_HOP_BY_HOP if i > 0 => return Err(WireError::ExtHeader),
            NH_HOP_BY_HOP | NH_DEST_OPTS | NH_ROUTING => {
                if at + 2 > b.len() {
                    return Err(WireError::Truncated);
                }
                (b[at + 1] as usize + 1) * 8
            }
            NH_FRAGMENT => 8,
            _ => return Ok((at, nh)),
        };
        if i == MAX_EXT_HEADERS {
            return Err(WireError::ExtHeader);
        }
        if at + len > b.len() {
            return Err(WireError::Truncated);
        }
        match nh {
            // RFC 8200 4.4: segments left is the fourth byte; nonzero means the packet
            // still has hops to visit, which a host does not do.
            NH_ROUTING if b[at + 3] != 0 => return Err(WireError::ExtHeader),
            // RFC 8200 4.5: offset (13 bits) and the M flag; both zero is an atomic
            // fragment (RFC 6946), processed as a whole packet.
            NH_FRAGMENT if be16(b, at + 2) & 0xfff9 != 0 => return Err(WireError::Fragment),
            _ => {}
        }
        nh = b[at];
        at += len;
    }
    Err(WireError::ExtHeader)
}

/// The fields the engine sets when it writes an IPv6 header (no extension headers).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Protocol of the payload.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Bytes of payload after the header.
    pub payload_len: usize,
    /// The ECN field (RFC 3168 5); the DSCP is always 0.
    pub ecn: u8,
}

impl Ipv6Repr {
    /// Writes the 40-byte header at the start of `b` (flow label 0).
    pub fn emit(&self, b: &mut [u8]) {
        let first: u32 = (6 << 28) | (u32::from(self.ecn & 0x3) << 20);
        b[field::VER_TC_FLOW..field::VER_TC_FLOW + 4].copy_from_slice(&first.to_be_bytes());
        b[field::PAYLOAD_LEN..field::PAYLOAD_LEN + 2]
            .copy_from_slice(&(self.payload_len as u16).to_be_bytes());
        b[field::NEXT_HEADER] = self.next_header;
        b[field::HOP_LIMIT] = self.hop_limit;
        b[field::SRC..field::SRC + 16].copy_from_slice(&self.src.octets());
        b[field::DST..field::DST + 16].copy_from_slice(&self.dst.octets());
    }
}

/// Writes flow label `label` (its low 20 bits, RFC 6437) into the IPv6 header at the start
/// of `b`, keeping the version and traffic class.
pub fn set_flow_label(b: &mut [u8], label: u32) {
    let first = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let first = (first & !0x000F_FFFF) | (label & 0x000F_FFFF);
    b[..4].copy_from_slice(&first.to_be_bytes());
}

/// RFC 4291 2.7.1: the solicited-node multicast address of `a`, ff02::1:ffXX:XXXX with the
/// low 24 bits of `a`.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// RFC 2464 7: the Ethernet address of IPv6 multicast `a`, 33:33 and its low 32 bits.
pub fn multicast_mac(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// RFC 4291 2.5.6: whether `a` is link-local unicast (fe80::/10).
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Whether `a` and `b` share their first `prefix` bits.
pub fn same_prefix(a: Ipv6Addr, b: Ipv6Addr, prefix: u8) -> bool {
    let m = match prefix.min(128) {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p)),
    };
    u128::from(a) & m == u128::from(b) & m
}

#[cfg(test)]
mod tests;

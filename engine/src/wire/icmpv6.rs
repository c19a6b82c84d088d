//! ICMPv6 (RFC 4443): echo, packet too big (for path MTU discovery, RFC 8201), and the
//! neighbour discovery messages a host needs (RFC 4861 4.3, 4.4: neighbour solicitation
//! and advertisement with their link-layer address options, 4.6.1).
//!
//! Every message is checked against the IPv6 pseudo-header (RFC 4443 2.3). Neighbour
//! discovery messages are validated as RFC 4861 7.1.1 and 7.1.2 say a node MUST before it
//! acts on them; one that fails is `WireError::BadNdp`.

use std::net::Ipv6Addr;

use super::checksum;
use super::ethernet::MacAddr;
use super::ipv6::{self, NH_ICMPV6};
use super::{be16, be32, WireError};

/// ICMPv6 type: destination unreachable.
pub const TYPE_DEST_UNREACHABLE: u8 = 1;
/// ICMPv6 type: packet too big (RFC 4443 3.2).
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
/// ICMPv6 type: echo request.
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// ICMPv6 type: echo reply.
pub const TYPE_ECHO_REPLY: u8 = 129;
/// ICMPv6 type: router solicitation (left to the kernel).
pub const TYPE_ROUTER_SOLICIT: u8 = 133;
/// ICMPv6 type: router advertisement (left to the kernel).
pub const TYPE_ROUTER_ADVERT: u8 = 134;
/// ICMPv6 type: neighbour solicitation.
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 type: neighbour advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// Bytes of the ICMPv6 header (type, code, checksum, four more).
pub const HEADER_LEN: usize = 8;
/// Bytes of a neighbour solicitation or advertisement before its options.
pub const NDP_LEN: usize = 24;
/// Bytes of an Ethernet link-layer address option (RFC 4861 4.6.1).
pub const LLADDR_OPT_LEN: usize = 8;
/// RFC 4861 7.1.1: neighbour discovery messages arrive with hop limit 255 (not forwarded).
pub const NDP_HOP_LIMIT: u8 = 255;

const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_TARGET_LLADDR: u8 = 2;
const NA_ROUTER: u32 = 0x8000_0000;
const NA_SOLICITED: u32 = 0x4000_0000;
const NA_OVERRIDE: u32 = 0x2000_0000;

/// The addressing of the IPv6 packet an ICMPv6 message came in (or goes out) in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// The IPv6 source.
    pub src: Ipv6Addr,
    /// The IPv6 destination.
    pub dst: Ipv6Addr,
    /// The IPv6 hop limit.
    pub hop_limit: u8,
}

/// A neighbour discovery message (RFC 4861 4.3, 4.4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NdpRepr {
    /// Who has `target`? (Or, from `::`, duplicate address detection for it.)
    NeighborSolicit {
        /// The address asked about.
        target: Ipv6Addr,
        /// The sender's link-layer address option, if present.
        source_lladdr: Option<MacAddr>,
    },
    /// `target` is at `target_lladdr`.
    NeighborAdvert {
        /// R: the sender is a router.
        router: bool,
        /// S: an answer to a solicitation.
        solicited: bool,
        /// O: override an existing cache entry.
        override_: bool,
        /// The address advertised.
        target: Ipv6Addr,
        /// The target link-layer address option, if present.
        target_lladdr: Option<MacAddr>,
    },
}

impl NdpRepr {
    /// Bytes of the message on the wire: 24, plus 8 with a link-layer address option.
    pub fn buffer_len(&self) -> usize {
        let opt = match self {
            NdpRepr::NeighborSolicit { source_lladdr, .. } => source_lladdr.is_some(),
            NdpRepr::NeighborAdvert { target_lladdr, .. } => target_lladdr.is_some(),
        };
        NDP_LEN + if opt { LLADDR_OPT_LEN } else { 0 }
    }

    /// Writes the message with its checksum for a packet from `src` to `dst` at the start
    /// of `b` (at least `buffer_len()` bytes); returns its length.
    pub fn emit(&self, b: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> usize {
        let n = self.buffer_len();
        b[..n].fill(0);
        let (kind, flags, target, opt) = match *self {
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr,
            } => (
                TYPE_NEIGHBOR_SOLICIT,
                0,
                target,
                source_lladdr.map(|m| (OPT_SOURCE_LLADDR, m)),
            ),
            NdpRepr::NeighborAdvert {
                router,
                solicited,
                override_,
                target,
                target_lladdr,
            } => (
                TYPE_NEIGHBOR_ADVERT,
                (if router { NA_ROUTER } else { 0 })
                    | (if solicited { NA_SOLICITED } else { 0 })
                    | (if override_ { NA_OVERRIDE } else { 0 }),
                target,
                target_lladdr.map(|m| (OPT_TARGET_LLADDR, m)),
            ),
        };
        b[0] = kind;
        b[4..8].copy_from_slice(&flags.to_be_bytes());
        b[8..24].copy_from_slice(&target.octets());
        if let Some((t, mac)) = opt {
            b[24] = t;
            b[25] = 1; // in units of 8 bytes
            b[26..32].copy_from_slice(&mac);
        }
        write_checksum(&mut b[..n], src, dst);
        n
    }
}

/// What an ICMPv6 message means to the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Icmpv6Repr {
    /// A ping (RFC 4443 4.1), of any code (the reply echoes it, as Linux does).
    EchoRequest {
        /// The identifier the reply must echo.
        ident: u16,
        /// The sequence number the reply must echo.
        seq: u16,
    },
    /// An answer to a ping.
    EchoReply {
        /// The echoed identifier.
        ident: u16,
        /// The echoed sequence number.
        seq: u16,
    },
    /// RFC 4443 3.2, RFC 8201: a link on the path needs packets of at most `mtu` bytes.
    /// Carries the start of the packet we sent, enough to find its TCP connection.
    PacketTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
        /// Source of the packet that was too big (ours).
        orig_src: Ipv6Addr,
        /// Destination of the packet that was too big.
        orig_dst: Ipv6Addr,
        /// Upper-layer protocol of that packet (after its extension headers).
        orig_protocol: u8,
        /// Its source port (TCP).
        orig_src_port: u16,
        /// Its destination port (TCP).
        orig_dst_port: u16,
        /// Its sequence number (TCP).
        orig_seq: u32,
    },
    /// Neighbour solicitation or advertisement, validated.
    Ndp(NdpRepr),
    /// Any other message, by type and code.
    Other {
        /// The ICMPv6 type.
        kind: u8,
        /// The ICMPv6 code.
        code: u8,
    },
}

impl Icmpv6Repr {
    /// Parses an ICMPv6 message (the upper-layer bytes of a packet addressed as `ip`),
    /// verifying its checksum and, for neighbour discovery, RFC 4861's validity rules.
    pub fn parse(b: &[u8], ip: &IpInfo) -> Result<Icmpv6Repr, WireError> {
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = u32::try_from(b.len()).map_err(|_| WireError::BadTotalLen)?;
        let pseudo = checksum::pseudo_header_v6(ip.src, ip.dst, NH_ICMPV6, len);
        if checksum::combine(&[checksum::sum(b), pseudo]) != 0xffff {
            return Err(WireError::BadChecksum);
        }
        let (kind, code) = (b[0], b[1]);
        Ok(match kind {
            TYPE_ECHO_REQUEST => Icmpv6Repr::EchoRequest {
                ident: be16(b, 4),
                seq: be16(b, 6),
            },
            TYPE_ECHO_REPLY => Icmpv6Repr::EchoReply {
                ident: be16(b, 4),
                seq: be16(b, 6),
            },
            TYPE_PACKET_TOO_BIG if code == 0 => packet_too_big(b)?,
            TYPE_NEIGHBOR_SOLICIT | TYPE_NEIGHBOR_ADVERT => Icmpv6Repr::Ndp(ndp(b, ip)?),
            _ => Icmpv6Repr::Other { kind, code },
        })
    }
}

fn packet_too_big(b: &[u8]) -> Result<Icmpv6Repr, WireError> {
    // RFC 4443 3.2: as much of the invoking packet as fits follows the MTU.
    let orig = &b[HEADER_LEN..];
    if orig.len() < ipv6::HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if orig[0] >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    let addr = |at: usize| {
        let mut o = [0u8; 16];
        o.copy_from_slice(&orig[at..at + 16]);
        Ipv6Addr::from(o)
    };
    // The quoted packet is cut short: walk its extension headers within what is quoted.
    let (l4_at, proto) = quoted_upper(orig)?;
    let l4 = &orig[l4_at..];
    if l4.len() < 8 {
        return Err(WireError::Truncated);
    }
    Ok(Icmpv6Repr::PacketTooBig {
        mtu: be32(b, 4),
        orig_src: addr(8),
        orig_dst: addr(24),
        orig_protocol: proto,
        orig_src_port: be16(l4, 0),
        orig_dst_port: be16(l4, 2),
        orig_seq: be32(l4, 4),
    })
}

/// The upper layer of a quoted (possibly cut) IPv6 packet: its payload length is ignored
/// and the walk is bounded by the quoted bytes.
fn quoted_upper(orig: &[u8]) -> Result<(usize, u8), WireError> {
    let mut at = ipv6::HEADER_LEN;
    let mut nh = orig[6];
    for _ in 0..ipv6::MAX_EXT_HEADERS {
        let len = match nh {
            ipv6::NH_HOP_BY_HOP | ipv6::NH_DEST_OPTS | ipv6::NH_ROUTING => {
                if at + 2 > orig.len() {
                    return Err(WireError::Truncated);
                }
                (orig[at + 1] as usize + 1) * 8
            }
            ipv6::NH_FRAGMENT => 8,
            _ => return Ok((at, nh)),
        };
        if at + len > orig.len() {
            return Err(WireError::Truncated);
        }
        nh = orig[at];
        at += len;
    }
    Err(WireError::ExtHeader)
}

/// RFC 4861 7.1.1 (solicitation) and 7.1.2 (advertisement): the checks a node MUST make.
fn ndp(b: &[u8], ip: &IpInfo) -> Result<NdpRepr, WireError> {
    if ip.hop_limit != NDP_HOP_LIMIT || b[1] != 0 {
        return Err(WireError::BadNdp);
    }
    if b.len() < NDP_LEN {
        return Err(WireError::Truncated);
    }
    let mut t = [0u8; 16];
    t.copy_from_slice(&b[8..24]);
    let target = Ipv6Addr::from(t);
    if target.is_multicast() {
        return Err(WireError::BadNdp);
    }
    let (source_lladdr, target_lladdr) = lladdr_options(&b[NDP_LEN..])?;
    if b[0] == TYPE_NEIGHBOR_SOLICIT {
        // From the unspecified address (duplicate address detection): to a solicited-node
        // multicast address, and without a source link-layer address option.
        if ip.src.is_unspecified()
            && (ip.dst != ipv6::solicited_node(target) || source_lladdr.is_some())
        {
            return Err(WireError::BadNdp);
        }
        return Ok(NdpRepr::NeighborSolicit {
            target,
            source_lladdr,
        });
    }
    let flags = be32(b, 4);
    let solicited = flags & NA_SOLICITED != 0;
    // To a multicast address, the solicited flag is zero.
    if ip.dst.is_multicast() && solicited {
        return Err(WireError::BadNdp);
    }
    Ok(NdpRepr::NeighborAdvert {
        router: flags & NA_ROUTER != 0,
        solicited,
        override_: flags & NA_OVERRIDE != 0,
        target,
        target_lladdr,
    })
}

/// RFC 4861 4.6: options are (type, length in 8-byte units, data); length 0 is invalid.
/// Returns the Ethernet source and target link-layer address options, others skipped.
#[allow(clippy::type_complexity)]
fn lladdr_options(mut b: &[u8]) -> Result<(Option<MacAddr>, Option<MacAddr>), WireError> {
    let (mut source, mut target) = (None, None);
    while !b.is_empty() {
        if b.len() < 2 {
            return Err(WireError::BadNdp);
        }
        let len = b[1] as usize * 8;
        if len == 0 || len > b.len() {
            return Err(WireError::BadNdp);
        }
        if len >= LLADDR_OPT_LEN {
            let mac: MacAddr = [b[2], b[3], b[4], b[5], b[6], b[7]];
            match b[0] {
                OPT_SOURCE_LLADDR => source = Some(mac),
                OPT_TARGET_LLADDR => target = Some(mac),
                _ => {}
            }
        }
        b = &b[len..];
    }
    Ok((source, target))
}

/// Computes and writes the checksum of ICMPv6 message `m` (its field zeroed first) for a
/// packet from `src` to `dst`.
pub fn write_checksum(m: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    m[2..4].copy_from_slice(&[0, 0]);
    let pseudo = checksum::pseudo_header_v6(src, dst, NH_ICMPV6, m.len() as u32);
    let c = checksum::checksum(m, pseudo);
    m[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Turns an echo request (the ICMPv6 message, in place) into its reply from `src` to
/// `dst`: type 128 -> 129, the code, identifier, sequence and data echoed (RFC 4443 4.2),
/// the checksum recomputed (the reply's source may differ from the request's destination).
pub fn echo_request_to_reply(
    msg: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
) -> Result<(), WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if msg[0] != TYPE_ECHO_REQUEST {
        return Err(WireError::Unsupported);
    }
    msg[0] = TYPE_ECHO_REPLY;
    write_checksum(msg, src, dst);
    Ok(())
}

#[cfg(test)]
mod tests;

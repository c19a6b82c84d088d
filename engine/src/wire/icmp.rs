//! ICMPv4 (RFC 792): echo, and "destination unreachable / fragmentation needed" (RFC 1191)
//! for path MTU discovery.

use std::net::Ipv4Addr;

use super::checksum;
use super::{be16, be32, WireError};

/// ICMP type: echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// ICMP type: destination unreachable.
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
/// ICMP type: echo request.
pub const TYPE_ECHO_REQUEST: u8 = 8;
/// Destination-unreachable code: protocol unreachable (RFC 792).
pub const CODE_PROTO_UNREACHABLE: u8 = 2;
/// Destination-unreachable code: port unreachable (RFC 792).
pub const CODE_PORT_UNREACHABLE: u8 = 3;
/// Destination-unreachable code: fragmentation needed and DF set (RFC 1191).
pub const CODE_FRAG_NEEDED: u8 = 4;
/// Most bytes of an offending datagram an ICMP error quotes: the error stays within
/// 576 bytes (RFC 1812 4.3.2.3; Linux's `icmp_send`: 576 less the IPv4 and ICMP headers).
pub const ERROR_QUOTE_MAX: usize = 576 - 20 - HEADER_LEN;
/// Bytes of the ICMP header (type, code, checksum, four more).
pub const HEADER_LEN: usize = 8;

/// What an ICMP message means to the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IcmpRepr {
    /// A ping (RFC 792).
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
    /// RFC 1191: a router needs the packet smaller. Carries the start of the packet we
    /// sent, enough to find its TCP connection.
    FragNeeded {
        /// The next-hop MTU the router reports.
        mtu: u16,
        /// Source address of the packet that was too big (ours).
        orig_src: Ipv4Addr,
        /// Destination address of the packet that was too big.
        orig_dst: Ipv4Addr,
        /// IP protocol of the packet that was too big.
        orig_protocol: u8,
        /// Its source port (TCP).
        orig_src_port: u16,
        /// Its destination port (TCP).
        orig_dst_port: u16,
        /// Its sequence number (TCP).
        orig_seq: u32,
    },
    /// Any other message, by type and code.
    Other {
        /// The ICMP type.
        kind: u8,
        /// The ICMP code.
        code: u8,
    },
}

impl IcmpRepr {
    /// Parses an ICMP message (the IPv4 payload), verifying its checksum.
    pub fn parse(b: &[u8]) -> Result<IcmpRepr, WireError> {
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if checksum::sum(b) != 0xffff {
            return Err(WireError::BadChecksum);
        }
        let (kind, code) = (b[0], b[1]);
        Ok(match (kind, code) {
            // Any code: RFC 792 has only 0, but hosts answer others too, echoing the
            // code (Linux does; nmap's IE probe sends code 9).
            (TYPE_ECHO_REQUEST, _) => IcmpRepr::EchoRequest {
                ident: be16(b, 4),
                seq: be16(b, 6),
            },
            (TYPE_ECHO_REPLY, _) => IcmpRepr::EchoReply {
                ident: be16(b, 4),
                seq: be16(b, 6),
            },
            (TYPE_DEST_UNREACHABLE, CODE_FRAG_NEEDED) => {
                // The original IPv4 header and at least 8 bytes of its payload follow.
                let orig = &b[HEADER_LEN..];
                if orig.len() < 20 {
                    return Err(WireError::Truncated);
                }
                let hl = ((orig[0] & 0x0f) as usize) * 4;
                if orig[0] >> 4 != 4 || hl < 20 {
                    return Err(WireError::BadHeaderLen);
                }
                if orig.len() < hl + 8 {
                    return Err(WireError::Truncated);
                }
                let l4 = &orig[hl..];
                IcmpRepr::FragNeeded {
                    mtu: be16(b, 6),
                    orig_src: Ipv4Addr::from(be32(orig, 12)),
                    orig_dst: Ipv4Addr::from(be32(orig, 16)),
                    orig_protocol: orig[9],
                    orig_src_port: be16(l4, 0),
                    orig_dst_port: be16(l4, 2),
                    orig_seq: be32(l4, 4),
                }
            }
            _ => IcmpRepr::Other { kind, code },
        })
    }
}

/// Turns an echo request (the ICMP message, in place) into its reply: type 8 -> 0, and
/// the checksum patched per RFC 1624 rather than recomputed over the data.
pub fn echo_request_to_reply(msg: &mut [u8]) -> Result<(), WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if msg[0] != TYPE_ECHO_REQUEST {
        return Err(WireError::Unsupported);
    }
    let old = be16(msg, 0);
    msg[0] = TYPE_ECHO_REPLY;
    let new = be16(msg, 0);
    let c = checksum::update(be16(msg, 2), old, new);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Writes an ICMP destination unreachable with `code` at the start of `msg`, quoting the
/// `quoted` bytes that already follow its 8-byte header; returns the message's length.
pub fn emit_unreachable(msg: &mut [u8], code: u8, quoted: usize) -> usize {
    let len = HEADER_LEN + quoted;
    msg[..HEADER_LEN].copy_from_slice(&[TYPE_DEST_UNREACHABLE, code, 0, 0, 0, 0, 0, 0]);
    let c = checksum::checksum(&msg[..len], 0);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(kind: u8, data: &[u8]) -> Vec<u8> {
        let mut b = vec![kind, 0, 0, 0, 0x12, 0x34, 0, 9];
        b.extend_from_slice(data);
        let c = checksum::checksum(&b, 0);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn echo_reply_in_place_has_a_valid_checksum() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut m = echo(TYPE_ECHO_REQUEST, &data);
        assert_eq!(
            IcmpRepr::parse(&m),
            Ok(IcmpRepr::EchoRequest {
                ident: 0x1234,
                seq: 9
            })
        );
        echo_request_to_reply(&mut m).unwrap();
        assert_eq!(
            IcmpRepr::parse(&m),
            Ok(IcmpRepr::EchoReply {
                ident: 0x1234,
                seq: 9
            })
        );
        assert_eq!(m, echo(TYPE_ECHO_REPLY, &data));
    }

    #[test]
    fn bad_checksum_truncation_and_frag_needed() {
        let mut m = echo(TYPE_ECHO_REQUEST, b"x");
        m[8] ^= 1;
        assert_eq!(IcmpRepr::parse(&m), Err(WireError::BadChecksum));
        for len in 0..HEADER_LEN {
            assert_eq!(IcmpRepr::parse(&m[..len]), Err(WireError::Truncated));
        }
        // Frag needed quoting a TCP segment 10.0.0.2:80 -> 10.0.0.1:40000, MTU 1400.
        let mut b = vec![3, 4, 0, 0, 0, 0, 0x05, 0x78];
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        ip.extend_from_slice(&[0, 80, 0x9c, 0x40, 0, 0, 0, 7]);
        b.extend_from_slice(&ip);
        let c = checksum::checksum(&b, 0);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            IcmpRepr::parse(&b),
            Ok(IcmpRepr::FragNeeded {
                mtu: 1400,
                orig_src: Ipv4Addr::new(10, 0, 0, 2),
                orig_dst: Ipv4Addr::new(10, 0, 0, 1),
                orig_protocol: 6,
                orig_src_port: 80,
                orig_dst_port: 40000,
                orig_seq: 7,
            })
        );
    }
}

//! IPv4 (RFC 791). Options are skipped by IHL; fragments are reported, not reassembled.

use std::net::Ipv4Addr;

use super::checksum;
use super::{be16, WireError};

mod field {
    pub const VER_IHL: usize = 0;
    /// DSCP (6 bits) and ECN (2 bits).
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Bytes of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET: u16 = 0x1fff;

/// A checked IPv4 packet: version 4, sane IHL and total length, valid header checksum, not a
/// fragment. `payload()` is bounded by the total length (Ethernet padding excluded).
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version, header length, total length and header checksum, and refuses fragments.
    pub fn new_checked(buf: T) -> Result<Packet<T>, WireError> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = ((b[field::VER_IHL] & 0x0f) as usize) * 4;
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(WireError::BadHeaderLen);
        }
        let total = be16(b, field::TOTAL_LEN) as usize;
        if total < hl || total > b.len() {
            return Err(WireError::BadTotalLen);
        }
        if checksum::sum(&b[..hl]) != 0xffff {
            return Err(WireError::BadChecksum);
        }
        if be16(b, field::FLAGS_FRAG) & (FLAG_MF | FRAG_OFFSET) != 0 {
            return Err(WireError::Fragment);
        }
        Ok(Packet { buf })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// Bytes of the header, options included.
    pub fn header_len(&self) -> usize {
        ((self.b()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    /// The total length field: header plus payload.
    pub fn total_len(&self) -> usize {
        be16(self.b(), field::TOTAL_LEN) as usize
    }

    /// The source address.
    pub fn src(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(
            b[field::SRC],
            b[field::SRC + 1],
            b[field::SRC + 2],
            b[field::SRC + 3],
        )
    }

    /// The destination address.
    pub fn dst(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(
            b[field::DST],
            b[field::DST + 1],
            b[field::DST + 2],
            b[field::DST + 3],
        )
    }

    /// The protocol of the payload (`PROTO_TCP`, `PROTO_ICMP`, ...).
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    /// The time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        be16(self.b(), field::IDENT)
    }

    /// The whole type-of-service byte: DSCP and ECN (RFC 2474, 3168).
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }

    /// The ECN field (RFC 3168 5): `ECN_NOT_ECT`, `ECN_ECT1`, `ECN_ECT0` or `ECN_CE`.
    pub fn ecn(&self) -> u8 {
        self.b()[field::TOS] & 0x3
    }

    /// Whether the don't-fragment flag is set.
    pub fn dont_frag(&self) -> bool {
        be16(self.b(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// The payload, bounded by the total length.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len()]
    }
}

/// The fields the engine sets when it writes an IPv4 header (no options).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Identification field.
    pub ident: u16,
    /// Bytes of payload after the header.
    pub payload_len: usize,
    /// The ECN field (RFC 3168 5); the DSCP is always 0.
    pub ecn: u8,
}

/// RFC 3168 5: the ECN field's codepoints.
pub const ECN_NOT_ECT: u8 = 0b00;
/// ECN-capable transport (1).
pub const ECN_ECT1: u8 = 0b01;
/// ECN-capable transport (0).
pub const ECN_ECT0: u8 = 0b10;
/// Congestion experienced.
pub const ECN_CE: u8 = 0b11;

impl Ipv4Repr {
    /// Writes a 20-byte header with DF set and its checksum at the start of `b`.
    pub fn emit(&self, b: &mut [u8]) {
        let total = (MIN_HEADER_LEN + self.payload_len) as u16;
        b[field::VER_IHL] = 0x45;
        b[field::TOS] = self.ecn & 0x3; // DSCP 0, ECN
        b[field::TOTAL_LEN..field::TOTAL_LEN + 2].copy_from_slice(&total.to_be_bytes());
        b[field::IDENT..field::IDENT + 2].copy_from_slice(&self.ident.to_be_bytes());
        b[field::FLAGS_FRAG..field::FLAGS_FRAG + 2].copy_from_slice(&FLAG_DF.to_be_bytes());
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&[0, 0]);
        b[field::SRC..field::SRC + 4].copy_from_slice(&self.src.octets());
        b[field::DST..field::DST + 4].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(&b[..MIN_HEADER_LEN], 0);
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet() -> Vec<u8> {
        let mut b = vec![0u8; 28];
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: PROTO_TCP,
            ttl: 64,
            ident: 7,
            payload_len: 8,
            ecn: 0,
        }
        .emit(&mut b);
        b
    }

    #[test]
    fn emit_parses_and_matches_etherparse() {
        let b = packet();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.src(), p.dst(), p.protocol(), p.ttl()),
            (
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
                6,
                64
            )
        );
        assert_eq!(p.payload().len(), 8);
        assert!(p.dont_frag());
        let (h, _) = etherparse::Ipv4Header::from_slice(&b).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
    }

    #[test]
    fn every_malformation_has_its_reason() {
        let good = packet();
        for len in 0..20 {
            assert_eq!(
                Packet::new_checked(&good[..len]).err(),
                Some(WireError::Truncated)
            );
        }
        let mut b = good.clone();
        b[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadVersion)
        );
        let mut b = good.clone();
        b[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
        let mut b = good.clone();
        b[0] = 0x48; // 32-byte header in a 28-byte buffer
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
        let mut b = good.clone();
        b[3] = 200;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadTotalLen)
        );
        let mut b = good.clone();
        b[8] = 63;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadChecksum)
        );
        // A fragment with a valid checksum.
        let mut b = good.clone();
        b[6] = 0x20;
        b[10] = 0;
        b[11] = 0;
        let c = checksum::checksum(&b[..20], 0);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(WireError::Fragment));
        // Trailing Ethernet padding is not payload.
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 18]);
        assert_eq!(Packet::new_checked(&padded[..]).unwrap().payload().len(), 8);
    }
}

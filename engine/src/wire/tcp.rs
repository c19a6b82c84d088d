//! TCP header representation shared by the wire parser and the sans-IO TCP stack.
//!
//! `TcpRepr` is the parsed, validated form of a TCP header (RFC 9293 §3.1) with its options
//! (RFC 9293 §3.2 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK). The TCP state
//! machine consumes and produces only `TcpRepr` plus a payload slice; the byte-level view
//! that parses and emits it lives beside it in this module.

use super::seq::SeqNum;

/// TCP control flags (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// No more data from the sender.
    pub const FIN: Flags = Flags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x02);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// Push.
    pub const PSH: Flags = Flags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x10);
    /// The urgent pointer is significant.
    pub const URG: Flags = Flags(0x20);
    /// ECN echo (RFC 3168).
    pub const ECE: Flags = Flags(0x40);
    /// Congestion window reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x80);
    /// No flag.
    pub const NONE: Flags = Flags(0);

    /// Every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Some flag of `other` is set.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }
    /// The flag byte as on the wire.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }
    /// FIN is set.
    pub fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.contains(Flags::RST)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [(Flags, &str); 8] = [
            (Flags::SYN, "S"),
            (Flags::FIN, "F"),
            (Flags::RST, "R"),
            (Flags::PSH, "P"),
            (Flags::ACK, "."),
            (Flags::URG, "U"),
            (Flags::ECE, "E"),
            (Flags::CWR, "W"),
        ];
        for (flag, name) in NAMES {
            if self.contains(flag) {
                f.write_str(name)?;
            }
        }
        Ok(())
    }
}

/// At most four SACK blocks fit in 40 option bytes (three with timestamps). RFC 2018 §3.
pub const MAX_SACK_BLOCKS: usize = 4;

/// Option bytes a TCP header can carry (data offset 15 words, less the fixed 20 bytes).
pub const MAX_OPTIONS_LEN: usize = 40;

/// A SACK block: `[left, right)` in sequence space.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNum,
    /// One past the last sequence number of the block.
    pub right: SeqNum,
}

/// The options a real peer sends, parsed. Unknown options are skipped by length.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// RFC 9293 §3.7.1, only meaningful on SYN.
    pub mss: Option<u16>,
    /// RFC 7323 §2: shift count, only meaningful on SYN (values over 14 are clamped to 14).
    pub window_scale: Option<u8>,
    /// RFC 2018 §2, only meaningful on SYN.
    pub sack_permitted: bool,
    /// RFC 7323 §3: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// RFC 2018 §3: up to four blocks; `sack_len` says how many are valid.
    pub sack: [SackBlock; MAX_SACK_BLOCKS],
    /// How many of `sack` are valid.
    pub sack_len: u8,
}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sack_blocks(&self) -> &[SackBlock] {
        &self.sack[..(self.sack_len as usize).min(MAX_SACK_BLOCKS)]
    }

    /// Bytes these options take on the wire as `emit` lays them out (a multiple of 4): at
    /// most 40, e.g. timestamps plus three SACK blocks.
    pub fn encoded_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamps.is_some() {
            n += 12; // SACKOK or NOP NOP, then TS
        } else if self.sack_permitted {
            n += 4; // NOP NOP SACKOK
        }
        if self.window_scale.is_some() {
            n += 4; // NOP WS
        }
        let blocks = self.emitted_sack_blocks(n);
        if blocks > 0 {
            n += 4 + 8 * blocks; // NOP NOP SACK
        }
        n
    }

    /// How many SACK blocks `emit` writes after `before` bytes of other options: all of
    /// them if they fit in the 40 option bytes, else as many as fit (RFC 2018 3: the
    /// first block must be the most recent, so the tail is what is dropped).
    fn emitted_sack_blocks(&self, before: usize) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(before + 4) / 8;
        self.sack_blocks().len().min(room)
    }
}

/// A parsed TCP header (without payload). Ports are host order.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first byte (or of the SYN or FIN).
    pub seq: SeqNum,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: SeqNum,
    /// Control flags.
    pub flags: Flags,
    /// The raw 16-bit window field (unscaled).
    pub window: u16,
    /// Urgent pointer (read, never acted on).
    pub urgent: u16,
    /// The options.
    pub options: TcpOptions,
    /// The IP header's ECN field this segment travels with (RFC 3168 5, `ipv4::ECN_*`):
    /// filled from the IP header on receive, written into it on send. Not a TCP header
    /// field: parsing leaves it 0 (Not-ECT).
    pub ecn: u8,
}

impl TcpRepr {
    /// Header length on the wire: 20 bytes plus padded options (at most 60).
    pub fn header_len(&self) -> usize {
        20 + self.options.encoded_len()
    }

    /// Sequence space this segment occupies: payload plus one for SYN and one for FIN.
    pub fn seq_len(&self, payload_len: usize) -> u32 {
        payload_len as u32 + self.flags.syn() as u32 + self.flags.fin() as u32
    }
}

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
    pub const OPTIONS: usize = 20;
}

/// TCP option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018).
mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Bytes of a TCP header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// RFC 7323 §2.3: a shift count above 14 is treated as 14.
pub const MAX_WINDOW_SCALE: u8 = 14;

use super::checksum;
use super::ipv4::PROTO_TCP;
use super::{be16, be32, WireError};
use std::net::{Ipv4Addr, Ipv6Addr};

impl TcpOptions {
    /// Parses the options area (RFC 9293 §3.2). Unknown kinds are skipped by their length;
    /// a length below 2 or past the area is `BadOption`. Options with a wrong fixed length
    /// are ignored, as Linux does.
    pub fn parse(mut b: &[u8]) -> Result<TcpOptions, WireError> {
        let mut o = TcpOptions::default();
        while let Some(&k) = b.first() {
            match k {
                kind::EOL => break,
                kind::NOP => {
                    b = &b[1..];
                    continue;
                }
                _ => {}
            }
            let len = *b.get(1).ok_or(WireError::BadOption)? as usize;
            if len < 2 || len > b.len() {
                return Err(WireError::BadOption);
            }
            let body = &b[2..len];
            match (k, len) {
                (kind::MSS, 4) => o.mss = Some(be16(body, 0)),
                (kind::WINDOW_SCALE, 3) => o.window_scale = Some(body[0].min(MAX_WINDOW_SCALE)),
                (kind::SACK_PERMITTED, 2) => o.sack_permitted = true,
                (kind::TIMESTAMPS, 10) => o.timestamps = Some((be32(body, 0), be32(body, 4))),
                (kind::SACK, _) if (len - 2).is_multiple_of(8) && len > 2 => {
                    let n = ((len - 2) / 8).min(MAX_SACK_BLOCKS);
                    for i in 0..n {
                        o.sack[i] = SackBlock {
                            left: SeqNum(be32(body, 8 * i)),
                            right: SeqNum(be32(body, 8 * i + 4)),
                        };
                    }
                    o.sack_len = n as u8;
                }
                _ => {}
            }
            b = &b[len..];
        }
        Ok(o)
    }

    /// Writes the options (padded with NOPs to `encoded_len()`) into `b`; Linux's order:
    /// MSS, SACK-permitted + timestamps packed as NOP NOP TS or SACKOK TS, window scale.
    pub fn emit(&self, b: &mut [u8]) -> usize {
        let mut at = 0;
        let mut put = |bytes: &[u8], at: &mut usize| {
            b[*at..*at + bytes.len()].copy_from_slice(bytes);
            *at += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[kind::MSS, 4, m[0], m[1]], &mut at);
        }
        if let Some((val, ecr)) = self.timestamps {
            if self.sack_permitted {
                put(&[kind::SACK_PERMITTED, 2], &mut at);
            } else {
                put(&[kind::NOP, kind::NOP], &mut at);
            }
            put(&[kind::TIMESTAMPS, 10], &mut at);
            put(&val.to_be_bytes(), &mut at);
            put(&ecr.to_be_bytes(), &mut at);
        } else if self.sack_permitted {
            put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2], &mut at);
        }
        if let Some(ws) = self.window_scale {
            put(&[kind::NOP, kind::WINDOW_SCALE, 3, ws], &mut at);
        }
        let blocks = &self.sack_blocks()[..self.emitted_sack_blocks(at)];
        if !blocks.is_empty() {
            put(
                &[
                    kind::NOP,
                    kind::NOP,
                    kind::SACK,
                    (2 + 8 * blocks.len()) as u8,
                ],
                &mut at,
            );
            for blk in blocks {
                put(&blk.left.0.to_be_bytes(), &mut at);
                put(&blk.right.0.to_be_bytes(), &mut at);
            }
        }
        while !at.is_multiple_of(4) {
            put(&[kind::NOP], &mut at);
        }
        at
    }
}

/// A checked TCP segment: header and options fit, checksum verified.
#[derive(Debug)]
pub struct TcpPacket<'a> {
    /// The parsed header.
    pub repr: TcpRepr,
    /// The payload, borrowed from the frame.
    pub payload: &'a [u8],
}

impl<'a> TcpPacket<'a> {
    /// Parses a segment (the IPv4 payload) sent from `src` to `dst`, verifying the checksum.
    pub fn parse(b: &'a [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<TcpPacket<'a>, WireError> {
        let len = u16::try_from(b.len()).map_err(|_| WireError::BadTotalLen)?;
        Self::parse_with(b, checksum::pseudo_header(src, dst, PROTO_TCP, len))
    }

    /// Parses a segment (the IPv6 upper-layer bytes) sent from `src` to `dst`, verifying
    /// the checksum over the IPv6 pseudo-header (RFC 8200 8.1).
    pub fn parse_v6(b: &'a [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<TcpPacket<'a>, WireError> {
        let len = u32::try_from(b.len()).map_err(|_| WireError::BadTotalLen)?;
        Self::parse_with(b, checksum::pseudo_header_v6(src, dst, PROTO_TCP, len))
    }

    /// Parses a segment whose pseudo-header sums to `pseudo`.
    #[inline]
    fn parse_with(b: &'a [u8], pseudo: u16) -> Result<TcpPacket<'a>, WireError> {
        if b.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = ((b[field::DATA_OFF] >> 4) as usize) * 4;
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(WireError::BadDataOffset);
        }
        if checksum::combine(&[checksum::sum(b), pseudo]) != 0xffff {
            return Err(WireError::BadChecksum);
        }
        let options = TcpOptions::parse(&b[field::OPTIONS..hl])?;
        Ok(TcpPacket {
            repr: TcpRepr {
                src_port: be16(b, field::SRC_PORT),
                dst_port: be16(b, field::DST_PORT),
                seq: SeqNum(be32(b, field::SEQ)),
                ack: SeqNum(be32(b, field::ACK)),
                flags: Flags(b[field::FLAGS]),
                window: be16(b, field::WINDOW),
                urgent: be16(b, field::URGENT),
                options,
                ecn: 0,
            },
            payload: &b[hl..],
        })
    }
}

impl TcpRepr {
    /// Writes the header in front of a payload already at `b[header_len()..][..payload_len]`,
    /// with the checksum over both. Returns the segment length.
    pub fn emit(&self, b: &mut [u8], payload_len: usize, src: Ipv4Addr, dst: Ipv4Addr) -> usize {
        let total = self.header_len() + payload_len;
        let pseudo = checksum::pseudo_header(src, dst, PROTO_TCP, total as u16);
        self.emit_with(b, payload_len, pseudo)
    }

    /// As [`TcpRepr::emit`], with the checksum over the IPv6 pseudo-header (RFC 8200 8.1).
    pub fn emit_v6(&self, b: &mut [u8], payload_len: usize, src: Ipv6Addr, dst: Ipv6Addr) -> usize {
        let total = self.header_len() + payload_len;
        let pseudo = checksum::pseudo_header_v6(src, dst, PROTO_TCP, total as u32);
        self.emit_with(b, payload_len, pseudo)
    }

    /// Writes header and checksum given the pseudo-header's sum.
    #[inline]
    fn emit_with(&self, b: &mut [u8], payload_len: usize, pseudo: u16) -> usize {
        let hl = self.header_len();
        b[field::SRC_PORT..field::SRC_PORT + 2].copy_from_slice(&self.src_port.to_be_bytes());
        b[field::DST_PORT..field::DST_PORT + 2].copy_from_slice(&self.dst_port.to_be_bytes());
        b[field::SEQ..field::SEQ + 4].copy_from_slice(&self.seq.0.to_be_bytes());
        b[field::ACK..field::ACK + 4].copy_from_slice(&self.ack.0.to_be_bytes());
        b[field::DATA_OFF] = ((hl / 4) as u8) << 4;
        b[field::FLAGS] = self.flags.0;
        b[field::WINDOW..field::WINDOW + 2].copy_from_slice(&self.window.to_be_bytes());
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&[0, 0]);
        b[field::URGENT..field::URGENT + 2].copy_from_slice(&self.urgent.to_be_bytes());
        let written = self.options.emit(&mut b[field::OPTIONS..hl]);
        debug_assert_eq!(MIN_HEADER_LEN + written, hl);
        let total = hl + payload_len;
        let c = checksum::checksum(&b[..total], pseudo);
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
        total
    }

    /// RFC 9293 §3.10.7.1: the reset for a segment that matches no connection, or `None`
    /// for a segment that is itself a reset. If the segment has ACK the reset takes its
    /// sequence number from SEG.ACK; otherwise it has sequence 0 and acknowledges
    /// SEG.SEQ + SEG.LEN.
    pub fn rst_reply(&self, payload_len: usize) -> Option<TcpRepr> {
        if self.flags.rst() {
            return None;
        }
        let mut r = TcpRepr {
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..TcpRepr::default()
        };
        if self.flags.ack() {
            r.seq = self.ack;
            r.flags = Flags::RST;
        } else {
            r.seq = SeqNum(0);
            r.ack = self.seq + self.seq_len(payload_len);
            r.flags = Flags::RST | Flags::ACK;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn syn() -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1000),
            flags: Flags::SYN,
            window: 64240,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((12345, 0)),
                ..TcpOptions::default()
            },
            ..TcpRepr::default()
        }
    }

    #[test]
    fn round_trip_with_options_and_payload_checked_by_etherparse() {
        let mut r = syn();
        r.flags = Flags::ACK | Flags::PSH;
        r.options.sack[0] = SackBlock {
            left: SeqNum(5),
            right: SeqNum(9),
        };
        r.options.sack_len = 1;
        let mut b = [0u8; 200];
        let hl = r.header_len();
        b[hl..hl + 5].copy_from_slice(b"hello");
        let n = r.emit(&mut b, 5, A, B);
        let p = TcpPacket::parse(&b[..n], A, B).unwrap();
        assert_eq!(p.repr, r);
        assert_eq!(p.payload, b"hello");
        let (h, rest) = etherparse::TcpHeader::from_slice(&b[..n]).unwrap();
        let ip = etherparse::Ipv4Header::new(
            n as u16,
            64,
            etherparse::IpNumber::TCP,
            A.octets(),
            B.octets(),
        )
        .unwrap();
        assert_eq!(h.checksum, h.calc_checksum_ipv4(&ip, rest).unwrap());
        // Wrong pseudo-header (other addresses) fails the checksum.
        assert_eq!(
            TcpPacket::parse(&b[..n], A, A).err(),
            Some(WireError::BadChecksum)
        );
    }

    #[test]
    fn encoded_len_matches_emit_for_every_combination() {
        for bits in 0..32u32 {
            for blocks in 0..=4u8 {
                let o = TcpOptions {
                    mss: (bits & 1 != 0).then_some(1460),
                    window_scale: (bits & 2 != 0).then_some(7),
                    sack_permitted: bits & 4 != 0,
                    timestamps: (bits & 8 != 0).then_some((1, 2)),
                    sack: [SackBlock {
                        left: SeqNum(1),
                        right: SeqNum(2),
                    }; MAX_SACK_BLOCKS],
                    sack_len: blocks,
                };
                // Whatever is asked for, the options fit in 40 bytes: SACK blocks that
                // do not fit are left off from the tail (found by the tcp_options fuzzer).
                assert!(o.encoded_len() <= 40, "{o:?}");
                let mut b = [0u8; 40];
                assert_eq!(o.emit(&mut b), o.encoded_len(), "{o:?}");
                let p = TcpOptions::parse(&b[..o.encoded_len()]).unwrap();
                let kept = p.sack_blocks().len();
                assert_eq!(p.sack_blocks(), &o.sack_blocks()[..kept]);
                assert!(kept == o.sack_blocks().len() || o.encoded_len() + 8 > 40);
                assert_eq!(
                    (p.mss, p.window_scale, p.sack_permitted, p.timestamps),
                    (o.mss, o.window_scale, o.sack_permitted, o.timestamps)
                );
            }
        }
    }

    #[test]
    fn malformed_headers_and_options() {
        let r = syn();
        let mut b = [0u8; 64];
        let n = r.emit(&mut b, 0, A, B);
        for len in 0..MIN_HEADER_LEN {
            assert_eq!(
                TcpPacket::parse(&b[..len], A, B).err(),
                Some(WireError::Truncated)
            );
        }
        let mut bad = b;
        bad[12] = 0x40;
        assert_eq!(
            TcpPacket::parse(&bad[..n], A, B).err(),
            Some(WireError::BadDataOffset)
        );
        bad[12] = 0xf0;
        assert_eq!(
            TcpPacket::parse(&bad[..n], A, B).err(),
            Some(WireError::BadDataOffset)
        );
        assert_eq!(TcpOptions::parse(&[2, 1, 0, 0]), Err(WireError::BadOption));
        assert_eq!(TcpOptions::parse(&[2, 9, 0, 0]), Err(WireError::BadOption));
        assert_eq!(TcpOptions::parse(&[2]), Err(WireError::BadOption));
        // Unknown option skipped by length; EOL ends parsing; wscale clamped to 14.
        let o = TcpOptions::parse(&[30, 4, 9, 9, 3, 3, 20, 0, 2, 4, 0, 0]).unwrap();
        assert_eq!((o.window_scale, o.mss), (Some(14), None));
    }

    #[test]
    fn rst_replies_follow_rfc9293() {
        let s = syn();
        let r = s.rst_reply(0).unwrap();
        assert_eq!(
            (r.seq, r.ack, r.flags),
            (SeqNum(0), SeqNum(1001), Flags::RST | Flags::ACK)
        );
        assert_eq!((r.src_port, r.dst_port), (80, 40000));
        let mut a = s;
        a.flags = Flags::ACK;
        a.ack = SeqNum(777);
        let r = a.rst_reply(10).unwrap();
        assert_eq!((r.seq, r.flags), (SeqNum(777), Flags::RST));
        a.flags = Flags::RST;
        assert_eq!(a.rst_reply(0), None);
    }
}

//! TCP header representation shared by the wire parser and the sans-IO TCP stack.
//!
//! `TcpRepr` is the parsed, validated form of a TCP header (RFC 9293 §3.1) with its options
//! (RFC 9293 §3.2 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK). The TCP state
//! machine consumes and produces only `TcpRepr` plus a payload slice; the byte-level view
//! that parses and emits it lives beside it in this module.

use crate::tcp::SeqNum;

/// TCP control flags (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const FIN: Flags = Flags(0x01);
    pub const SYN: Flags = Flags(0x02);
    pub const RST: Flags = Flags(0x04);
    pub const PSH: Flags = Flags(0x08);
    pub const ACK: Flags = Flags(0x10);
    pub const URG: Flags = Flags(0x20);
    pub const ECE: Flags = Flags(0x40);
    pub const CWR: Flags = Flags(0x80);
    pub const NONE: Flags = Flags(0);

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }
    pub const fn bits(self) -> u8 {
        self.0
    }
    pub fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    pub fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }
    pub fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
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

/// A SACK block: `[left, right)` in sequence space.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SackBlock {
    pub left: SeqNum,
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
    pub sack_len: u8,
}

impl TcpOptions {
    pub fn sack_blocks(&self) -> &[SackBlock] {
        &self.sack[..(self.sack_len as usize).min(MAX_SACK_BLOCKS)]
    }

    /// Bytes these options take on the wire, padded to a multiple of 4.
    pub fn encoded_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 3;
        }
        if self.sack_permitted {
            n += 2;
        }
        if self.timestamps.is_some() {
            n += 10;
        }
        if self.sack_len > 0 {
            n += 2 + 8 * self.sack_blocks().len();
        }
        (n + 3) & !3
    }
}

/// A parsed TCP header (without payload). Ports are host order.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: Flags,
    /// The raw 16-bit window field (unscaled).
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
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

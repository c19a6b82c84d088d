//! Checked views over untrusted bytes (see STYLE.md item 1): `X::new_checked(buf)` validates
//! lengths once, after which no accessor can panic. A malformed frame yields a small `Copy`
//! error that the caller counts; nothing here logs or panics.
//!
//! IPv4 and IPv6 fragments are not reassembled: `ipv4` reports them as `WireError::Fragment` and the
//! engine counts and drops them. The TCP MSS the engine announces keeps its own segments
//! under the path MTU, and Linux peers set DF, so fragments are rare on this path.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod seq;
pub mod tcp;

/// A byte range inside a header.
pub type Field = core::ops::Range<usize>;

/// Why a frame was not parsed. Small and `Copy`, counted by the caller per reason.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Shorter than the header (or than the length a header claims).
    Truncated,
    /// IP version is not the one the ethertype says.
    BadVersion,
    /// IPv4 IHL below 5 or past the buffer.
    BadHeaderLen,
    /// IPv4 total length below the header or past the buffer.
    BadTotalLen,
    /// A checksum does not verify.
    BadChecksum,
    /// An IPv4 or IPv6 fragment (not reassembled).
    Fragment,
    /// TCP data offset below 5 or past the segment.
    BadDataOffset,
    /// A TCP option with a bad length.
    BadOption,
    /// An ethertype, ARP hardware/protocol type or IP protocol the engine does not handle.
    Unsupported,
    /// An IPv6 extension header chain a host does not process (RFC 8200 4): longer than
    /// the walk's bound, hop-by-hop not first, a routing header with segments left.
    ExtHeader,
    /// A neighbour discovery message that fails RFC 4861 7.1's validity checks.
    BadNdp,
}

impl WireError {
    /// Every reason, in index order (for counters and reports).
    pub const ALL: [WireError; 11] = [
        WireError::Truncated,
        WireError::BadVersion,
        WireError::BadHeaderLen,
        WireError::BadTotalLen,
        WireError::BadChecksum,
        WireError::Fragment,
        WireError::BadDataOffset,
        WireError::BadOption,
        WireError::Unsupported,
        WireError::ExtHeader,
        WireError::BadNdp,
    ];

    /// Index into a `[u64; WireError::ALL.len()]` of drop counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason's name in reports and counters.
    pub const fn as_str(self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad_version",
            WireError::BadHeaderLen => "bad_header_len",
            WireError::BadTotalLen => "bad_total_len",
            WireError::BadChecksum => "bad_checksum",
            WireError::Fragment => "fragment",
            WireError::BadDataOffset => "bad_data_offset",
            WireError::BadOption => "bad_option",
            WireError::Unsupported => "unsupported",
            WireError::ExtHeader => "ext_header",
            WireError::BadNdp => "bad_ndp",
        }
    }
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

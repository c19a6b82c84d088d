//! Ethernet II with at most one 802.1Q (or 802.1ad) tag.

use super::{be16, Field, WireError};

/// A 48-bit Ethernet address.
pub type MacAddr = [u8; 6];

/// The broadcast address, ff:ff:ff:ff:ff:ff.
pub const BROADCAST: MacAddr = [0xff; 6];

mod field {
    use super::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const VLAN_TCI: usize = 14;
    pub const VLAN_INNER: usize = 16;
}

/// Bytes of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Bytes an 802.1Q or 802.1ad tag adds to the header.
pub const VLAN_TAG_LEN: usize = 4;

/// The ethertypes the engine reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum EtherType {
    /// IPv4.
    Ipv4 = 0x0800,
    /// ARP.
    Arp = 0x0806,
    /// IPv6.
    Ipv6 = 0x86dd,
    /// An 802.1Q VLAN tag.
    Vlan = 0x8100,
    /// An 802.1ad (QinQ) service tag.
    QinQ = 0x88a8,
}

/// A checked Ethernet frame: the header (and tag) fit in the buffer.
#[derive(Debug)]
pub struct Frame<T: AsRef<[u8]>> {
    buf: T,
    /// Offset of the payload: 14, or 18 with a tag.
    payload_at: usize,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks that the header (and its tag, if any) fits in `buf`.
    pub fn new_checked(buf: T) -> Result<Frame<T>, WireError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let outer = be16(b, field::ETHERTYPE);
        let payload_at = if outer == EtherType::Vlan as u16 || outer == EtherType::QinQ as u16 {
            if b.len() < HEADER_LEN + VLAN_TAG_LEN {
                return Err(WireError::Truncated);
            }
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        };
        Ok(Frame { buf, payload_at })
    }

    /// The destination address.
    pub fn dst(&self) -> MacAddr {
        self.buf.as_ref()[field::DST].try_into().unwrap_or_default()
    }

    /// The source address.
    pub fn src(&self) -> MacAddr {
        self.buf.as_ref()[field::SRC].try_into().unwrap_or_default()
    }

    /// The ethertype of the payload (inside the tag, if any).
    pub fn ethertype(&self) -> u16 {
        be16(self.buf.as_ref(), self.payload_at - 2)
    }

    /// The VLAN id of the tag, if tagged.
    pub fn vlan(&self) -> Option<u16> {
        (self.payload_at > HEADER_LEN).then(|| be16(self.buf.as_ref(), field::VLAN_TCI) & 0x0fff)
    }

    /// Bytes of the header: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        self.payload_at
    }

    /// The bytes after the header (and tag).
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.payload_at..]
    }

    /// The buffer the view was made over.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Writes the destination address.
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buf.as_mut()[field::DST].copy_from_slice(&mac);
    }

    /// Writes the source address.
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buf.as_mut()[field::SRC].copy_from_slice(&mac);
    }

    /// The bytes after the header (and tag), writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.payload_at;
        &mut self.buf.as_mut()[at..]
    }
}

/// Writes an Ethernet header (with a tag when `vlan` is set) at the start of `buf`;
/// returns its length. `buf` must hold at least 18 bytes.
pub fn emit(
    buf: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
    vlan: Option<u16>,
    ethertype: EtherType,
) -> usize {
    buf[field::DST].copy_from_slice(&dst);
    buf[field::SRC].copy_from_slice(&src);
    match vlan {
        Some(id) => {
            buf[field::ETHERTYPE..field::ETHERTYPE + 2]
                .copy_from_slice(&(EtherType::Vlan as u16).to_be_bytes());
            buf[field::VLAN_TCI..field::VLAN_TCI + 2].copy_from_slice(&(id & 0x0fff).to_be_bytes());
            buf[field::VLAN_INNER..field::VLAN_INNER + 2]
                .copy_from_slice(&(ethertype as u16).to_be_bytes());
            HEADER_LEN + VLAN_TAG_LEN
        }
        None => {
            buf[field::ETHERTYPE..field::ETHERTYPE + 2]
                .copy_from_slice(&(ethertype as u16).to_be_bytes());
            HEADER_LEN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_tagged_round_trip() {
        let mut b = [0u8; 64];
        let n = emit(&mut b, [1; 6], [2; 6], None, EtherType::Ipv4);
        let f = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(
            (n, f.header_len(), f.ethertype(), f.vlan()),
            (14, 14, 0x0800, None)
        );
        assert_eq!((f.dst(), f.src()), ([1; 6], [2; 6]));
        let n = emit(&mut b, [1; 6], [2; 6], Some(42), EtherType::Arp);
        let f = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(
            (n, f.header_len(), f.ethertype(), f.vlan()),
            (18, 18, 0x0806, Some(42))
        );
    }

    #[test]
    fn truncation_is_an_error_at_every_length() {
        let mut b = [0u8; 18];
        emit(&mut b, [1; 6], [2; 6], Some(1), EtherType::Ipv4);
        for len in 0..18 {
            assert_eq!(
                Frame::new_checked(&b[..len]).err(),
                Some(WireError::Truncated),
                "{len}"
            );
        }
    }
}

//! ARP for IPv4 over Ethernet (RFC 826). Other hardware or protocol types are
//! `Unsupported`.

use std::net::Ipv4Addr;

use super::ethernet::MacAddr;
use super::{be16, WireError};

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// Bytes of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// The ARP operation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Who has the target address? (1)
    Request,
    /// The sender has the address asked for (2).
    Reply,
    /// Any other operation code, carried as it was.
    Other(u16),
}

impl Op {
    fn from_wire(v: u16) -> Op {
        match v {
            1 => Op::Request,
            2 => Op::Reply,
            o => Op::Other(o),
        }
    }
    fn to_wire(self) -> u16 {
        match self {
            Op::Request => 1,
            Op::Reply => 2,
            Op::Other(o) => o,
        }
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request or reply.
    pub op: Op,
    /// The sender's hardware address.
    pub sender_mac: MacAddr,
    /// The sender's IPv4 address.
    pub sender_ip: Ipv4Addr,
    /// The target's hardware address (zero in a request).
    pub target_mac: MacAddr,
    /// The IPv4 address asked about, or replied to.
    pub target_ip: Ipv4Addr,
}

fn ip(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn mac(b: &[u8], at: usize) -> MacAddr {
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]
}

impl ArpRepr {
    /// Parses the ARP payload of an Ethernet frame (trailing padding ignored).
    pub fn parse(b: &[u8]) -> Result<ArpRepr, WireError> {
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::HTYPE) != 1
            || be16(b, field::PTYPE) != 0x0800
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(ArpRepr {
            op: Op::from_wire(be16(b, field::OPER)),
            sender_mac: mac(b, field::SHA),
            sender_ip: ip(b, field::SPA),
            target_mac: mac(b, field::THA),
            target_ip: ip(b, field::TPA),
        })
    }

    /// Writes the 28-byte packet at the start of `b`.
    pub fn emit(&self, b: &mut [u8]) {
        b[field::HTYPE..field::HTYPE + 2].copy_from_slice(&1u16.to_be_bytes());
        b[field::PTYPE..field::PTYPE + 2].copy_from_slice(&0x0800u16.to_be_bytes());
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        b[field::OPER..field::OPER + 2].copy_from_slice(&self.op.to_wire().to_be_bytes());
        b[field::SHA..field::SHA + 6].copy_from_slice(&self.sender_mac);
        b[field::SPA..field::SPA + 4].copy_from_slice(&self.sender_ip.octets());
        b[field::THA..field::THA + 6].copy_from_slice(&self.target_mac);
        b[field::TPA..field::TPA + 4].copy_from_slice(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let r = ArpRepr {
            op: Op::Request,
            sender_mac: [2, 0, 0, 0, 0, 1],
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut b = [0u8; 46];
        r.emit(&mut b);
        assert_eq!(ArpRepr::parse(&b), Ok(r));
        for len in 0..PACKET_LEN {
            assert_eq!(ArpRepr::parse(&b[..len]), Err(WireError::Truncated));
        }
        b[4] = 8; // hardware address length
        assert_eq!(ArpRepr::parse(&b), Err(WireError::Unsupported));
    }
}

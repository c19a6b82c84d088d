//! Initial sequence numbers (RFC 6528 3): ISN = M + F(localip, localport, remoteip,
//! remoteport, secretkey), M a 4-microsecond timer, F SipHash-2-4; for IPv4 and IPv6
//! 4-tuples alike ([`TupleBytes`]).

use super::conn::FourTuple;
use super::secrets::IsnKey;
use super::siphash::siphash24;
use super::tuple6::FourTuple6;
use super::SeqNum;
use crate::time::Instant;

#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnGenerator { key: <secret> }")
    }
}

/// A 4-tuple of either family as the bytes ISNs and SYN cookies hash: local address and
/// port, remote address and port (RFC 6528 3), with a salt after them for cookies.
pub(crate) trait TupleBytes {
    /// The MSS values a SYN cookie carries for this family (Linux's msstab for IPv4,
    /// msstab6 for IPv6: `net/ipv4/syncookies.c`, `net/ipv6/syncookies.c`).
    const MSS_TABLE: [u16; 4];
    /// The tuple's bytes.
    fn bytes(&self) -> impl AsRef<[u8]>;
    /// The tuple's bytes followed by `salt`.
    fn salted(&self, salt: u32) -> impl AsRef<[u8]>;
}

/// The 12 bytes of a 4-tuple, for hashing.
pub(crate) fn tuple_bytes(t: &FourTuple) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&t.local.ip().octets());
    b[4..6].copy_from_slice(&t.local.port().to_be_bytes());
    b[6..10].copy_from_slice(&t.remote.ip().octets());
    b[10..12].copy_from_slice(&t.remote.port().to_be_bytes());
    b
}

impl TupleBytes for FourTuple {
    const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];
    fn bytes(&self) -> impl AsRef<[u8]> {
        tuple_bytes(self)
    }
    fn salted(&self, salt: u32) -> impl AsRef<[u8]> {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(&tuple_bytes(self));
        b[12..].copy_from_slice(&salt.to_be_bytes());
        b
    }
}

/// The 36 bytes of an IPv6 4-tuple, for hashing.
fn tuple6_bytes(t: &FourTuple6) -> [u8; 36] {
    let mut b = [0u8; 36];
    b[0..16].copy_from_slice(&t.local.octets());
    b[16..18].copy_from_slice(&t.local_port.to_be_bytes());
    b[18..34].copy_from_slice(&t.remote.octets());
    b[34..36].copy_from_slice(&t.remote_port.to_be_bytes());
    b
}

impl TupleBytes for FourTuple6 {
    /// MTU minus 60 (IPv6 and TCP headers) for MTUs 1280, 1480, 1500 and 9000.
    const MSS_TABLE: [u16; 4] = [1220, 1420, 1440, 8940];
    fn bytes(&self) -> impl AsRef<[u8]> {
        tuple6_bytes(self)
    }
    fn salted(&self, salt: u32) -> impl AsRef<[u8]> {
        let mut b = [0u8; 40];
        b[..36].copy_from_slice(&tuple6_bytes(self));
        b[36..].copy_from_slice(&salt.to_be_bytes());
        b
    }
}

impl IsnGenerator {
    /// `key` comes from `Secrets` (random at every start, one per use).
    pub fn new(key: IsnKey) -> IsnGenerator {
        IsnGenerator { key: key.0 }
    }

    /// RFC 6528 3 for `tuple` at `now`.
    pub fn isn<T: TupleBytes>(&self, tuple: &T, now: Instant) -> SeqNum {
        let m = (now.total_micros() / 4) as u32;
        SeqNum(m.wrapping_add(siphash24(&self.key, tuple.bytes().as_ref()) as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn t(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port),
        }
    }

    #[test]
    fn keyed_per_tuple_and_advancing_with_time() {
        let key = |seed| crate::tcp::Secrets::from_master([seed; 32]).listener_isn();
        let g = IsnGenerator::new(key(7));
        let now = Instant::from_secs(5);
        assert_eq!(g.isn(&t(1), now), g.isn(&t(1), now));
        assert_ne!(g.isn(&t(1), now), g.isn(&t(2), now));
        assert_ne!(IsnGenerator::new(key(8)).isn(&t(1), now), g.isn(&t(1), now));
        let later = g.isn(&t(1), now + core::time::Duration::from_millis(4));
        assert_eq!(later - g.isn(&t(1), now), 1000, "M advances every 4 us");
    }

    #[test]
    fn ipv6_tuples_are_keyed_by_every_field() {
        let g = IsnGenerator::new(crate::tcp::Secrets::from_master([7; 32]).listener_isn());
        let now = Instant::from_secs(5);
        let base = FourTuple6 {
            local: "2001:db8::10".parse().unwrap(),
            remote: "2001:db8::1".parse().unwrap(),
            local_port: 80,
            remote_port: 40000,
        };
        let isn = g.isn(&base, now);
        assert_eq!(isn, g.isn(&base, now));
        let variants = [
            FourTuple6 {
                local: "2001:db8::11".parse().unwrap(),
                ..base
            },
            // A difference in the high bits of the remote address (beyond an IPv4 width).
            FourTuple6 {
                remote: "2001:db9::1".parse().unwrap(),
                ..base
            },
            FourTuple6 {
                local_port: 81,
                ..base
            },
            FourTuple6 {
                remote_port: 40001,
                ..base
            },
        ];
        for v in variants {
            assert_ne!(g.isn(&v, now), isn, "{v:?}");
        }
        let later = g.isn(&base, now + core::time::Duration::from_millis(4));
        assert_eq!(later - isn, 1000);
    }
}

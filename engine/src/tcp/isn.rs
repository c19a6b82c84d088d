//! Initial sequence numbers (RFC 6528 3): ISN = M + F(localip, localport, remoteip,
//! remoteport, secretkey), M a 4-microsecond timer, F SipHash-2-4.

use super::conn::FourTuple;
use super::secrets::IsnKey;
use super::siphash::siphash24;
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

/// The 12 bytes of a 4-tuple, for hashing.
pub(crate) fn tuple_bytes(t: &FourTuple) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&t.local.ip().octets());
    b[4..6].copy_from_slice(&t.local.port().to_be_bytes());
    b[6..10].copy_from_slice(&t.remote.ip().octets());
    b[10..12].copy_from_slice(&t.remote.port().to_be_bytes());
    b
}

impl IsnGenerator {
    /// `key` comes from `Secrets` (random at every start, one per use).
    pub fn new(key: IsnKey) -> IsnGenerator {
        IsnGenerator { key: key.0 }
    }

    pub fn isn(&self, tuple: &FourTuple, now: Instant) -> SeqNum {
        let m = (now.total_micros() / 4) as u32;
        SeqNum(m.wrapping_add(siphash24(&self.key, &tuple_bytes(tuple)) as u32))
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
}

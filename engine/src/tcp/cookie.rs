//! SYN cookies (RFC 4987 3.6) in Linux's encoding: when a listener's SYN backlog is full,
//! the SYN-ACK's ISN carries a keyed hash of the 4-tuple, a coarse clock and the MSS
//! index, and the low bits of its TSval carry window scale and SACK-permitted; the ACK
//! that completes the handshake brings both back, and the connection is made from it.
//! IPv4 and IPv6 4-tuples alike: the hash covers the whole tuple, and the MSS index is
//! into the family's table (`TupleBytes::MSS_TABLE`, Linux's msstab and msstab6).

#[cfg(test)]
use super::conn::FourTuple;
use super::isn::TupleBytes;
use super::secrets::CookieKey;
use super::siphash::siphash24;
use super::SeqNum;
use crate::time::Instant;

/// The cookie clock ticks every 64 s; a cookie is valid for this many ticks back.
const TICK_SECS: u64 = 64;
const MAX_AGE: u32 = 2;
/// Low TSval bits that carry options (Linux TS_OPT_BITS).
const TS_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_BITS) - 1;
const WSCALE_NONE: u32 = 0xf;
const SACK_BIT: u32 = 1 << 4;

/// What a valid cookie says about the handshake.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CookieOptions {
    pub mss: u16,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: bool,
}

#[derive(Clone)]
pub struct CookieJar {
    key: [u8; 16],
}

impl core::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CookieJar { key: <secret> }")
    }
}

impl CookieJar {
    /// `key` comes from `Secrets` (random at every start, used for nothing else).
    pub fn new(key: CookieKey) -> CookieJar {
        CookieJar { key: key.0 }
    }

    fn hash<T: TupleBytes>(&self, tuple: &T, salt: u32) -> u32 {
        siphash24(&self.key, tuple.salted(salt).as_ref()) as u32
    }

    fn tick(now: Instant) -> u32 {
        (now.total_micros() / 1_000_000 / TICK_SECS) as u32
    }

    /// Our ISN for a SYN we answer statelessly (Linux `secure_tcp_syn_cookie`).
    pub fn encode<T: TupleBytes>(
        &self,
        tuple: &T,
        client_isn: SeqNum,
        mss: u16,
        now: Instant,
    ) -> SeqNum {
        let idx = T::MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32;
        let count = Self::tick(now);
        let cookie = self
            .hash(tuple, 0)
            .wrapping_add(client_isn.0)
            .wrapping_add(count << 24)
            .wrapping_add(self.hash(tuple, count).wrapping_add(idx) & 0x00ff_ffff);
        SeqNum(cookie)
    }

    /// Our TSval for the cookie SYN-ACK: `ts` with the options in its low bits (Linux
    /// `cookie_init_timestamp`).
    pub fn encode_ts(ts: u32, window_scale: Option<u8>, sack_permitted: bool) -> u32 {
        let opts = window_scale.map_or(WSCALE_NONE, |w| w.min(14) as u32)
            | if sack_permitted { SACK_BIT } else { 0 };
        let mut v = (ts & !TS_MASK) | opts;
        if v > ts {
            // Never let TSval run ahead of our clock (Linux does the same).
            v = v.wrapping_sub(1 << TS_BITS);
        }
        v
    }

    /// Checks the ACK completing a cookie handshake: `ack` is its acknowledgment number
    /// (our ISN + 1), `seq` its sequence number (client ISN + 1), `ts_ecr` its echoed
    /// timestamp if any. `None` for a forged, mangled or expired cookie.
    pub fn decode<T: TupleBytes>(
        &self,
        tuple: &T,
        ack: SeqNum,
        seq: SeqNum,
        ts_ecr: Option<u32>,
        now: Instant,
    ) -> Option<CookieOptions> {
        let cookie = (ack - 1).0;
        let client_isn = (seq - 1).0;
        let diff = cookie
            .wrapping_sub(self.hash(tuple, 0))
            .wrapping_sub(client_isn);
        let now_count = Self::tick(now);
        let enc_count = diff >> 24;
        let age = now_count.wrapping_sub(enc_count) & 0xff;
        if age > MAX_AGE {
            return None;
        }
        let count = now_count.wrapping_sub(age);
        let idx = diff.wrapping_sub(self.hash(tuple, count)) & 0x00ff_ffff;
        let mss = *T::MSS_TABLE.get(idx as usize)?;
        let (window_scale, sack_permitted, timestamps) = match ts_ecr {
            Some(ecr) => {
                let w = ecr & 0xf;
                (
                    if w == WSCALE_NONE {
                        None
                    } else {
                        Some(w as u8)
                    },
                    ecr & SACK_BIT != 0,
                    true,
                )
            }
            // Without timestamps the options could not be carried: none of them.
            None => (None, false, false),
        };
        Some(CookieOptions {
            mss,
            window_scale,
            sack_permitted,
            timestamps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn jar(seed: u8) -> CookieJar {
        CookieJar::new(crate::tcp::Secrets::from_master([seed; 32]).syn_cookie())
    }

    fn t(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port),
        }
    }

    #[test]
    fn round_trip_with_options_intact() {
        let j = jar(3);
        let now = Instant::from_secs(1000);
        let client = SeqNum(0xdead_beef);
        let isn = j.encode(&t(5), client, 1460, now);
        let ts = CookieJar::encode_ts(123_456_789, Some(7), true);
        assert!(ts <= 123_456_789);
        let got = j.decode(
            &t(5),
            isn + 1,
            client + 1,
            Some(ts),
            now + Duration::from_secs(30),
        );
        assert_eq!(
            got,
            Some(CookieOptions {
                mss: 1460,
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: true
            })
        );
        // MSS rounds down to the table; no timestamps means no wscale/SACK.
        let isn = j.encode(&t(5), client, 1400, now);
        let got = j.decode(&t(5), isn + 1, client + 1, None, now).unwrap();
        assert_eq!(
            (got.mss, got.window_scale, got.sack_permitted),
            (1300, None, false)
        );
    }

    #[test]
    fn ipv6_cookies_round_trip_with_the_ipv6_mss_table() {
        use crate::tcp::FourTuple6;
        let j = jar(3);
        let now = Instant::from_secs(1000);
        let client = SeqNum(7);
        let t6 = |remote: &str| FourTuple6 {
            local: "2001:db8::10".parse().unwrap(),
            remote: remote.parse().unwrap(),
            local_port: 80,
            remote_port: 40000,
        };
        let a = t6("2001:db8::1");
        // Linux msstab6: the largest entry at or below the peer's MSS.
        for (peer_mss, carried) in [(1440, 1440), (1460, 1440), (1300, 1220), (9000, 8940)] {
            let isn = j.encode(&a, client, peer_mss, now);
            let got = j.decode(&a, isn + 1, client + 1, None, now).unwrap();
            assert_eq!(got.mss, carried, "peer MSS {peer_mss}");
        }
        let isn = j.encode(&a, client, 1440, now);
        // Another peer differing only in the high bits of its address: refused.
        let b = t6("2001:db9::1");
        assert!(j.decode(&b, isn + 1, client + 1, None, now).is_none());
    }

    #[test]
    fn forged_mangled_and_expired_cookies_fail() {
        let j = jar(3);
        let now = Instant::from_secs(1000);
        let client = SeqNum(42);
        let isn = j.encode(&t(5), client, 1460, now);
        assert!(
            j.decode(&t(6), isn + 1, client + 1, None, now).is_none(),
            "other tuple"
        );
        // The clock and hash live in the high bits: a change there fails. (As in Linux, the
        // low bits only hold hash + MSS index, so a nudge of a few units can land on another
        // table entry; forging for a tuple one does not own still needs the key.)
        assert!(
            j.decode(&t(5), isn + 1 + (1 << 24), client + 1, None, now)
                .is_none(),
            "tampered ack"
        );
        assert!(
            j.decode(&t(5), isn + 1 + 100, client + 1, None, now)
                .is_none(),
            "tampered low bits"
        );
        assert!(
            jar(4)
                .decode(&t(5), isn + 1, client + 1, None, now)
                .is_none(),
            "other key"
        );
        let late = now + Duration::from_secs(64 * 4);
        assert!(
            j.decode(&t(5), isn + 1, client + 1, None, late).is_none(),
            "expired"
        );
        // Random ACKs are accepted rarely: at most a handful in 100k.
        let mut accepted = 0;
        for i in 0..100_000u32 {
            if j.decode(
                &t(5),
                SeqNum(i.wrapping_mul(2_654_435_761)),
                client + 1,
                None,
                now,
            )
            .is_some()
            {
                accepted += 1;
            }
        }
        assert!(accepted < 10, "{accepted} forged cookies accepted");
    }
}

//! How the engine's ICMP leaves, as Linux 6.x sends it: the rate limits on ICMP errors
//! (RFC 1122 3.2.2, RFC 1812 4.3.2.8) and the IPv4 identification of packets sent
//! without a connection. The rules take any `IpAddr`, so ICMPv6 errors can share them.
//!
//! Read from Linux (net/ipv4/icmp.c, net/ipv4/route.c, net/ipv4/inetpeer.c), written anew:
//!
//! - **Per peer** (`icmp_ratelimit`, 1 s; `inet_peer_xrlim_allow`): a token bucket in
//!   milliseconds per destination, filled by the time elapsed, holding at most six
//!   intervals (`XRLIM_BURST_FACTOR`); an error costs one interval. A peer not seen
//!   before starts full: six errors at once, then one a second.
//! - **In all** (`icmp_msgs_per_sec` 1000, `icmp_msgs_burst` 50; `icmp_global_allow`):
//!   while credit is left an error may go; otherwise the credit is refilled at 1000 a
//!   second for the time since the last refill (at most a second's worth, and not before
//!   20 ms have passed), up to the burst. Each error sent then takes 0, 1 or 2 credits at
//!   random (`icmp_global_consume`: the randomness keeps a peer from reading the host's
//!   other ICMP traffic from the limit, CVE-2020-25705). The global check comes first,
//!   the per-peer one next, and only an error that passed both consumes credit.
//! - **Which messages**: `icmp_ratemask` 0x1818, destination unreachable (except
//!   "fragmentation needed", never limited), source quench, time exceeded, parameter
//!   problem. Echo replies are not limited.
//! - **IPv4 identification** of packets without a connection (ICMP, where DF is not set;
//!   `ip_idents_reserve`): a counter per bucket of a keyed hash of (destination, source,
//!   protocol), random at start; each use adds one plus a random number below the
//!   jiffies since the bucket was last used (4 ms ticks: `CONFIG_HZ` 250, Debian's and
//!   this kernel's). So the two echo replies nmap asks for 25 ms apart differ by 1 to 7,
//!   as Linux's do (nmap's II=I needs steps under 10).
//!
//! Each worker keeps its own limits (Linux keeps one per network namespace): with N
//! workers a flood spread over all queues can draw up to N times the global rate.

use std::net::IpAddr;

use core::time::Duration;

use crate::time::Instant;

/// Linux's defaults for the limits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IcmpLimitConfig {
    /// Per peer: one error per this interval (`icmp_ratelimit`, 1 s).
    pub per_peer_interval: Duration,
    /// Per peer: the bucket holds this many intervals (`XRLIM_BURST_FACTOR`, 6).
    pub per_peer_burst: u32,
    /// In all: credit refilled per second (`icmp_msgs_per_sec`, 1000).
    pub msgs_per_sec: u32,
    /// In all: most credit held (`icmp_msgs_burst`, 50).
    pub msgs_burst: u32,
}

impl Default for IcmpLimitConfig {
    fn default() -> Self {
        IcmpLimitConfig {
            per_peer_interval: Duration::from_secs(1),
            per_peer_burst: 6,
            msgs_per_sec: 1000,
            msgs_burst: 50,
        }
    }
}

/// Peers whose buckets are kept at once; a peer hashing to a taken slot replaces its
/// holder (which starts full again when it comes back), as Linux's peer cache forgets
/// peers under pressure. The global limit bounds what that can buy.
const PEER_SLOTS: usize = 256;
/// Buckets of IPv4 identification counters.
const ID_BUCKETS: usize = 256;
/// Linux's clock tick at `CONFIG_HZ` 250, in microseconds.
const JIFFY_MICROS: u64 = 4000;

#[derive(Copy, Clone, Debug)]
struct PeerBucket {
    peer: Option<IpAddr>,
    tokens_ms: u64,
    last: Instant,
}

/// ICMP error rate limits and IPv4 IDs for one worker. Sans-IO: the caller passes `now`.
#[derive(Clone, Debug)]
pub struct IcmpOut {
    cfg: IcmpLimitConfig,
    peers: Box<[PeerBucket; PEER_SLOTS]>,
    credit: i64,
    stamp: Option<Instant>,
    ids: Box<[(u16, Option<Instant>); ID_BUCKETS]>,
    rng: u64,
    key: u64,
}

impl IcmpOut {
    /// Limits `cfg`; `seed` keys the hashes and the random numbers (take it from the
    /// engine's secrets: a peer must not predict the buckets).
    pub fn new(cfg: IcmpLimitConfig, seed: u64) -> IcmpOut {
        let mut o = IcmpOut {
            cfg,
            peers: Box::new(
                [PeerBucket {
                    peer: None,
                    tokens_ms: 0,
                    last: Instant::ZERO,
                }; PEER_SLOTS],
            ),
            credit: 0,
            stamp: None,
            ids: Box::new([(0, None); ID_BUCKETS]),
            rng: seed | 1,
            key: 0,
        };
        o.key = o.next_random();
        for i in 0..ID_BUCKETS {
            o.ids[i].0 = o.next_random() as u16;
        }
        o
    }

    /// xorshift64*: cheap, and keyed by the seed; not for secrets.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_random() % n
        }
    }

    fn hash(&self, a: IpAddr, b: IpAddr, proto: u8) -> usize {
        let mut h = self.key ^ proto as u64;
        for x in [a, b] {
            let bits = match x {
                IpAddr::V4(v) => u32::from(v) as u128,
                IpAddr::V6(v) => u128::from(v),
            };
            for part in [bits as u64, (bits >> 64) as u64] {
                h = (h ^ part).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                h ^= h >> 29;
            }
        }
        h as usize
    }

    /// May an ICMP error go to `peer` now? Both limits, in Linux's order; a `true`
    /// consumes what it must. Never true without the global credit check passing.
    pub fn allow_error(&mut self, now: Instant, peer: IpAddr) -> bool {
        if !self.global_allow(now) || !self.peer_allow(now, peer) {
            return false;
        }
        self.credit -= self.below(3) as i64;
        true
    }

    fn global_allow(&mut self, now: Instant) -> bool {
        if self.credit > 0 {
            return true;
        }
        let second = 1_000_000u64;
        let delta = match self.stamp {
            None => second,
            Some(t) => now.saturating_since(t).as_micros().min(second as u128) as u64,
        };
        if delta < second / 50 {
            return false;
        }
        let incr = self.cfg.msgs_per_sec as u64 * delta / second;
        if incr == 0 {
            return false;
        }
        self.stamp = Some(now);
        self.credit = (self.credit + incr as i64).min(self.cfg.msgs_burst as i64);
        true
    }

    fn peer_allow(&mut self, now: Instant, peer: IpAddr) -> bool {
        let interval = self.cfg.per_peer_interval.as_millis() as u64;
        let cap = interval * self.cfg.per_peer_burst as u64;
        let slot = self.hash(peer, peer, 0) % PEER_SLOTS;
        let b = &mut self.peers[slot];
        if b.peer != Some(peer) {
            *b = PeerBucket {
                peer: Some(peer),
                tokens_ms: cap,
                last: now,
            };
        }
        let elapsed = now.saturating_since(b.last).as_millis() as u64;
        b.last = now;
        b.tokens_ms = (b.tokens_ms + elapsed).min(cap);
        if b.tokens_ms >= interval {
            b.tokens_ms -= interval;
            true
        } else {
            false
        }
    }

    /// The IPv4 identification for a packet from `src` to `dst` of `protocol` that has
    /// no connection (and no DF).
    pub fn ip_id(&mut self, now: Instant, src: IpAddr, dst: IpAddr, protocol: u8) -> u16 {
        let i = self.hash(dst, src, protocol) % ID_BUCKETS;
        let jiffies = |t: Instant| t.total_micros() / JIFFY_MICROS;
        let elapsed = match self.ids[i].1 {
            Some(t) => jiffies(now).saturating_sub(jiffies(t)),
            None => 0,
        };
        let delta = if elapsed > 0 { self.below(elapsed) } else { 0 };
        self.ids[i].1 = Some(now);
        let id = self.ids[i].0.wrapping_add(1).wrapping_add(delta as u16);
        self.ids[i].0 = id;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    fn peer(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + n))
    }

    /// One peer: six at once, then one a second (Linux `inet_peer_xrlim_allow` with
    /// `icmp_ratelimit` 1000 ms).
    #[test]
    fn a_peer_gets_six_at_once_then_one_a_second() {
        let mut o = IcmpOut::new(IcmpLimitConfig::default(), 7);
        let t0 = Instant::from_secs(100);
        let sent = (0..20).filter(|_| o.allow_error(t0, A)).count();
        assert_eq!(sent, 6);
        assert!(!o.allow_error(t0 + Duration::from_millis(999), A));
        assert!(o.allow_error(t0 + Duration::from_millis(1000), A));
        assert!(!o.allow_error(t0 + Duration::from_millis(1500), A));
        // A long silence refills six, not more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| o.allow_error(later, A)).count(), 6);
    }

    /// Many peers at one instant: the global burst (50 credits, each error taking 0-2)
    /// stops them, about 50 in all; 20 ms later a refill lets about 20 more go.
    #[test]
    fn the_global_limit_bounds_many_peers() {
        for seed in 1..20 {
            let mut o = IcmpOut::new(IcmpLimitConfig::default(), seed);
            let t0 = Instant::from_secs(100);
            let first = (0..200).filter(|&n| o.allow_error(t0, peer(n))).count();
            assert!((26..=120).contains(&first), "seed {seed}: {first}");
            let soon = t0 + Duration::from_millis(10);
            assert_eq!(
                (200..400).filter(|&n| o.allow_error(soon, peer(n))).count(),
                0,
                "no refill before 20 ms"
            );
            let t1 = t0 + Duration::from_millis(20);
            let next = (400..600).filter(|&n| o.allow_error(t1, peer(n))).count();
            assert!((1..=60).contains(&next), "seed {seed}: {next}");
        }
        // Over a whole second of new peers every millisecond: about the rate.
        let mut o = IcmpOut::new(IcmpLimitConfig::default(), 3);
        let t0 = Instant::from_secs(100);
        let sent = (0..5000u32)
            .filter(|&n| o.allow_error(t0 + Duration::from_micros(n as u64 * 200), peer(n)))
            .count();
        assert!((800..=1300).contains(&sent), "{sent} in one second");
    }

    /// IDs for one destination count up by small steps; other buckets start elsewhere.
    #[test]
    fn ip_ids_are_incremental_per_destination() {
        let mut o = IcmpOut::new(IcmpLimitConfig::default(), 9);
        let t0 = Instant::from_secs(100);
        let src = peer(1000);
        let a = o.ip_id(t0, src, A, 1);
        let b = o.ip_id(t0, src, A, 1);
        assert_eq!(b, a.wrapping_add(1), "same millisecond: one up");
        for n in 1..50u64 {
            let before = o.ip_id(t0 + Duration::from_millis(100 * n), src, A, 1);
            let c = o.ip_id(t0 + Duration::from_millis(100 * n + 25), src, A, 1);
            let step = c.wrapping_sub(before);
            assert!((1..=7).contains(&step), "25 ms = 6 jiffies: step {step}");
        }
    }
}

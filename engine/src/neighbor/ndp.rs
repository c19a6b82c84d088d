//! Sans-IO IPv6 neighbour resolution (RFC 4861 7.2) over the shared cache: solicitations
//! to the target's solicited-node group, entries learned from advertisements that answer
//! them and from solicitations that carry the sender's link-layer address.
//!
//! Neighbour unreachability detection (RFC 4861 7.3) is reduced to ARP's model: an entry
//! is used for a fixed lifetime (REACHABLE_TIME, 30 s) and then resolved again; TCP's own
//! retransmission timers cover a neighbour that vanished in between.

use std::net::Ipv6Addr;
use std::time::Duration;

use super::cache::{Cache, CacheEvent, Limits};
use super::{ArpError, Resolve};
use crate::time::Instant;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv6::same_prefix;

/// Neighbour discovery configuration.
#[derive(Clone, Debug)]
pub struct NdpConfig {
    /// Our IPv6 addresses with their prefix lengths (on-link prefixes).
    pub addrs: Vec<(Ipv6Addr, u8)>,
    /// Default router for destinations that are not on-link.
    pub gateway: Option<Ipv6Addr>,
    /// Cache bounds and timers.
    pub(crate) limits: Limits,
}

impl NdpConfig {
    /// RFC 4861 10 defaults: REACHABLE_TIME 30 s, RETRANS_TIMER 1 s,
    /// MAX_MULTICAST_SOLICIT 3; 1024 entries, 16 frames per destination, 256 in total.
    pub fn new(addrs: Vec<(Ipv6Addr, u8)>, gateway: Option<Ipv6Addr>) -> Self {
        NdpConfig {
            addrs,
            gateway,
            limits: Limits {
                capacity: 1024,
                entry_lifetime: Duration::from_secs(30),
                retry_interval: Duration::from_secs(1),
                max_requests: 3,
                pending_per_dest: 16,
                pending_total: 256,
            },
        }
    }
}

/// Something for the caller to do.
#[derive(Debug, PartialEq, Eq)]
pub enum NdpEvent<T> {
    /// Send a neighbour solicitation for `target` from `src`, to `target`'s solicited-node
    /// group, with our link-layer address option.
    SendSolicit {
        /// Our address to send from.
        src: Ipv6Addr,
        /// The address to resolve.
        target: Ipv6Addr,
    },
    /// A held frame whose next hop resolved: write the header with `mac` and send.
    Resolved {
        /// The next hop's link-layer address.
        mac: MacAddr,
        /// The frame.
        frame: T,
    },
    /// A held frame whose next hop did not answer: release it (and report unreachable).
    Failed {
        /// The next hop that did not answer.
        ip: Ipv6Addr,
        /// The frame.
        frame: T,
    },
}

/// IPv6 neighbour cache and resolver for one interface.
#[derive(Debug)]
pub struct Ndp<T> {
    cfg: NdpConfig,
    cache: Cache<Ipv6Addr, T>,
}

impl<T> Ndp<T> {
    /// A resolver with an empty cache.
    pub fn new(cfg: NdpConfig) -> Self {
        Ndp {
            cache: Cache::new(cfg.limits),
            cfg,
        }
    }

    /// Our address on the prefix of `ip`, else the first one.
    fn source_for(&self, ip: Ipv6Addr) -> Ipv6Addr {
        let on = self.cfg.addrs.iter().find(|(a, p)| same_prefix(*a, ip, *p));
        on.or(self.cfg.addrs.first())
            .map_or(Ipv6Addr::UNSPECIFIED, |(a, _)| *a)
    }

    /// The next hop for `dst`: itself if on-link, else the default router.
    pub fn next_hop(&self, dst: Ipv6Addr) -> Result<Ipv6Addr, ArpError> {
        let on_link = self.cfg.addrs.iter().any(|(a, p)| same_prefix(*a, dst, *p));
        if on_link {
            Ok(dst)
        } else {
            self.cfg.gateway.ok_or(ArpError::NoRoute)
        }
    }

    /// Cached, fresh MAC for `ip`.
    pub fn lookup(&self, now: Instant, ip: Ipv6Addr) -> Option<MacAddr> {
        self.cache.lookup(now, ip)
    }

    /// RFC 4861 7.2.5: an advertisement for `target` updates an entry or completes a
    /// resolution under way; one for an address with neither is silently discarded.
    /// Returns whether it was used.
    pub fn on_advert(&mut self, now: Instant, target: Ipv6Addr, mac: MacAddr) -> bool {
        if !self.cache.knows(target) || mac[0] & 1 != 0 {
            return false;
        }
        self.cache.insert(now, target, mac);
        true
    }

    /// RFC 4861 7.2.3: a solicitation from unicast `src` with its link-layer address
    /// creates or updates the entry for `src` (the node will talk to us next).
    pub fn on_solicit(&mut self, now: Instant, src: Ipv6Addr, lladdr: MacAddr) {
        if !src.is_unspecified() && !src.is_multicast() && lladdr[0] & 1 == 0 {
            self.cache.insert(now, src, lladdr);
        }
    }

    /// Resolve `next_hop` for `frame`: ready now, queued (a solicitation is scheduled), or
    /// dropped when the destination's or the global pending bound is reached.
    pub fn resolve(&mut self, now: Instant, next_hop: Ipv6Addr, frame: T) -> Resolve<T> {
        self.cache.resolve(now, next_hop, frame)
    }

    /// Next thing to do at `now`, or `None` until [`Ndp::poll_at`].
    pub fn poll(&mut self, now: Instant) -> Option<NdpEvent<T>> {
        Some(match self.cache.poll(now)? {
            CacheEvent::Solicit(target) => NdpEvent::SendSolicit {
                src: self.source_for(target),
                target,
            },
            CacheEvent::Resolved { mac, frame } => NdpEvent::Resolved { mac, frame },
            CacheEvent::Failed { ip, frame } => NdpEvent::Failed { ip, frame },
        })
    }

    /// When to call [`Ndp::poll`] next (`None`: nothing pending).
    pub fn poll_at(&self) -> Option<Instant> {
        self.cache.poll_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
    const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const GW: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe);
    const FAR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb9, 0, 0, 0, 0, 0, 1);

    fn ndp() -> Ndp<u32> {
        Ndp::new(NdpConfig::new(vec![(US, 64)], Some(GW)))
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain(n: &mut Ndp<u32>, now: Instant) -> Vec<NdpEvent<u32>> {
        let mut v = Vec::new();
        while let Some(e) = n.poll(now) {
            v.push(e);
            assert!(v.len() < 1000);
        }
        v
    }

    #[test]
    fn next_hop_is_on_link_or_the_router() {
        let n = ndp();
        assert_eq!(n.next_hop(PEER), Ok(PEER));
        assert_eq!(n.next_hop(FAR), Ok(GW));
        let none: Ndp<u32> = Ndp::new(NdpConfig::new(vec![(US, 64)], None));
        assert_eq!(none.next_hop(FAR), Err(ArpError::NoRoute));
    }

    #[test]
    fn resolves_by_solicitation_and_releases_held_frames() {
        let mut n = ndp();
        assert_eq!(n.resolve(t(0), PEER, 1), Resolve::Queued);
        assert_eq!(n.resolve(t(0), PEER, 2), Resolve::Queued);
        assert_eq!(
            drain(&mut n, t(0)),
            vec![NdpEvent::SendSolicit {
                src: US,
                target: PEER
            }]
        );
        // Retransmitted once per RetransTimer, not before.
        assert_eq!(n.poll_at(), Some(t(1000)));
        assert!(drain(&mut n, t(999)).is_empty());
        assert!(n.on_advert(t(1500), PEER, PEER_MAC));
        assert_eq!(
            drain(&mut n, t(1500)),
            vec![
                NdpEvent::Resolved {
                    mac: PEER_MAC,
                    frame: 1
                },
                NdpEvent::Resolved {
                    mac: PEER_MAC,
                    frame: 2
                }
            ]
        );
        assert_eq!(n.resolve(t(2000), PEER, 3), Resolve::Ready(PEER_MAC, 3));
        // REACHABLE_TIME later it is resolved again.
        assert_eq!(n.resolve(t(31_500), PEER, 4), Resolve::Queued);
        assert_eq!(n.poll_at(), Some(Instant::ZERO.max(t(31_500))));
    }

    #[test]
    fn gives_up_after_three_solicitations() {
        let mut n = ndp();
        n.resolve(t(0), PEER, 7);
        let mut sent = 0;
        let mut failed = Vec::new();
        for s in 0..5 {
            for e in drain(&mut n, t(s * 1000)) {
                match e {
                    NdpEvent::SendSolicit { .. } => sent += 1,
                    NdpEvent::Failed { ip, frame } => failed.push((ip, frame, s)),
                    NdpEvent::Resolved { .. } => panic!("resolved"),
                }
            }
        }
        // RFC 4861 7.2.2: MAX_MULTICAST_SOLICIT (3), then the frames are released as failed.
        assert_eq!((sent, failed), (3, vec![(PEER, 7, 3)]));
        assert_eq!(n.poll_at(), None);
    }

    #[test]
    fn unsolicited_advertisements_are_ignored_solicitations_teach() {
        let mut n = ndp();
        // RFC 4861 7.2.5: no entry, nothing under way: discarded.
        assert!(!n.on_advert(t(0), PEER, PEER_MAC));
        assert_eq!(n.lookup(t(0), PEER), None);
        // RFC 4861 7.2.3: a solicitation with a source link-layer address creates one.
        n.on_solicit(t(0), PEER, PEER_MAC);
        assert_eq!(n.lookup(t(1), PEER), Some(PEER_MAC));
        // ...and a later advertisement updates it.
        assert!(n.on_advert(t(2), PEER, [2, 0, 0, 0, 0, 9]));
        assert_eq!(n.lookup(t(3), PEER), Some([2, 0, 0, 0, 0, 9]));
        // From :: nothing is learned; a multicast MAC is never learned.
        n.on_solicit(t(0), Ipv6Addr::UNSPECIFIED, PEER_MAC);
        n.resolve(t(0), FAR, 1);
        assert!(!n.on_advert(t(0), FAR, [0x33, 0x33, 0, 0, 0, 1]));
    }
}

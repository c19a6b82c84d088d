//! Sans-IO neighbour resolution, generic over the caller's frame handle `T`: ARP for IPv4
//! (RFC 826, timers after RFC 1122 §2.3.2.1) here, neighbour discovery for IPv6 in
//! [`ndp`], both over one cache ([`cache`]); duplicate address detection in [`dad`].
//!
//! The worker feeds received ARP packets to [`Arp::on_arp`] and asks [`Arp::resolve`] for the
//! MAC of a next hop before it writes an Ethernet header. Frames waiting for a resolution are
//! held here (bounded per destination and globally) and come back through [`Arp::poll`] as
//! `Resolved` (send them) or `Failed` (release them): no frame is ever lost. Time is passed
//! in; the caller wakes at [`Arp::poll_at`].
//!
//! Cache lookups and `on_arp` are O(1). `poll` scans the pending resolutions (bounded by the
//! global pending bound, usually empty); evicting from a full cache scans it once per
//! insertion while full (a cache that fills up is a misconfiguration worth counting).

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::time::Instant;
use crate::wire::arp::{ArpRepr, Op};
use crate::wire::ethernet::MacAddr;

pub(crate) mod cache;
pub(crate) mod dad;
// Its user is the client side of TCP over IPv6 (connections the engine opens), not yet
// built: until then only its tests call it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod ndp;

pub use cache::Resolve;
use cache::{Cache, CacheEvent, Limits};

/// ARP configuration.
#[derive(Clone, Debug)]
pub struct ArpConfig {
    /// Our MAC address.
    pub mac: MacAddr,
    /// Our IPv4 addresses with their prefix lengths (on-link subnets).
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// Default gateway for destinations that are not on-link.
    pub gateway: Option<Ipv4Addr>,
    /// Maximum cache entries; the oldest is evicted beyond it.
    pub cache_capacity: usize,
    /// How long a learned entry stays fresh.
    pub entry_lifetime: Duration,
    /// Time between requests for one address.
    pub retry_interval: Duration,
    /// Requests sent in total before giving up (the first one included).
    pub max_requests: u32,
    /// Frames held per unresolved destination.
    pub pending_per_dest: usize,
    /// Frames held over all unresolved destinations.
    pub pending_total: usize,
}

impl ArpConfig {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            capacity: self.cache_capacity,
            entry_lifetime: self.entry_lifetime,
            retry_interval: self.retry_interval,
            max_requests: self.max_requests,
            pending_per_dest: self.pending_per_dest,
            pending_total: self.pending_total,
        }
    }

    /// Defaults: 1024 entries, 60 s lifetime, 1 s retry, 3 requests, 16 frames per
    /// destination, 256 in total.
    pub fn new(mac: MacAddr, addrs: Vec<(Ipv4Addr, u8)>, gateway: Option<Ipv4Addr>) -> Self {
        ArpConfig {
            mac,
            addrs,
            gateway,
            cache_capacity: 1024,
            entry_lifetime: Duration::from_secs(60),
            retry_interval: Duration::from_secs(1),
            max_requests: 3,
            pending_per_dest: 16,
            pending_total: 256,
        }
    }
}

/// Routing failure.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArpError {
    /// Not on-link and no gateway configured.
    NoRoute,
}

/// Something for the caller to do.
#[derive(Debug, PartialEq, Eq)]
pub enum ArpEvent<T> {
    /// Broadcast this request (Ethernet destination ff:ff:ff:ff:ff:ff).
    SendRequest(ArpRepr),
    /// A held frame whose next hop resolved: write the header with `mac` and send.
    Resolved { mac: MacAddr, frame: T },
    /// A held frame whose next hop did not answer: release it (and report unreachable).
    Failed { ip: Ipv4Addr, frame: T },
}

/// ARP cache and resolver for one interface.
#[derive(Debug)]
pub struct Arp<T> {
    cfg: ArpConfig,
    cache: Cache<Ipv4Addr, T>,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl<T> Arp<T> {
    /// A resolver with an empty cache.
    pub fn new(cfg: ArpConfig) -> Self {
        Arp {
            cache: Cache::new(cfg.limits()),
            cfg,
        }
    }

    /// Whether `ip` is one of our addresses.
    pub fn is_ours(&self, ip: Ipv4Addr) -> bool {
        self.cfg.addrs.iter().any(|(a, _)| *a == ip)
    }

    /// Our address on the subnet of `ip`, else the first one.
    fn source_for(&self, ip: Ipv4Addr) -> Ipv4Addr {
        let on = self.cfg.addrs.iter().find(|(a, p)| {
            let m = mask(*p);
            u32::from(*a) & m == u32::from(ip) & m
        });
        on.or(self.cfg.addrs.first())
            .map_or(Ipv4Addr::UNSPECIFIED, |(a, _)| *a)
    }

    /// The next hop for `dst`: itself if on-link, else the gateway.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Result<Ipv4Addr, ArpError> {
        let on_link = self.cfg.addrs.iter().any(|(a, p)| {
            let m = mask(*p);
            u32::from(*a) & m == u32::from(dst) & m
        });
        if on_link {
            Ok(dst)
        } else {
            self.cfg.gateway.ok_or(ArpError::NoRoute)
        }
    }

    /// Cached, fresh MAC for `ip`.
    pub fn lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<MacAddr> {
        self.cache.lookup(now, ip)
    }

    /// Number of cache entries (fresh or not yet evicted).
    #[cfg(test)]
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Frames currently held for pending resolutions.
    #[cfg(test)]
    pub fn pending_frames(&self) -> usize {
        self.cache.pending_frames()
    }

    /// Handle a received ARP packet; returns a reply to emit (unicast to the sender) when it
    /// asks for one of our addresses.
    pub fn on_arp(&mut self, now: Instant, arp: &ArpRepr) -> Option<ArpRepr> {
        let sender_usable = !arp.sender_ip.is_unspecified()
            && !arp.sender_ip.is_broadcast()
            && !arp.sender_ip.is_multicast()
            && arp.sender_mac != [0xff; 6]
            && arp.sender_mac[0] & 1 == 0
            && !self.is_ours(arp.sender_ip);
        // RFC 826 "Packet Reception": update an existing entry for the sender (merge flag)...
        let mut merged = false;
        if sender_usable && self.cache.has_entry(arp.sender_ip) {
            self.cache.insert(now, arp.sender_ip, arp.sender_mac);
            merged = true;
        }
        if !self.is_ours(arp.target_ip) {
            return None;
        }
        // ...and add it if the packet is for us and it was not there.
        if sender_usable && !merged {
            self.cache.insert(now, arp.sender_ip, arp.sender_mac);
        }
        if arp.op == Op::Request {
            return Some(ArpRepr {
                op: Op::Reply,
                sender_mac: self.cfg.mac,
                sender_ip: arp.target_ip,
                target_mac: arp.sender_mac,
                target_ip: arp.sender_ip,
            });
        }
        None
    }

    /// Resolve `next_hop` for `frame`: ready now, queued (a request is scheduled), or
    /// dropped when the destination's or the global pending bound is reached.
    pub fn resolve(&mut self, now: Instant, next_hop: Ipv4Addr, frame: T) -> Resolve<T> {
        self.cache.resolve(now, next_hop, frame)
    }

    /// Next thing to do at `now`, or `None` until [`Arp::poll_at`].
    pub fn poll(&mut self, now: Instant) -> Option<ArpEvent<T>> {
        Some(match self.cache.poll(now)? {
            CacheEvent::Solicit(ip) => ArpEvent::SendRequest(ArpRepr {
                op: Op::Request,
                sender_mac: self.cfg.mac,
                sender_ip: self.source_for(ip),
                target_mac: [0; 6],
                target_ip: ip,
            }),
            CacheEvent::Resolved { mac, frame } => ArpEvent::Resolved { mac, frame },
            CacheEvent::Failed { ip, frame } => ArpEvent::Failed { ip, frame },
        })
    }

    /// When to call [`Arp::poll`] next (`None`: nothing pending).
    pub fn poll_at(&self) -> Option<Instant> {
        self.cache.poll_at()
    }
}

#[cfg(test)]
mod tests;

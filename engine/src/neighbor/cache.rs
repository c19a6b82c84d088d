//! The neighbour cache both resolvers share (ARP for IPv4, neighbour discovery for IPv6):
//! fresh entries by address, frames held per unresolved address (bounded per address and
//! in total), solicitations paced and bounded, held frames released as resolved or failed.
//! The protocol modules only say how to ask and how to learn.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use crate::time::Instant;
use crate::wire::ethernet::MacAddr;

/// The bounds and timers of a cache (see [`super::ArpConfig`] for their defaults).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Limits {
    pub capacity: usize,
    pub entry_lifetime: Duration,
    pub retry_interval: Duration,
    pub max_requests: u32,
    pub pending_per_dest: usize,
    pub pending_total: usize,
}

/// Outcome of [`Cache::resolve`].
#[derive(Debug, PartialEq, Eq)]
pub enum Resolve<T> {
    /// Cached and fresh: write the Ethernet header and send.
    Ready(MacAddr, T),
    /// Held until the address resolves or fails (see the resolver's `poll`).
    Queued,
    /// The pending queue is full: the caller releases the frame (count it).
    Dropped(T),
}

/// Something for the resolver's caller to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CacheEvent<A, T> {
    /// Ask who has `A` (an ARP request, a neighbour solicitation).
    Solicit(A),
    /// A held frame whose next hop resolved.
    Resolved { mac: MacAddr, frame: T },
    /// A held frame whose next hop did not answer.
    Failed { ip: A, frame: T },
}

#[derive(Copy, Clone, Debug)]
struct Entry {
    mac: MacAddr,
    expires: Instant,
}

#[derive(Debug)]
struct Pending<T> {
    frames: VecDeque<T>,
    requests_sent: u32,
    next_request: Instant,
}

/// Addresses to link addresses, with the frames waiting for them.
#[derive(Debug)]
pub(crate) struct Cache<A, T> {
    limits: Limits,
    entries: HashMap<A, Entry>,
    pending: HashMap<A, Pending<T>>,
    pending_frames: usize,
    out: VecDeque<CacheEvent<A, T>>,
}

impl<A: Copy + Eq + Hash, T> Cache<A, T> {
    pub fn new(limits: Limits) -> Self {
        Cache {
            entries: HashMap::with_capacity(limits.capacity.min(1 << 16)),
            pending: HashMap::new(),
            pending_frames: 0,
            out: VecDeque::new(),
            limits,
        }
    }

    /// Cached, fresh MAC for `ip`.
    pub fn lookup(&self, now: Instant, ip: A) -> Option<MacAddr> {
        self.entries
            .get(&ip)
            .filter(|e| now < e.expires)
            .map(|e| e.mac)
    }

    /// Whether `ip` has an entry, fresh or not.
    pub fn has_entry(&self, ip: A) -> bool {
        self.entries.contains_key(&ip)
    }

    /// Whether `ip` has an entry (fresh or not) or a resolution under way.
    pub fn knows(&self, ip: A) -> bool {
        self.has_entry(ip) || self.pending.contains_key(&ip)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn pending_frames(&self) -> usize {
        self.pending_frames
    }

    /// Learns `ip` at `mac`, releasing the frames held for it.
    pub fn insert(&mut self, now: Instant, ip: A, mac: MacAddr) {
        let expires = now + self.limits.entry_lifetime;
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.limits.capacity {
            // Evict the entry closest to expiry (= the oldest learned).
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => return, // capacity 0: cache nothing
            }
        }
        self.entries.insert(ip, Entry { mac, expires });
        if let Some(p) = self.pending.remove(&ip) {
            self.pending_frames -= p.frames.len();
            self.out.extend(
                p.frames
                    .into_iter()
                    .map(|frame| CacheEvent::Resolved { mac, frame }),
            );
        }
    }

    /// Resolve `next_hop` for `frame`: ready now, queued (a solicitation is scheduled), or
    /// dropped when the destination's or the global pending bound is reached.
    pub fn resolve(&mut self, now: Instant, next_hop: A, frame: T) -> Resolve<T> {
        if let Some(mac) = self.lookup(now, next_hop) {
            return Resolve::Ready(mac, frame);
        }
        if self.pending_frames >= self.limits.pending_total {
            return Resolve::Dropped(frame);
        }
        let per_dest = self.limits.pending_per_dest;
        let p = self.pending.entry(next_hop).or_insert_with(|| Pending {
            frames: VecDeque::new(),
            requests_sent: 0,
            next_request: now,
        });
        if p.frames.len() >= per_dest {
            return Resolve::Dropped(frame);
        }
        p.frames.push_back(frame);
        self.pending_frames += 1;
        Resolve::Queued
    }

    /// Next thing to do at `now`, or `None` until [`Cache::poll_at`].
    pub fn poll(&mut self, now: Instant) -> Option<CacheEvent<A, T>> {
        loop {
            if let Some(ev) = self.out.pop_front() {
                return Some(ev);
            }
            let due = self
                .pending
                .iter()
                .filter(|(_, p)| p.next_request <= now)
                .map(|(ip, _)| *ip)
                .next()?;
            let p = self.pending.get_mut(&due)?;
            if p.requests_sent >= self.limits.max_requests {
                // RFC 1122 2.3.2.1, RFC 4861 7.3.3: give up after a bounded number of
                // solicitations; release the frames.
                let p = self.pending.remove(&due)?;
                self.pending_frames -= p.frames.len();
                self.out.extend(
                    p.frames
                        .into_iter()
                        .map(|frame| CacheEvent::Failed { ip: due, frame }),
                );
                continue;
            }
            p.requests_sent += 1;
            // RFC 1122 2.3.2.1: at most one request per second per destination (RFC 4861
            // 7.2.2: one solicitation per RetransTimer).
            p.next_request = now + self.limits.retry_interval;
            return Some(CacheEvent::Solicit(due));
        }
    }

    /// When to call [`Cache::poll`] next (`None`: nothing pending).
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.out.is_empty() {
            return Some(Instant::ZERO);
        }
        self.pending.values().map(|p| p.next_request).min()
    }
}

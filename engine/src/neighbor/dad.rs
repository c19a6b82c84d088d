//! Sans-IO duplicate address detection (RFC 4862 5.4) for the engine's owned IPv6
//! addresses, before they are used.
//!
//! For each address: DupAddrDetectTransmits neighbour solicitations from `::` to its
//! solicited-node group (5.4.2), RetransTimer apart, then RetransTimer more of silence
//! and it is unique. A solicitation from `::` or an advertisement for the address in
//! that time ([`crate::iface::Action::DadConflict`], 5.4.3 and 5.4.4) makes it a
//! duplicate: the caller is told through [`Dad::conflict`] and must not use it (5.4.5).
//!
//! Not done: the random delay before the first probe (5.4.2 asks for it when many nodes
//! start at once, on interface initialisation) and joining the solicited-node group with
//! MLD (the steering program takes the group's frames without it; a switch snooping MLD
//! would need it).

use std::net::Ipv6Addr;
use std::time::Duration;

use crate::time::Instant;

/// Duplicate address detection settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DadConfig {
    /// RFC 4862 5.1 DupAddrDetectTransmits: solicitations per address (default 1; 0
    /// turns detection off).
    pub transmits: u32,
    /// RFC 4861 10 RetransTimer: time between them and after the last (default 1 s).
    pub retrans_timer: Duration,
}

impl Default for DadConfig {
    fn default() -> Self {
        DadConfig {
            transmits: 1,
            retrans_timer: Duration::from_secs(1),
        }
    }
}

/// Something for the caller to do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DadEvent {
    /// Send a neighbour solicitation for this address from `::` to its solicited-node
    /// group, without a link-layer address option (RFC 4862 5.4.2).
    Probe(Ipv6Addr),
    /// No other node answered: the address is unique and may be used.
    Unique(Ipv6Addr),
}

#[derive(Copy, Clone, Debug)]
struct Probe {
    addr: Ipv6Addr,
    sent: u32,
    next: Instant,
}

/// Duplicate address detection for a set of tentative addresses.
#[derive(Debug)]
pub struct Dad {
    cfg: DadConfig,
    probes: Vec<Probe>,
}

impl Dad {
    /// Starts detection at `now` for `addrs`.
    pub fn new(cfg: DadConfig, addrs: impl IntoIterator<Item = Ipv6Addr>, now: Instant) -> Dad {
        Dad {
            cfg,
            probes: addrs
                .into_iter()
                .map(|addr| Probe {
                    addr,
                    sent: 0,
                    next: now,
                })
                .collect(),
        }
    }

    /// Next thing to do at `now`, or `None` until [`Dad::poll_at`].
    pub fn poll(&mut self, now: Instant) -> Option<DadEvent> {
        let i = self.probes.iter().position(|p| p.next <= now)?;
        let p = &mut self.probes[i];
        if p.sent >= self.cfg.transmits {
            let addr = p.addr;
            self.probes.swap_remove(i);
            return Some(DadEvent::Unique(addr));
        }
        p.sent += 1;
        p.next = now + self.cfg.retrans_timer;
        Some(DadEvent::Probe(p.addr))
    }

    /// When to call [`Dad::poll`] next (`None`: every address is decided).
    pub fn poll_at(&self) -> Option<Instant> {
        self.probes.iter().map(|p| p.next).min()
    }

    /// Another node has `addr` (RFC 4862 5.4.3, 5.4.4): stop detecting it. Returns whether
    /// it was under detection (a conflict for an address already unique is not one).
    pub fn conflict(&mut self, addr: Ipv6Addr) -> bool {
        let before = self.probes.len();
        self.probes.retain(|p| p.addr != addr);
        self.probes.len() != before
    }

    /// Whether every address is decided.
    pub fn is_done(&self) -> bool {
        self.probes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain(d: &mut Dad, now: Instant) -> Vec<DadEvent> {
        let mut v = Vec::new();
        while let Some(e) = d.poll(now) {
            v.push(e);
            assert!(v.len() < 100);
        }
        v
    }

    #[test]
    fn one_probe_then_retrans_timer_of_silence_makes_it_unique() {
        let mut d = Dad::new(DadConfig::default(), [A], t(0));
        assert_eq!(drain(&mut d, t(0)), vec![DadEvent::Probe(A)]);
        assert_eq!(d.poll_at(), Some(t(1000)));
        assert!(drain(&mut d, t(999)).is_empty());
        assert!(!d.is_done());
        assert_eq!(drain(&mut d, t(1000)), vec![DadEvent::Unique(A)]);
        assert!(d.is_done());
        assert_eq!(d.poll_at(), None);
    }

    #[test]
    fn several_transmits_are_retrans_timer_apart() {
        let cfg = DadConfig {
            transmits: 3,
            retrans_timer: Duration::from_millis(500),
        };
        let mut d = Dad::new(cfg, [A], t(0));
        let mut log = Vec::new();
        for ms in (0..=2000).step_by(100) {
            for e in drain(&mut d, t(ms)) {
                log.push((ms, e));
            }
        }
        assert_eq!(
            log,
            vec![
                (0, DadEvent::Probe(A)),
                (500, DadEvent::Probe(A)),
                (1000, DadEvent::Probe(A)),
                (1500, DadEvent::Unique(A)),
            ]
        );
    }

    #[test]
    fn a_conflict_stops_detection_of_that_address_only() {
        let mut d = Dad::new(DadConfig::default(), [A, B], t(0));
        assert_eq!(drain(&mut d, t(0)).len(), 2);
        assert!(d.conflict(A));
        assert!(!d.conflict(A));
        assert_eq!(drain(&mut d, t(1000)), vec![DadEvent::Unique(B)]);
        // After it was found unique, a conflict is not one for detection.
        assert!(!d.conflict(B));
    }

    #[test]
    fn zero_transmits_is_detection_off() {
        let cfg = DadConfig {
            transmits: 0,
            ..DadConfig::default()
        };
        let mut d = Dad::new(cfg, [A], t(5));
        assert_eq!(drain(&mut d, t(5)), vec![DadEvent::Unique(A)]);
    }
}

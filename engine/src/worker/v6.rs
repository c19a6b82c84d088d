//! IPv6 address state in the loop. Duplicate address detection (RFC 4862 5.4) runs before
//! an owned address is used: the first worker sends the probes and decides "unique" when
//! the time is up; any worker may receive the answer that makes it a duplicate (the
//! steering program spreads frames over queues). The outcome is shared through
//! [`Addrs6`], which every worker reads once per turn (one atomic load when nothing
//! changed) and applies to its own `Iface`; the runtime waits on it before it declares
//! the engine started, and fails the start on a duplicate.
//!
//! Also here: what the loop does with the `Iface`'s IPv6 actions (TCP segments for the
//! host, packet-too-big for a connection, neighbour advertisements for the host's
//! resolver, shared with the other workers as ARP replies are).

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use super::tx::DevTx;
use super::Worker;
use crate::host::{Disposition, Tx};
use crate::iface::{Action, TcpIn6};
use crate::io::Device;
use crate::neighbor::dad::{Dad, DadEvent};
use crate::tcp::{SeqNum, Tuple};
use crate::time::Instant;
use crate::wire::ethernet::MacAddr;
use crate::wire::icmpv6::{NdpRepr, NDP_HOP_LIMIT};
use crate::wire::ipv6::solicited_node;

/// Where duplicate address detection stands for one address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AddrState {
    /// Detection under way: the address is not used.
    Tentative,
    /// No other node has it: in use.
    Unique,
    /// Another node has it: never used (RFC 4862 5.4.5).
    Duplicate,
}

impl AddrState {
    fn from_u8(v: u8) -> AddrState {
        match v {
            1 => AddrState::Unique,
            2 => AddrState::Duplicate,
            _ => AddrState::Tentative,
        }
    }
}

/// The engine's owned IPv6 addresses and their detection outcome, shared by its workers.
#[derive(Debug)]
pub struct Addrs6 {
    states: Vec<(Ipv6Addr, AtomicU8)>,
    /// Bumped on every change, so a worker looks only when something changed.
    changes: AtomicU64,
}

impl Addrs6 {
    /// `addrs`, all tentative.
    pub fn new(addrs: impl IntoIterator<Item = Ipv6Addr>) -> Arc<Addrs6> {
        Arc::new(Addrs6 {
            states: addrs.into_iter().map(|a| (a, AtomicU8::new(0))).collect(),
            changes: AtomicU64::new(0),
        })
    }

    /// Every address with its state.
    pub fn states(&self) -> Vec<(Ipv6Addr, AddrState)> {
        self.states
            .iter()
            .map(|(a, s)| (*a, AddrState::from_u8(s.load(Ordering::Acquire))))
            .collect()
    }

    /// Whether every address is decided (unique or duplicate).
    pub fn decided(&self) -> bool {
        // Read by every worker each turn until true: no allocation.
        self.states
            .iter()
            .all(|(_, s)| AddrState::from_u8(s.load(Ordering::Acquire)) != AddrState::Tentative)
    }

    /// Moves tentative `addr` to `to`; false if it was already decided (the first
    /// decision stands: a conflict after "unique" is not one for detection).
    fn decide(&self, addr: Ipv6Addr, to: AddrState) -> bool {
        let Some((_, s)) = self.states.iter().find(|(a, _)| *a == addr) else {
            return false;
        };
        let won = s
            .compare_exchange(0, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.changes.fetch_add(1, Ordering::Release);
        }
        won
    }
}

/// A worker's part in detection.
#[derive(Debug)]
pub(super) struct V6 {
    shared: Arc<Addrs6>,
    /// The prober's state machine (the first worker only).
    dad: Option<Dad>,
    /// `shared.changes` when last applied.
    seen: u64,
}

impl<D: Device> Worker<D> {
    /// Takes part in duplicate address detection for the owned IPv6 addresses in `shared`
    /// (tentative in this worker's `Iface`); `dad` is given to one worker, which probes.
    pub fn with_ipv6(mut self, shared: Arc<Addrs6>, dad: Option<Dad>) -> Worker<D> {
        self.v6 = Some(V6 {
            shared,
            dad,
            seen: u64::MAX,
        });
        self
    }

    /// One turn: send due probes, decide what is due, apply what other workers decided.
    /// Returns whether a frame was sent.
    pub(super) fn v6_turn(&mut self, now: Instant) -> bool {
        let Worker {
            dev,
            iface,
            pcap,
            v6,
            ..
        } = self;
        let Some(v6) = v6 else {
            return false;
        };
        let mut sent = false;
        if let Some(dad) = &mut v6.dad {
            while let Some(ev) = dad.poll(now) {
                match ev {
                    DadEvent::Probe(addr) => {
                        let mac = iface.mac();
                        let mut tx = DevTx {
                            dev: &mut *dev,
                            pcap,
                            counters: &mut iface.counters,
                        };
                        sent |= tx.send(&mut |buf: &mut [u8]| probe(buf, mac, addr));
                        iface.counters.dad_probes += 1;
                    }
                    DadEvent::Unique(addr) => {
                        v6.shared.decide(addr, AddrState::Unique);
                    }
                }
            }
        }
        let changes = v6.shared.changes.load(Ordering::Acquire);
        if changes != v6.seen {
            v6.seen = changes;
            for (addr, state) in v6.shared.states() {
                match state {
                    AddrState::Tentative => {}
                    AddrState::Unique => iface.confirm_ipv6(addr),
                    AddrState::Duplicate => {
                        iface.remove_ipv6(addr);
                        if let Some(dad) = &mut v6.dad {
                            dad.conflict(addr);
                        }
                    }
                }
            }
        }
        sent
    }

    /// This worker's `Iface` saw another node with tentative `addr`.
    pub(super) fn dad_conflict(&mut self, addr: std::net::Ipv6Addr) {
        if let Some(v6) = &self.v6 {
            v6.shared.decide(addr, AddrState::Duplicate);
        }
    }

    /// An IPv6 action of the `Iface` for frame `f` (received here); returns what to do
    /// with the frame.
    pub(super) fn v6_frame(&mut self, now: Instant, a: Action, f: &mut D::Frame) -> Action {
        match a {
            Action::Tcp6(t) => {
                let reply = self.through_host_reading(f, t.payload.0..t.payload.1, |h, p, tx| {
                    h.on_segment6(now, &t.meta, &t.repr, p, tx)
                });
                match reply.unwrap_or(Disposition::Reset) {
                    Disposition::Done | Disposition::Dropped => Action::Drop,
                    Disposition::Reset => self.iface.reset6(self.dev.buf_mut(f), &t),
                    Disposition::Forward(w) => {
                        self.forward(w, f);
                        Action::Drop
                    }
                }
            }
            Action::PathMtu6 { tuple, seq, mtu } => {
                self.path_mtu(now, tuple.into(), seq, mtu);
                Action::Drop
            }
            Action::Neighbor6 { ip, mac } => {
                self.neighbor6(now, ip, mac);
                // Every worker resolves next hops for its own connections: tell the others.
                let bytes = self.dev.data(f).to_vec();
                self.tell_peers(&bytes);
                Action::Drop
            }
            a => a,
        }
    }

    /// An IPv6 TCP segment carrying `payload`.
    pub(super) fn segment6(&mut self, now: Instant, t: &TcpIn6, payload: &[u8]) -> Disposition {
        self.through_host(|h, tx| h.on_segment6(now, &t.meta, &t.repr, payload, tx))
            .unwrap_or(Disposition::Reset)
    }

    /// ICMP "fragmentation needed" or ICMPv6 "packet too big" for connection `tuple`.
    pub(super) fn path_mtu(&mut self, now: Instant, tuple: Tuple, seq: SeqNum, mtu: u16) {
        self.through_host(|h, tx| h.on_path_mtu(now, tuple, seq, mtu, tx));
    }

    /// IPv6 neighbour `ip` is at `mac`: the host's resolver learns it.
    pub(super) fn neighbor6(&mut self, now: Instant, ip: Ipv6Addr, mac: MacAddr) {
        self.through_host(|h, tx| h.on_neighbor6(now, ip, mac, tx));
    }

    /// Duplicate address detection is still under way: the application does not start
    /// yet (what it sent from a tentative address would get no answer: RFC 4862 5.4).
    pub(super) fn v6_pending(&self) -> bool {
        self.v6.as_ref().is_some_and(|v6| !v6.shared.decided())
    }

    /// When the prober next has something to do.
    pub(super) fn v6_deadline(&self) -> Option<Instant> {
        self.v6.as_ref()?.dad.as_ref()?.poll_at()
    }
}

/// RFC 4862 5.4.2: a solicitation for `addr` from `::` to its solicited-node group, no
/// link-layer address option.
fn probe(buf: &mut [u8], mac: crate::wire::ethernet::MacAddr, addr: Ipv6Addr) -> usize {
    let ip = crate::frame::Ip6 {
        src: Ipv6Addr::UNSPECIFIED,
        dst: solicited_node(addr),
        hop_limit: NDP_HOP_LIMIT,
    };
    let ns = NdpRepr::NeighborSolicit {
        target: addr,
        source_lladdr: None,
    };
    crate::frame::ndp(buf, mac, None, &ip, &ns)
}

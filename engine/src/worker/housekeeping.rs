//! The worker's housekeeping between turns: memory a burst of connections grew, given
//! back once it is over, and the liveness sweep after kernel drops.

use std::time::Duration;

use super::tx::DevTx;
use super::Worker;
use crate::io::Device;
use crate::time::Instant;

/// A liveness sweep starts this long after the last kernel drop (the burst is over, so
/// the answers are not dropped in turn), at most once per `SWEEP_EVERY`, and probes
/// `SWEEP_BUDGET` connections per `SWEEP_TURN` (25,600 a second).
const SWEEP_AFTER: Duration = Duration::from_secs(1);
const SWEEP_EVERY: Duration = Duration::from_secs(5);
pub(super) const SWEEP_TURN: Duration = Duration::from_millis(10);
const SWEEP_BUDGET: usize = 256;

/// What the worker knows of the frames the kernel dropped before it saw them.
#[derive(Debug, Default)]
pub(super) struct Liveness {
    /// RX drops (ring full, no frame) counted so far.
    drops: u64,
    /// When the count last grew, until a sweep starts.
    drops_at: Option<Instant>,
    /// When the last sweep started, and its last turn.
    started: Option<Instant>,
    turn: Option<Instant>,
}

/// Connections a worker must have held before it gives their containers back once none
/// is left (`Host::release_idle_memory`): below, they are not worth reallocating.
const IDLE_RELEASE_AFTER: u64 = 4096;

impl Liveness {
    /// Drops were seen and no sweep has started for them yet.
    pub(super) fn pending(&self) -> bool {
        self.drops_at.is_some()
    }
}

impl<D: Device> Worker<D> {
    /// After the counters were published: whether the kernel dropped frames since.
    pub(super) fn note_drops(&mut self, now: Instant) {
        let c = &self.iface.counters;
        let drops = c.xsk_rx_dropped + c.xsk_rx_ring_full;
        if drops > self.liveness.drops {
            self.liveness.drops = drops;
            self.liveness.drops_at = Some(now);
        }
    }

    /// Once a second: buffers the pool kept through a whole second unused go back to the
    /// allocator, and when that freed a lot or the host holds far fewer connections than
    /// at the last call (a mass close), the allocator's free pages go back to the kernel.
    /// Takes and returns the number of connections held at the last call.
    pub(super) fn trim_memory(&mut self, held_before: u64) -> u64 {
        let released = crate::tcp::buffer::trim_pool();
        let held = self.host.as_ref().map_or(0, |h| h.connections() as u64);
        // After a burst of connections ended: the containers it grew, once all are gone.
        self.conns_peak = self.conns_peak.max(held_before).max(held);
        let emptied = held == 0
            && self.conns_peak >= IDLE_RELEASE_AFTER
            && self.host.as_mut().is_some_and(|h| h.release_idle_memory());
        if emptied {
            self.conns_peak = 0;
        }
        if released >= 4 << 20 || held_before.saturating_sub(held) >= 4096 || emptied {
            crate::heap::release();
        }
        held
    }

    /// After the kernel dropped frames the engine never saw, asks every quiet connection
    /// whether its peer still has it (`Host::start_liveness_sweep`): a dropped FIN, or the
    /// single RST of a peer that gave up an orphaned connection, would otherwise leave it
    /// held until an idle timeout. Paced: see `SWEEP_AFTER`.
    pub(super) fn liveness_sweep(&mut self, now: Instant) {
        let Worker {
            dev,
            iface,
            host,
            pcap,
            liveness: l,
            rx_backlog,
            ..
        } = self;
        let Some(h) = host else {
            return;
        };
        if let Some(at) = l.drops_at {
            let rested = l.started.is_none_or(|t| now - t >= SWEEP_EVERY);
            // Not while the RX backlog holds frames: those peers are heard from yet.
            if now - at >= SWEEP_AFTER && rested && !h.sweeping() && rx_backlog.is_empty() {
                h.start_liveness_sweep(at);
                l.started = Some(now);
                l.drops_at = None;
            }
        }
        if h.sweeping() && l.turn.is_none_or(|t| now - t >= SWEEP_TURN) {
            let mut tx = DevTx {
                dev,
                pcap,
                counters: &mut iface.counters,
            };
            h.sweep(now, SWEEP_BUDGET, &mut tx);
            l.turn = Some(now);
            dev.flush_tx();
        }
    }
}

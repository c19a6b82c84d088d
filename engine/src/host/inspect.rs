//! What an operator may read of a worker's connections (`fastpath ss`), in chunks: each
//! call visits a bounded number of slab slots, so a worker answering a listing between
//! two batches never holds its loop for long, however many connections it has.

use super::*;
use crate::tcp::ConnInfo;

/// One connection of a listing: where it lives, who drives it, and its TCP state.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConnEntry {
    /// The worker holding it.
    pub worker: u16,
    /// Its slot in that worker's slab.
    pub slot: u32,
    /// "server" (accepted by a listener) or "client" (opened by the application).
    pub role: &'static str,
    /// Its TCP state.
    #[serde(flatten)]
    pub info: ConnInfo,
}

/// How many connections a worker holds, for live gauges.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostGauges {
    /// Connections held, TIME_WAIT included.
    pub connections: usize,
    /// Of those, in TIME_WAIT.
    pub time_wait: usize,
    /// Slots in the slab (held + free), the high-water mark of connections.
    pub slots: usize,
    /// Deadlines in the timer wheel.
    pub timer_entries: usize,
    /// Request latency so far (cumulative since start).
    pub latency: super::LatencyHistogram,
}

impl Host {
    /// Appends to `out` the connections in slots `from..from + max_slots`; returns the
    /// slot to continue from, or `None` when the slab has been walked to its end.
    pub fn list_connections(
        &self,
        now: Instant,
        from: usize,
        max_slots: usize,
        out: &mut Vec<ConnEntry>,
    ) -> Option<usize> {
        let end = from.saturating_add(max_slots.max(1)).min(self.slab.len());
        for slot in from.min(end)..end {
            if let Some(e) = &self.slab[slot] {
                out.push(ConnEntry {
                    worker: self.worker,
                    slot: slot as u32,
                    role: match e.role {
                        Role::Server(_) => "server",
                        Role::Client(_) => "client",
                    },
                    info: e.conn.info(now),
                });
            }
        }
        (end < self.slab.len()).then_some(end)
    }

    /// Counts kept as the host runs (no walk over the connections).
    pub fn gauges(&self) -> HostGauges {
        HostGauges {
            connections: self.live,
            time_wait: self.time_wait,
            slots: self.slab.len(),
            timer_entries: self.timers.len(),
            latency: self.latency,
        }
    }
}

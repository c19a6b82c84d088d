//! What workers share: the stop signal, and the queues between them (frames for a
//! connection another worker owns, loopback segments between the engine's own addresses),
//! with the worker's side of the handoffs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::Worker;
use crate::afxdp::Waker;
use crate::host::LoopSegment;
use crate::io::Device;
use crate::time::Instant;

/// Tells workers to stop, and how long in-flight responses may then take to finish.
/// Shared by the runtime and every worker; read once per loop iteration.
#[derive(Debug, Default)]
pub struct StopSignal {
    requested: AtomicBool,
    grace_micros: AtomicU64,
}

impl StopSignal {
    pub fn new() -> Arc<StopSignal> {
        Arc::new(StopSignal::default())
    }

    /// Asks every worker to stop accepting and to finish within `grace`.
    pub fn request(&self, grace: Duration) {
        let micros = u64::try_from(grace.as_micros()).unwrap_or(u64::MAX);
        self.grace_micros.store(micros, Ordering::Relaxed);
        // Release: a worker that sees the request sees its grace.
        self.requested.store(true, Ordering::Release);
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// The grace of the request.
    pub fn grace(&self) -> Duration {
        Duration::from_micros(self.grace_micros.load(Ordering::Relaxed))
    }
}

/// Queues between workers: frames for a connection another worker owns, and loopback
/// segments (the in-memory path between the engine's own addresses).
pub struct Handoff {
    pub inbox: Receiver<Vec<u8>>,
    pub peers: Vec<Sender<Vec<u8>>>,
    /// Loopback segments for this worker's connections and listeners.
    pub loop_inbox: Receiver<LoopSegment>,
    pub loop_peers: Vec<Sender<LoopSegment>>,
    /// Every worker's waker (a sleeping worker is woken when something is queued for it).
    pub wakers: Vec<Arc<Waker>>,
    /// This worker's index.
    pub me: usize,
}

impl Handoff {
    /// One bounded handoff queue (`depth`) and one bounded loopback inbox (`loop_depth`)
    /// per worker; each worker gets its own and every sender.
    pub fn mesh(workers: usize, depth: usize, loop_depth: usize) -> std::io::Result<Vec<Handoff>> {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| crossbeam_channel::bounded(depth))
            .unzip();
        let (ltxs, lrxs): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| crossbeam_channel::bounded(loop_depth.max(1)))
            .unzip();
        let wakers = (0..workers)
            .map(|_| Waker::new().map(Arc::new))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(rxs
            .into_iter()
            .zip(lrxs)
            .enumerate()
            .map(|(me, (inbox, loop_inbox))| Handoff {
                inbox,
                peers: txs.clone(),
                loop_inbox,
                loop_peers: ltxs.clone(),
                wakers: wakers.clone(),
                me,
            })
            .collect())
    }
}

/// Handoffs waiting for room in a full peer queue, at most this many (then dropped and
/// counted; TCP retransmits).
const HANDOFF_BACKLOG: usize = 65_536;

impl<D: Device> Worker<D> {
    /// Frames other workers received for our connections.
    pub(super) fn handoffs(&mut self, now: Instant) -> bool {
        let Some(h) = &self.handoff else {
            return false;
        };
        if h.inbox.is_empty() {
            // The common case, checked without the channel's receive path.
            return false;
        }
        let inbox = h.inbox.clone();
        let mut any = false;
        for _ in 0..self.cfg.batch {
            let Ok(mut bytes) = inbox.try_recv() else {
                break;
            };
            any = true;
            self.iface.counters.handoff_in += 1;
            let len = bytes.len();
            bytes.resize(len.max(super::rx::FRAME_MAX), 0);
            // Counted and captured by the worker that received it; an ARP frame is
            // learned, not passed on again; a segment whose owner changed again is
            // dropped rather than bounced around.
            self.bytes_frame(&mut bytes, len, now, true);
        }
        any
    }

    /// Every worker resolves next hops for its own connections: an ARP frame one worker
    /// received is handed to the others too.
    pub(super) fn tell_peers(&self, frame: &[u8]) {
        if let Some(h) = &self.handoff {
            for w in 0..h.peers.len() {
                if w != h.me && h.peers[w].try_send(frame.to_vec()).is_ok() {
                    h.wakers[w].wake();
                }
            }
        }
    }

    pub(super) fn forward(&mut self, to: u16, f: &D::Frame) {
        let bytes = self.dev.data(f).to_vec();
        self.forward_bytes(to, bytes);
    }

    pub(super) fn forward_bytes(&mut self, to: u16, bytes: Vec<u8>) {
        if !self.handoff_backlog.is_empty() {
            // Keep the order: behind what is already waiting.
            self.backlog_handoff(to, bytes);
            return;
        }
        self.try_handoff(to, bytes);
    }

    /// Sends to the owner's queue; a full queue keeps the frame in the backlog.
    fn try_handoff(&mut self, to: u16, bytes: Vec<u8>) -> bool {
        let Some(peer) = self.handoff.as_ref().and_then(|h| h.peers.get(to as usize)) else {
            self.iface.counters.handoff_dropped += 1;
            return true;
        };
        match peer.try_send(bytes) {
            Ok(()) => {
                self.iface.counters.handoff_out += 1;
                if let Some(h) = &self.handoff {
                    h.wakers[to as usize].wake();
                }
                true
            }
            Err(TrySendError::Full(bytes)) => {
                self.backlog_handoff(to, bytes);
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                // The owner has stopped: nothing will read it.
                self.iface.counters.handoff_dropped += 1;
                true
            }
        }
    }

    fn backlog_handoff(&mut self, to: u16, bytes: Vec<u8>) {
        if self.handoff_backlog.len() >= HANDOFF_BACKLOG {
            self.iface.counters.handoff_dropped += 1;
        } else {
            self.handoff_backlog.push_back((to, bytes));
        }
    }

    /// Retries handoffs that found a full queue. Returns whether any went.
    pub(super) fn retry_handoffs(&mut self) -> bool {
        let mut any = false;
        while let Some((to, bytes)) = self.handoff_backlog.pop_front() {
            let Some(peer) = self.handoff.as_ref().and_then(|h| h.peers.get(to as usize)) else {
                continue;
            };
            match peer.try_send(bytes) {
                Ok(()) => {
                    self.iface.counters.handoff_out += 1;
                    if let Some(h) = &self.handoff {
                        h.wakers[to as usize].wake();
                    }
                    any = true;
                }
                Err(TrySendError::Full(bytes)) => {
                    self.handoff_backlog.push_front((to, bytes));
                    break;
                }
                Err(TrySendError::Disconnected(_)) => self.iface.counters.handoff_dropped += 1,
            }
        }
        any
    }
}

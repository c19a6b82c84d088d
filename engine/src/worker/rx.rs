//! Receiving: the RX ring in batches, the RX backlog when the ring backs up
//! (`backlog.rs`), and the path for frames held as bytes (from the backlog, or handed over
//! by another worker).

use super::backlog::Queued;
use super::tx::capture;
use super::{Worker, RX_BURST_BATCHES};
use crate::host::Disposition;
use crate::iface::Action;
use crate::io::Device;
use crate::time::Instant;

/// The largest frame a device hands the worker (an AF_XDP frame's room).
pub(super) const FRAME_MAX: usize = 4096;

/// Batches a turn answers from the RX backlog: few, so the ring is emptied into the
/// backlog every few milliseconds even at tens of microseconds a frame (a peer's
/// retransmissions come in waves that fill a ring within milliseconds).
const BACKLOG_BATCHES: usize = 2;

/// Reads the first two cache lines (the headers, and a request's start) of every frame of
/// a batch before any is handled. The
/// kernel wrote them on another core: the first touch of each is a cache miss (nearly
/// all of `Iface::handle`'s time in the connection-per-request profile), and independent
/// loads issued together wait for their misses in parallel rather than one by one.
fn touch_headers<D: Device>(dev: &D, batch: &[D::Frame]) {
    let mut x = 0u8;
    for f in batch {
        let d = dev.data(f);
        x ^= d.first().copied().unwrap_or(0) ^ d.get(64).copied().unwrap_or(0);
    }
    std::hint::black_box(x);
}

/// What a turn's receive did.
pub(super) struct Received {
    /// Frames were handled.
    pub(super) worked: bool,
    /// Frames are still waiting: in the ring (the turn stopped at its bound) or in the
    /// backlog.
    pub(super) backed_up: bool,
}

impl<D: Device> Worker<D> {
    /// One turn's receive. Normally up to `RX_BURST_BATCHES` batches straight from the
    /// ring. A ring still full after them spills into the backlog; while the backlog holds
    /// frames, the ring is emptied into it first (frames back to the kernel at once, order
    /// kept) and the turn answers a bounded number from the backlog's front.
    pub(super) fn receive(&mut self, now: Instant) -> Received {
        // What is in the ring arrived after the ring was last found empty, and that is
        // all the worker can know of when: the time a backlog entry carries, so that a
        // timer holds back for it only if it may have arrived before the deadline.
        let arrived_after = self.ring_emptied_at;
        if !self.rx_backlog.is_empty() {
            self.spill(now, arrived_after);
            let worked = self.drain_backlog(now, BACKLOG_BATCHES * self.cfg.batch);
            return Received {
                worked,
                backed_up: true,
            };
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let mut worked = false;
        // A full batch means the RX ring backs up (a burst: a flash crowd, a mass close).
        // With the backlog, a second full batch moves the rest of the ring there (a copy
        // costs a hundredth of handling the frame, and the ring is free again at once).
        // Without it, take up to RX_BURST_BATCHES batches before transmitting: in copy mode
        // a TX kick runs the peer's receive on this core, so draining first is what keeps
        // the ring from overflowing; the replies wait on the TX ring meanwhile.
        let mut backed_up = false;
        let in_place = if self.rx_backlog.enabled() {
            BACKLOG_BATCHES
        } else {
            RX_BURST_BATCHES
        };
        for _ in 0..in_place {
            let n = self.dev.recv(&mut batch, self.cfg.batch);
            if n == 0 {
                break;
            }
            worked = true;
            self.turn.rx += n as u64;
            touch_headers(&self.dev, &batch);
            for f in batch.drain(..) {
                self.frame(f, now);
            }
            backed_up = n == self.cfg.batch;
            if !backed_up {
                break;
            }
        }
        self.batch = batch;
        if !backed_up {
            self.ring_emptied_at = now;
        } else if self.rx_backlog.enabled() {
            self.spill(now, arrived_after);
        }
        Received { worked, backed_up }
    }

    /// Moves every frame in the RX ring into the backlog, as long as the backlog has room,
    /// and gives the frames back to the kernel; each is recorded as arrived at `arrived`.
    fn spill(&mut self, now: Instant, arrived: Instant) {
        let mut batch = std::mem::take(&mut self.batch);
        let mut moved = false;
        loop {
            if !self.rx_backlog.has_room(self.cfg.batch, FRAME_MAX) {
                // Full: what is left stays in the ring (where the kernel counts what it
                // drops) until the backlog shrinks.
                self.iface.counters.rx_backlog_full += 1;
                break;
            }
            batch.clear();
            let n = self.dev.recv(&mut batch, self.cfg.batch);
            moved |= n > 0;
            self.turn.rx += n as u64;
            for f in batch.drain(..) {
                let data = self.dev.data(&f);
                let c = &mut self.iface.counters;
                c.rx_frames += 1;
                c.rx_bytes += data.len() as u64;
                capture(&self.pcap, data);
                match self.rx_backlog.push(arrived, data) {
                    Queued::Frame => c.rx_backlog_frames += 1,
                    Queued::Merged => {
                        c.rx_backlog_frames += 1;
                        c.rx_backlog_acks_merged += 1;
                    }
                    Queued::Copy => c.rx_backlog_duplicates += 1,
                }
                self.dev.release(f);
            }
            // The frames go straight back to the kernel to receive into.
            self.dev.refill();
            if n < self.cfg.batch {
                self.ring_emptied_at = now;
                break;
            }
        }
        self.batch = batch;
        if moved {
            let c = &mut self.iface.counters;
            c.rx_backlog_peak_bytes = c.rx_backlog_peak_bytes.max(self.rx_backlog.bytes() as u64);
        }
    }

    /// Frames in the RX backlog.
    #[cfg(test)]
    pub(crate) fn rx_backlog_len(&self) -> usize {
        self.rx_backlog.len()
    }

    /// Handles up to `max` frames from the backlog's front. Returns whether any was.
    fn drain_backlog(&mut self, now: Instant, max: usize) -> bool {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.resize(FRAME_MAX, 0);
        let mut any = false;
        for _ in 0..max {
            let Some(len) = self.rx_backlog.pop_into(&mut buf) else {
                break;
            };
            any = true;
            self.bytes_frame(&mut buf, len, now, false);
        }
        self.scratch = buf;
        any
    }

    /// A received frame held as bytes: `buf` is its room (replies are written in place),
    /// the frame its first `len` bytes. `from_peer`: another worker handed it over (it
    /// was captured and counted there, and is not handed on again).
    pub(super) fn bytes_frame(
        &mut self,
        buf: &mut [u8],
        len: usize,
        now: Instant,
        from_peer: bool,
    ) {
        match self.iface.handle(buf, len) {
            Action::Tcp(t) => match self.segment(now, &t, &buf[t.payload.0..t.payload.1]) {
                Disposition::Reset => {
                    if let Action::Transmit(n) = self.iface.reset(buf, &t) {
                        self.send_copy(&buf[..n]);
                    }
                }
                Disposition::Forward(_) if from_peer => self.iface.counters.handoff_dropped += 1,
                Disposition::Forward(w) => self.forward_bytes(w, buf[..len].to_vec()),
                Disposition::Done | Disposition::Dropped => {}
            },
            Action::Transmit(n) => self.send_copy(&buf[..n]),
            Action::Neighbor(arp) => {
                self.neighbor(now, &arp);
                if !from_peer {
                    self.tell_peers(&buf[..len]);
                }
            }
            Action::Tcp6(t) => match self.segment6(now, &t, &buf[t.payload.0..t.payload.1]) {
                Disposition::Reset => {
                    if let Action::Transmit(n) = self.iface.reset6(buf, &t) {
                        self.send_copy(&buf[..n]);
                    }
                }
                Disposition::Forward(_) if from_peer => self.iface.counters.handoff_dropped += 1,
                Disposition::Forward(w) => self.forward_bytes(w, buf[..len].to_vec()),
                Disposition::Done | Disposition::Dropped => {}
            },
            Action::PathMtu { tuple, seq, mtu } => self.path_mtu(now, tuple.into(), seq, mtu),
            Action::PathMtu6 { tuple, seq, mtu } => self.path_mtu(now, tuple.into(), seq, mtu),
            Action::Neighbor6 { ip, mac } => {
                self.neighbor6(now, ip, mac);
                if !from_peer {
                    self.tell_peers(&buf[..len]);
                }
            }
            Action::DadConflict(addr) => self.dad_conflict(addr),
            Action::Drop => {}
        }
    }
}

//! An in-memory link joining two devices, for running whole engines in tests without a
//! NIC or root: what one end transmits, the other receives. Each end owns a pool of
//! frames accounted like an AF_XDP UMEM (free, lent to receive, in use, queued to send),
//! and bytes cross the link by copy, as AF_XDP copy mode does. Seeded loss and reordering
//! make a bad network that replays exactly.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use super::Device;
use crate::afxdp::{FrameAccounting, Waker};

/// Bytes per frame, as an AF_XDP frame.
pub const FRAME_SIZE: usize = 4096;

/// How the link treats frames, the same both ways.
#[derive(Copy, Clone, Debug)]
pub struct LinkConfig {
    /// Frames per end (a power of two is not needed).
    pub frames: u32,
    /// Frames in flight on one direction of the link at most; beyond, dropped.
    pub capacity: usize,
    /// Chance in a million that a frame is lost.
    pub loss_ppm: u32,
    /// Chance in a million that a frame overtakes the one sent before it.
    pub reorder_ppm: u32,
    /// Seeds the loss and reordering (each end draws from its own generator).
    pub seed: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            frames: 1024,
            capacity: 4096,
            loss_ppm: 0,
            reorder_ppm: 0,
            seed: 1,
        }
    }
}

/// What one end did with the frames it sent, and what it could not receive.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: u64,
    pub lost: u64,
    pub reordered: u64,
    /// Arrived while no frame was lent to the receive side (AF_XDP: fill ring empty).
    pub rx_dropped: u64,
    /// Found the link full.
    pub overflow: u64,
}

/// A frame of a [`MemDevice`]'s pool, owned by whoever holds it.
#[derive(Debug, PartialEq, Eq)]
pub struct MemFrame {
    idx: u32,
    start: u32,
    len: u32,
}

/// One direction of the link.
type Wire = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// One end of an in-memory link. See the module docs.
pub struct MemDevice {
    pool: Vec<u8>,
    free: Vec<u32>,
    fill: Vec<u32>,
    in_use: u32,
    tx: VecDeque<MemFrame>,
    done: Vec<u32>,
    out: Wire,
    inbound: Wire,
    cfg: LinkConfig,
    rng: u64,
    stats: LinkStats,
    /// A received frame's bytes while they are read (`read_while_sending`).
    aside: Vec<u8>,
}

/// Two devices joined by a link.
pub fn link(cfg: LinkConfig) -> (MemDevice, MemDevice) {
    let ab: Wire = Default::default();
    let ba: Wire = Default::default();
    let a = MemDevice::new(cfg, ab.clone(), ba.clone(), cfg.seed);
    let b = MemDevice::new(cfg, ba, ab, cfg.seed ^ 0x9e37_79b9_7f4a_7c15);
    (a, b)
}

impl MemDevice {
    fn new(cfg: LinkConfig, out: Wire, inbound: Wire, seed: u64) -> MemDevice {
        let mut d = MemDevice {
            pool: vec![0; cfg.frames as usize * FRAME_SIZE],
            free: (0..cfg.frames).rev().collect(),
            fill: Vec::new(),
            in_use: 0,
            tx: VecDeque::new(),
            done: Vec::new(),
            out,
            inbound,
            cfg,
            rng: seed | 1,
            stats: LinkStats::default(),
            aside: Vec::new(),
        };
        d.refill();
        d
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Frames waiting on the link for this end.
    pub fn pending(&self) -> usize {
        self.inbound.lock().map_or(0, |q| q.len())
    }

    /// Puts raw bytes on the link towards the other end, as if sent from here (a test
    /// peer that is not an engine).
    pub fn inject(&mut self, bytes: &[u8]) {
        if let Ok(mut q) = self.out.lock() {
            q.push_back(bytes.to_vec());
        }
    }

    /// Takes a frame the other end sent, as raw bytes (a test peer that is not an engine).
    pub fn take(&mut self) -> Option<Vec<u8>> {
        self.inbound.lock().ok()?.pop_front()
    }

    /// xorshift64*: one draw in a million.
    fn chance(&mut self, ppm: u32) -> bool {
        if ppm == 0 {
            return false;
        }
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        (r % 1_000_000) < u64::from(ppm)
    }

    fn range(&self, f: &MemFrame) -> std::ops::Range<usize> {
        let at = f.idx as usize * FRAME_SIZE + f.start as usize;
        at..at + f.len as usize
    }
}

impl Device for MemDevice {
    type Frame = MemFrame;

    fn recv(&mut self, out: &mut Vec<MemFrame>, max: usize) -> usize {
        let Ok(mut q) = self.inbound.lock() else {
            return 0;
        };
        let mut n = 0;
        while n < max {
            let Some(bytes) = q.pop_front() else {
                break;
            };
            let Some(idx) = self.fill.pop() else {
                self.stats.rx_dropped += 1;
                continue;
            };
            let len = bytes.len().min(FRAME_SIZE);
            let at = idx as usize * FRAME_SIZE;
            self.pool[at..at + len].copy_from_slice(&bytes[..len]);
            self.in_use += 1;
            out.push(MemFrame {
                idx,
                start: 0,
                len: len as u32,
            });
            n += 1;
        }
        n
    }

    fn alloc(&mut self) -> Option<MemFrame> {
        let idx = self.free.pop()?;
        self.in_use += 1;
        Some(MemFrame {
            idx,
            start: 0,
            len: 0,
        })
    }

    fn len(f: &MemFrame) -> usize {
        f.len as usize
    }

    fn data(&self, f: &MemFrame) -> &[u8] {
        &self.pool[self.range(f)]
    }

    fn read_while_sending<R>(
        &mut self,
        f: &mut MemFrame,
        range: std::ops::Range<usize>,
        body: impl FnOnce(&[u8], &mut MemDevice) -> R,
    ) -> R {
        // The pool is one vector: its bytes cannot be lent while other frames are written,
        // so the in-memory link copies them aside (it copies every frame anyway).
        let mut aside = std::mem::take(&mut self.aside);
        aside.clear();
        aside.extend_from_slice(&self.data(f)[range]);
        let r = body(&aside, self);
        self.aside = aside;
        r
    }

    fn data_mut(&mut self, f: &mut MemFrame) -> &mut [u8] {
        let r = self.range(f);
        &mut self.pool[r]
    }

    fn buf_mut(&mut self, f: &mut MemFrame) -> &mut [u8] {
        let at = f.idx as usize * FRAME_SIZE;
        &mut self.pool[at + f.start as usize..at + FRAME_SIZE]
    }

    fn set_len(&mut self, f: &mut MemFrame, len: usize) {
        f.len = len.min(FRAME_SIZE - f.start as usize) as u32;
    }

    fn set_range(&mut self, f: &mut MemFrame, start: usize, len: usize) {
        let room = FRAME_SIZE - f.start as usize;
        let start = start.min(room);
        f.start += start as u32;
        f.len = len.min(room - start) as u32;
    }

    fn transmit(&mut self, f: MemFrame) -> Result<(), MemFrame> {
        if self.tx.len() >= self.cfg.frames as usize / 2 {
            return Err(f);
        }
        self.in_use -= 1;
        self.tx.push_back(f);
        Ok(())
    }

    fn release(&mut self, f: MemFrame) {
        self.in_use -= 1;
        self.free.push(f.idx);
    }

    fn flush_tx(&mut self) {
        if self.tx.is_empty() {
            return;
        }
        let out = self.out.clone();
        let Ok(mut q) = out.lock() else {
            return;
        };
        while let Some(f) = self.tx.pop_front() {
            self.stats.sent += 1;
            if self.chance(self.cfg.loss_ppm) {
                self.stats.lost += 1;
            } else if q.len() >= self.cfg.capacity {
                self.stats.overflow += 1;
            } else {
                q.push_back(self.pool[self.range(&f)].to_vec());
                if q.len() >= 2 && self.chance(self.cfg.reorder_ppm) {
                    let n = q.len();
                    q.swap(n - 1, n - 2);
                    self.stats.reordered += 1;
                }
            }
            self.done.push(f.idx);
        }
    }

    fn complete(&mut self) -> usize {
        let n = self.done.len();
        self.free.append(&mut self.done);
        n
    }

    /// Lends free frames to the receive side, keeping a quarter for transmit (as `Xsk`).
    fn refill(&mut self) -> usize {
        let keep = self.cfg.frames as usize / 4;
        let want = (self.cfg.frames as usize / 2).saturating_sub(self.fill.len());
        let can = self.free.len().saturating_sub(keep).min(want);
        let start = self.free.len() - can;
        self.fill.extend(self.free.drain(start..));
        can
    }

    fn wait(
        &self,
        waker: Option<(&Waker, &dyn Fn() -> bool)>,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        if self.pending() > 0 {
            return Ok(true);
        }
        // Polling in short naps: a test's engines are woken by the link or their inboxes
        // within a millisecond, which is all a test needs.
        let nap = std::time::Duration::from_millis(timeout_ms.clamp(0, 1) as u64);
        if let Some((w, ready)) = waker {
            w.announce();
            if ready() {
                w.done();
                return Ok(true);
            }
            std::thread::sleep(nap);
            w.done();
        } else {
            std::thread::sleep(nap);
        }
        Ok(self.pending() > 0)
    }

    fn accounting(&self) -> FrameAccounting {
        FrameAccounting {
            free: self.free.len() as u32,
            kernel_rx: self.fill.len() as u32,
            in_use: self.in_use,
            kernel_tx: (self.tx.len() + self.done.len()) as u32,
            total: self.cfg.frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_the_link_and_every_frame_is_accounted_for() {
        let (mut a, mut b) = link(LinkConfig {
            frames: 64,
            ..LinkConfig::default()
        });
        let mut f = a.alloc().unwrap();
        a.buf_mut(&mut f)[..5].copy_from_slice(b"hello");
        a.set_len(&mut f, 5);
        a.transmit(f).unwrap();
        assert_eq!(a.accounting().kernel_tx, 1);
        a.flush_tx();
        assert_eq!(a.complete(), 1);
        let mut got = Vec::new();
        assert_eq!(b.recv(&mut got, 8), 1);
        assert_eq!(b.data(&got[0]), b"hello");
        assert_eq!(b.accounting().in_use, 1);
        for f in got.drain(..) {
            b.release(f);
        }
        b.refill();
        for d in [&a, &b] {
            let acc = d.accounting();
            assert!(acc.balanced(), "{acc:?}");
            assert_eq!(acc.in_use, 0);
        }
    }

    #[test]
    fn loss_and_reordering_replay_from_the_seed() {
        let run = || {
            let (mut a, mut b) = link(LinkConfig {
                loss_ppm: 100_000,
                reorder_ppm: 100_000,
                seed: 42,
                ..LinkConfig::default()
            });
            for i in 0..200u8 {
                let mut f = a.alloc().unwrap();
                a.buf_mut(&mut f)[0] = i;
                a.set_len(&mut f, 1);
                a.transmit(f).unwrap();
                a.flush_tx();
                a.complete();
            }
            let mut order = Vec::new();
            while let Some(bytes) = b.take() {
                order.push(bytes[0]);
            }
            (order, a.stats())
        };
        let (order, stats) = run();
        assert_eq!(run().0, order, "same seed, same network");
        assert!(stats.lost > 5 && stats.reordered > 5, "{stats:?}");
        assert_eq!(order.len() as u64, stats.sent - stats.lost);
        assert!(order.windows(2).any(|w| w[0] > w[1]), "some overtook");
    }
}

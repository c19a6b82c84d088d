//! The device seam: one queue's frame I/O, as the worker sees it.
//!
//! The worker loop (`crate::worker`) is written once against [`Device`] and compiled for
//! each implementation (static dispatch, no `dyn` on the hot path):
//! - [`crate::afxdp::Xsk`], an AF_XDP socket on a NIC queue (the engine in production);
//! - [`memory::MemDevice`], one end of an in-memory link joining two engines, with seeded
//!   loss and reordering (tests and examples, no root, no kernel).
//!
//! Frames are owned handles (`Device::Frame`, never `Clone`): every frame is in exactly
//! one place, and [`Device::accounting`] counts where.

pub(crate) mod memory;

use std::io;
use std::ops::Range;

use crate::afxdp::{Frame, FrameAccounting, Waker, XdpStatistics, Xsk};

/// One queue's frame I/O: receive a batch, lend frames for transmit, transmit, wake the
/// other side, take completed frames back.
pub trait Device {
    /// A frame handle, owned by whoever holds it.
    type Frame;

    /// Takes up to `max` received frames into `out` (reused: no allocation once grown).
    fn recv(&mut self, out: &mut Vec<Self::Frame>, max: usize) -> usize;
    /// A free frame for transmit, or `None` when every frame is busy.
    fn alloc(&mut self) -> Option<Self::Frame>;
    /// A frame's length in bytes.
    fn len(f: &Self::Frame) -> usize;
    /// A frame's bytes.
    fn data(&self, f: &Self::Frame) -> &[u8];
    /// Runs `body` with bytes `range` of received frame `f` and the device, so that the
    /// bytes are read while other frames are allocated and sent (TCP reads a segment's
    /// payload while it transmits replies). `f` is borrowed for the call: nothing writes
    /// it meanwhile, and frame handles are unique, so no other frame reaches its bytes.
    fn read_while_sending<R>(
        &mut self,
        f: &mut Self::Frame,
        range: Range<usize>,
        body: impl FnOnce(&[u8], &mut Self) -> R,
    ) -> R;
    /// A frame's bytes, writable.
    fn data_mut(&mut self, f: &mut Self::Frame) -> &mut [u8];
    /// A frame's whole writable room; write a packet, then `set_len` or `set_range`.
    fn buf_mut(&mut self, f: &mut Self::Frame) -> &mut [u8];
    /// Sets a frame's length, clamped to its room.
    fn set_len(&mut self, f: &mut Self::Frame, len: usize);
    /// Makes a frame `len` bytes from `start` bytes into its room.
    fn set_range(&mut self, f: &mut Self::Frame, start: usize, len: usize);
    /// Queues a frame for sending; gives it back when the queue is full.
    fn transmit(&mut self, f: Self::Frame) -> Result<(), Self::Frame>;
    /// Returns a frame the caller is done with.
    fn release(&mut self, f: Self::Frame);
    /// Sends what `transmit` queued (a kick, when the device needs one).
    fn flush_tx(&mut self);
    /// Takes sent frames back; returns how many.
    fn complete(&mut self) -> usize;
    /// Lends free frames to the receive side; returns how many.
    fn refill(&mut self) -> usize;
    /// Sleeps until a frame arrives, `waker` is woken (when given), or `timeout_ms`
    /// passes. With a waker, returns at once if `ready` says there is work after the sleep
    /// was announced.
    fn wait(&self, waker: Option<(&Waker, &dyn Fn() -> bool)>, timeout_ms: i32)
        -> io::Result<bool>;
    /// Where the frames are.
    fn accounting(&self) -> FrameAccounting;
    /// The kernel's drop counters for this queue's socket, where the device has them
    /// (read off the hot path, when the worker publishes its counters).
    fn xdp_statistics(&self) -> Option<XdpStatistics> {
        None
    }
}

impl Device for Xsk {
    type Frame = Frame;

    #[inline]
    fn recv(&mut self, out: &mut Vec<Frame>, max: usize) -> usize {
        Xsk::recv(self, out, max)
    }
    #[inline]
    fn alloc(&mut self) -> Option<Frame> {
        Xsk::alloc(self)
    }
    #[inline]
    fn len(f: &Frame) -> usize {
        f.len()
    }
    #[inline]
    fn data(&self, f: &Frame) -> &[u8] {
        Xsk::data(self, f)
    }
    #[inline]
    fn read_while_sending<R>(
        &mut self,
        f: &mut Frame,
        range: Range<usize>,
        body: impl FnOnce(&[u8], &mut Xsk) -> R,
    ) -> R {
        // Where the bytes lie: the UMEM is reached a frame's range at a time.
        Xsk::read_while_sending(self, f, range, body)
    }
    #[inline]
    fn data_mut(&mut self, f: &mut Frame) -> &mut [u8] {
        Xsk::data_mut(self, f)
    }
    #[inline]
    fn buf_mut(&mut self, f: &mut Frame) -> &mut [u8] {
        Xsk::buf_mut(self, f)
    }
    #[inline]
    fn set_len(&mut self, f: &mut Frame, len: usize) {
        Xsk::set_len(self, f, len)
    }
    #[inline]
    fn set_range(&mut self, f: &mut Frame, start: usize, len: usize) {
        Xsk::set_range(self, f, start, len)
    }
    #[inline]
    fn transmit(&mut self, f: Frame) -> Result<(), Frame> {
        Xsk::transmit(self, f)
    }
    #[inline]
    fn release(&mut self, f: Frame) {
        Xsk::release(self, f)
    }
    #[inline]
    fn flush_tx(&mut self) {
        Xsk::flush_tx(self)
    }
    #[inline]
    fn complete(&mut self) -> usize {
        Xsk::complete(self)
    }
    #[inline]
    fn refill(&mut self) -> usize {
        Xsk::refill(self)
    }
    fn wait(
        &self,
        waker: Option<(&Waker, &dyn Fn() -> bool)>,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        match waker {
            Some((w, ready)) => Xsk::wait_with(self, w, ready, timeout_ms),
            None => Xsk::wait(self, timeout_ms),
        }
    }
    fn accounting(&self) -> FrameAccounting {
        Xsk::accounting(self)
    }
    fn xdp_statistics(&self) -> Option<XdpStatistics> {
        self.statistics().ok()
    }
}

//! Bounded byte rings for a connection's send and receive data. Memory follows the data:
//! a ring holds no buffer until its first write, grows (doubling, from 2 KiB) only as far
//! as the bytes it must hold, up to its capacity, and gives its buffer back as soon as it
//! is empty (everything sent acknowledged, everything received consumed: the caller says
//! when, see `Conn`). An idle connection, even one that carried a megabyte a minute ago,
//! holds no buffer at all; the capacity only bounds the window.
//!
//! Buffers come from a per-thread pool with a free list per size: a worker is one thread,
//! so there is no lock, and a reused buffer is neither zeroed nor faulted in again. The
//! pool is bounded, and [`trim_pool`] (called by the worker once a second) returns to the
//! allocator every buffer that sat unused through a whole period, so memory comes back
//! after a burst of connections ends. A ring only ever reads bytes it wrote, so a reused
//! buffer's old contents are never exposed.

use std::cell::RefCell;

/// Bytes a thread's pool keeps at most; beyond, buffers go back to the allocator.
const POOL_BYTES: usize = 64 << 20;

/// The smallest buffer a ring takes: a request head or a small response fits.
const MIN_ALLOC: usize = 2048;

/// Size classes 2 KiB .. 2^(11 + CLASSES - 1); other sizes (a capacity that is not a power
/// of two) share one list searched by length.
const CLASSES: usize = 14;

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

#[derive(Default)]
struct Pool {
    /// Free buffers by size class; the last list holds sizes outside the classes.
    free: [Vec<Box<[u8]>>; CLASSES + 1],
    /// The shortest each list has been since the last trim: what nobody needed.
    low: [usize; CLASSES + 1],
    bytes: usize,
}

fn class(len: usize) -> usize {
    if len.is_power_of_two() && len >= MIN_ALLOC {
        let c = (len.trailing_zeros() - MIN_ALLOC.trailing_zeros()) as usize;
        if c < CLASSES {
            return c;
        }
    }
    CLASSES
}

fn take(len: usize) -> Box<[u8]> {
    let reused = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let c = class(len);
        let list = &mut p.free[c];
        let i = if c < CLASSES {
            list.len().checked_sub(1)?
        } else {
            list.iter().rposition(|b| b.len() == len)?
        };
        let b = list.swap_remove(i);
        p.low[c] = p.low[c].min(p.free[c].len());
        p.bytes -= b.len();
        Some(b)
    });
    reused
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0; len].into_boxed_slice())
}

fn give(buf: Box<[u8]>) {
    if buf.is_empty() {
        return;
    }
    // During thread teardown the pool may be gone: then the buffer is simply freed.
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let c = class(buf.len());
        if p.bytes + buf.len() <= POOL_BYTES && p.free[c].len() < 1 << 16 {
            p.bytes += buf.len();
            p.free[c].push(buf);
        }
    });
}

/// Returns to the allocator every pooled buffer of this thread that was not needed since
/// the last call (the low-water mark of each free list). Returns the bytes released.
pub fn trim_pool() -> usize {
    POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let mut released = 0;
        for c in 0..=CLASSES {
            let n = p.low[c].min(p.free[c].len());
            let keep = p.free[c].len() - n;
            released += p.free[c].drain(keep..).map(|b| b.len()).sum::<usize>();
            p.free[c].shrink_to(keep.max(16));
            p.low[c] = p.free[c].len();
        }
        p.bytes -= released;
        released
    })
    .unwrap_or(0)
}

/// Bytes this thread's pool holds (free buffers waiting for reuse).
#[cfg(test)]
pub fn pooled_bytes() -> usize {
    POOL.try_with(|p| p.borrow().bytes).unwrap_or(0)
}

/// A ring of bytes of bounded capacity whose buffer grows with what it holds.
#[derive(Debug)]
struct Ring {
    /// Empty until the first write; then a power of two from `MIN_ALLOC` (or `cap`).
    buf: Box<[u8]>,
    /// The most bytes the ring may hold.
    cap: usize,
    /// Index of the first byte in `buf`.
    head: usize,
    /// Bytes stored from `head`.
    len: usize,
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        Ring {
            buf: Box::new([]),
            cap: capacity,
            head: 0,
            len: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.cap
    }

    /// Heap bytes held: 0 while empty.
    fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Gives the buffer back when nothing is stored (a later write takes one again).
    /// The caller makes sure no out-of-order bytes wait past `len`.
    fn shrink(&mut self) {
        if self.len == 0 {
            self.head = 0;
            give(std::mem::replace(&mut self.buf, Box::new([])));
        }
    }

    /// Makes the buffer cover offsets `[0, need)` past `head` (`need <= cap`), moving
    /// what it holds to a larger buffer with `head` at 0.
    fn reserve(&mut self, need: usize) {
        let size = self.buf.len();
        if need <= size {
            return;
        }
        let grown = need.next_power_of_two().max(MIN_ALLOC).min(self.cap);
        let mut next = take(grown);
        if size > 0 {
            let (front, back) = self.buf.split_at(self.head);
            next[..back.len()].copy_from_slice(back);
            next[back.len()..size].copy_from_slice(front);
        }
        give(std::mem::replace(&mut self.buf, next));
        self.head = 0;
    }

    /// Copies `data` into the ring at `offset` bytes past `head` (may lie past `len`).
    fn write_at(&mut self, offset: usize, data: &[u8]) {
        debug_assert!(offset + data.len() <= self.cap);
        if self.cap == 0 || data.is_empty() {
            return;
        }
        self.reserve(offset + data.len());
        let size = self.buf.len();
        let start = (self.head + offset) % size;
        let first = data.len().min(size - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Copies bytes from `offset` past `head` into `out`.
    fn read_at(&self, offset: usize, out: &mut [u8]) {
        let size = self.buf.len();
        if size == 0 || out.is_empty() {
            return;
        }
        let start = (self.head + offset) % size;
        let first = out.len().min(size - start);
        out[..first].copy_from_slice(&self.buf[start..start + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.buf[..rest]);
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        let size = self.buf.len();
        if size > 0 {
            self.head = (self.head + n) % size;
        }
        self.len -= n;
    }

    /// The first `n` stored bytes as up to two slices.
    fn slices(&self, n: usize) -> (&[u8], &[u8]) {
        let n = n.min(self.len);
        let size = self.buf.len();
        if size == 0 {
            return (&[], &[]);
        }
        let first = n.min(size - self.head);
        (
            &self.buf[self.head..self.head + first],
            &self.buf[..n - first],
        )
    }
}

/// Bytes the application wrote and the peer has not acknowledged. The front is the oldest
/// unacknowledged byte (sequence number SND.UNA, for data).
#[derive(Debug)]
pub struct SendBuffer {
    ring: Ring,
}

impl SendBuffer {
    pub fn with_capacity(capacity: usize) -> SendBuffer {
        SendBuffer {
            ring: Ring::new(capacity),
        }
    }

    /// Appends what fits; returns how much.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let len = self.ring.len;
        self.ring.write_at(len, &data[..n]);
        self.ring.len += n;
        n
    }

    pub fn len(&self) -> usize {
        self.ring.len
    }

    pub fn is_empty(&self) -> bool {
        self.ring.len == 0
    }

    pub fn free(&self) -> usize {
        self.ring.capacity() - self.ring.len
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Lets the buffer hold up to `capacity` bytes (never less than it holds now).
    pub fn grow_to(&mut self, capacity: usize) {
        if capacity > self.ring.cap {
            self.ring.cap = capacity;
        }
    }

    /// Heap bytes held (0 while empty).
    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Returns the buffer to the pool if it holds nothing.
    pub fn shrink(&mut self) {
        self.ring.shrink()
    }

    /// Copies bytes starting `offset` past the front into `out`; returns how many.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        let n = out.len().min(self.ring.len.saturating_sub(offset));
        self.ring.read_at(offset, &mut out[..n]);
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.ring.consume(n);
    }
}

/// Received bytes: in-order bytes the application has not read yet, followed by room where
/// out-of-order segments are placed until the gap before them fills.
#[derive(Debug)]
pub struct RecvBuffer {
    ring: Ring,
}

impl RecvBuffer {
    pub fn with_capacity(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            ring: Ring::new(capacity),
        }
    }

    /// Places `data` at `offset` bytes past the end of the readable bytes (offset 0 is
    /// RCV.NXT). Returns how many bytes fit in the buffer.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let room = self.window();
        if offset >= room {
            return 0;
        }
        let n = data.len().min(room - offset);
        let at = self.ring.len + offset;
        self.ring.write_at(at, &data[..n]);
        n
    }

    /// Makes `n` more bytes readable (they were written at offset 0 and on).
    pub fn advance_readable(&mut self, n: usize) {
        debug_assert!(n <= self.window());
        self.ring.len += n.min(self.window());
    }

    /// Copies readable bytes into `out` and consumes them.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.ring.len);
        self.ring.read_at(0, &mut out[..n]);
        self.ring.consume(n);
        n
    }

    /// The readable bytes, without consuming them (for parsing in place).
    pub fn peek(&self) -> (&[u8], &[u8]) {
        self.ring.slices(self.ring.len)
    }

    pub fn consume(&mut self, n: usize) {
        self.ring.consume(n);
    }

    pub fn readable(&self) -> usize {
        self.ring.len
    }

    /// Free room: the receive window we can offer.
    pub fn window(&self) -> usize {
        self.ring.capacity() - self.ring.len
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Heap bytes held (0 while empty).
    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Returns the buffer to the pool if nothing is readable. The caller makes sure no
    /// out-of-order data waits in it (the connection's reassembly is empty).
    pub fn shrink(&mut self) {
        self.ring.shrink()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        give(std::mem::replace(&mut self.buf, Box::new([])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn a_send_buffer_grows_its_limit_with_data_in_it() {
        let mut b = SendBuffer::with_capacity(4096);
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(b.write(&data), 4096);
        b.consume(1000);
        // Wrapped: the next bytes land at the front of the ring, then the limit grows.
        assert_eq!(b.write(&data[4096..6096]), 1000);
        b.grow_to(16_384);
        b.grow_to(8192); // never shrinks
        assert_eq!(b.capacity(), 16_384);
        assert_eq!(b.write(&data[5096..]), 16_384 - 4096);
        let mut out = vec![0; b.len()];
        assert_eq!(b.read_at(0, &mut out), 16_384);
        assert_eq!(out[..], data[1000..1000 + 16_384]);
    }

    #[test]
    fn send_buffer_matches_a_deque_model() {
        let mut rng = Rng(7);
        let mut b = SendBuffer::with_capacity(100);
        let mut model: VecDeque<u8> = VecDeque::new();
        let mut next = 0u8;
        for _ in 0..5000 {
            match rng.next() % 3 {
                0 => {
                    let data: Vec<u8> = (0..rng.next() % 40)
                        .map(|_| {
                            next = next.wrapping_add(1);
                            next
                        })
                        .collect();
                    let n = b.write(&data);
                    assert_eq!(n, data.len().min(100 - model.len()));
                    model.extend(&data[..n]);
                }
                1 => {
                    let n = (rng.next() as usize % 50).min(model.len());
                    b.consume(n);
                    model.drain(..n);
                }
                _ => {
                    let off = rng.next() as usize % 60;
                    let mut out = [0u8; 30];
                    let n = b.read_at(off, &mut out);
                    let want: Vec<u8> = model.iter().skip(off).take(30).copied().collect();
                    assert_eq!(&out[..n], &want[..]);
                }
            }
            assert_eq!(b.len(), model.len());
        }
    }

    #[test]
    fn recv_buffer_out_of_order_then_fill() {
        let mut b = RecvBuffer::with_capacity(10);
        assert_eq!(b.write_at(4, b"efgh"), 4);
        assert_eq!(b.readable(), 0);
        assert_eq!(b.write_at(0, b"abcd"), 4);
        b.advance_readable(8);
        let mut out = [0u8; 5];
        assert_eq!(b.read(&mut out), 5);
        assert_eq!(&out, b"abcde");
        // Wrap around: 3 readable, 7 free.
        assert_eq!(b.window(), 7);
        assert_eq!(b.write_at(0, b"123456789"), 7);
        b.advance_readable(7);
        let (a, c) = b.peek();
        let mut all = a.to_vec();
        all.extend_from_slice(c);
        assert_eq!(all, b"fgh1234567");
        assert_eq!(b.write_at(0, b"x"), 0, "full");
    }

    #[test]
    fn growing_and_releasing_rings_match_a_deque_model() {
        // A 64 KiB ring starts at 2 KiB, doubles as it fills, moves its bytes with head at
        // 0 (wrapped or not), and gives its buffer back when emptied: every read matches.
        let mut rng = Rng(11);
        let mut b = SendBuffer::with_capacity(64 * 1024);
        let mut model: VecDeque<u8> = VecDeque::new();
        let mut next = 0u8;
        let mut grew = 0;
        for _ in 0..20000 {
            match rng.next() % 4 {
                0 => {
                    let data: Vec<u8> = (0..rng.next() % 3000)
                        .map(|_| {
                            next = next.wrapping_add(1);
                            next
                        })
                        .collect();
                    let before = b.allocated();
                    let n = b.write(&data);
                    model.extend(&data[..n]);
                    grew += (b.allocated() > before && before > 0) as u32;
                }
                1 => {
                    let n = (rng.next() as usize % 4000).min(model.len());
                    b.consume(n);
                    model.drain(..n);
                    if b.is_empty() {
                        b.shrink();
                        assert_eq!(b.allocated(), 0);
                    }
                }
                _ => {
                    let off = rng.next() as usize % 2000;
                    let mut out = [0u8; 700];
                    let n = b.read_at(off, &mut out);
                    let want: Vec<u8> = model.iter().skip(off).take(700).copied().collect();
                    assert_eq!(&out[..n], &want[..]);
                }
            }
            assert_eq!(b.len(), model.len());
            let a = b.allocated();
            assert!(a == 0 || (a.is_power_of_two() && a >= model.len() && a <= 64 * 1024));
        }
        assert!(grew > 10, "the model never made the ring grow ({grew})");
    }

    #[test]
    fn out_of_order_bytes_past_the_buffer_grow_it_and_keep_their_place() {
        let mut b = RecvBuffer::with_capacity(64 * 1024);
        assert_eq!(b.write_at(0, b"ab"), 2);
        b.advance_readable(2);
        assert_eq!(b.allocated(), 2048);
        // A segment 10,000 bytes ahead: the buffer grows to cover it.
        assert_eq!(b.write_at(10_000, b"late"), 4);
        assert_eq!(b.allocated(), 16384);
        let fill = vec![b'x'; 10_000];
        assert_eq!(b.write_at(0, &fill), 10_000);
        b.advance_readable(10_004);
        let mut out = vec![0u8; 10_006];
        assert_eq!(b.read(&mut out), 10_006);
        assert_eq!(&out[..2], b"ab");
        assert_eq!(&out[10_002..], b"late");
        b.shrink();
        assert_eq!(b.allocated(), 0);
        assert_eq!(
            b.window(),
            64 * 1024,
            "the window is the capacity, not the buffer"
        );
    }

    #[test]
    fn the_pool_returns_what_sat_unused_through_a_whole_period() {
        trim_pool();
        trim_pool();
        let base = pooled_bytes();
        let mut rings: Vec<SendBuffer> = (0..8).map(|_| SendBuffer::with_capacity(4096)).collect();
        for r in &mut rings {
            r.write(&[1; 3000]);
        }
        drop(rings); // 8 x 4 KiB back to the pool
        assert_eq!(pooled_bytes(), base + 8 * 4096);
        assert_eq!(trim_pool(), 0, "the buffers arrived during this period");
        // One taken again during the next period: the low-water mark says 7 were not.
        let mut r = SendBuffer::with_capacity(4096);
        r.write(&[2; 3000]);
        assert_eq!(
            trim_pool(),
            7 * 4096,
            "7 sat unused through the whole period"
        );
        drop(r);
        assert_eq!(trim_pool(), 0, "the one given back just now stays a period");
        assert_eq!(trim_pool(), 4096);
        assert_eq!(pooled_bytes(), base);
    }
}

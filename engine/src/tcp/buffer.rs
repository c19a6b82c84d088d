//! Bounded byte rings for a connection's send and receive data. Each is taken at its first
//! write (a connection that never carries data in one direction never pays for that
//! direction) and given back when the connection no longer needs it (TIME_WAIT, close).
//!
//! Buffers come from a per-thread pool: a worker is one thread, so there is no lock, and a
//! reused buffer is neither zeroed nor faulted in again (a fresh 256 KiB allocation costs
//! the kernel a page clear per 4 KiB touched, which dominated short connections). A ring
//! only ever reads bytes it wrote, so a reused buffer's old contents are never exposed.

use std::cell::RefCell;

/// Bytes a thread's pool keeps at most; beyond, buffers go back to the allocator.
const POOL_BYTES: usize = 256 << 20;

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { free: Vec::new(), bytes: 0 }) };
}

struct Pool {
    free: Vec<Box<[u8]>>,
    bytes: usize,
}

fn take(cap: usize) -> Box<[u8]> {
    let reused = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.free.iter().rposition(|b| b.len() == cap)?;
        let b = p.free.swap_remove(i);
        p.bytes -= b.len();
        Some(b)
    });
    reused.unwrap_or_else(|| vec![0; cap].into_boxed_slice())
}

fn give(buf: Box<[u8]>) {
    if buf.is_empty() {
        return;
    }
    // During thread teardown the pool may be gone: then the buffer is simply freed.
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.bytes + buf.len() <= POOL_BYTES && p.free.len() < 4096 {
            p.bytes += buf.len();
            p.free.push(buf);
        }
    });
}

/// A fixed-capacity ring of bytes.
#[derive(Debug)]
struct Ring {
    /// Empty until the first write, then exactly `cap` bytes.
    buf: Box<[u8]>,
    cap: usize,
    /// Index of the first byte.
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

    /// Heap bytes held: 0 until the first write.
    fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Gives the buffer back when nothing is stored (a later write takes one again).
    fn shrink(&mut self) {
        if self.len == 0 {
            self.head = 0;
            give(std::mem::replace(&mut self.buf, Box::new([])));
        }
    }

    /// Copies `data` into the ring at `offset` bytes past `head` (may lie past `len`).
    fn write_at(&mut self, offset: usize, data: &[u8]) {
        let cap = self.capacity();
        debug_assert!(offset + data.len() <= cap);
        if cap == 0 || data.is_empty() {
            return;
        }
        if self.buf.is_empty() {
            self.buf = take(cap);
        }
        let start = (self.head + offset) % cap;
        let first = data.len().min(cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Copies bytes from `offset` past `head` into `out`.
    fn read_at(&self, offset: usize, out: &mut [u8]) {
        let cap = self.capacity();
        if self.buf.is_empty() || out.is_empty() {
            return;
        }
        let start = (self.head + offset) % cap;
        let first = out.len().min(cap - start);
        out[..first].copy_from_slice(&self.buf[start..start + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.buf[..rest]);
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if self.capacity() > 0 {
            self.head = (self.head + n) % self.capacity();
        }
        self.len -= n;
    }

    /// The first `n` stored bytes as up to two slices.
    fn slices(&self, n: usize) -> (&[u8], &[u8]) {
        let n = n.min(self.len);
        let cap = self.capacity();
        if self.buf.is_empty() {
            return (&[], &[]);
        }
        let first = n.min(cap - self.head);
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

    pub fn free(&self) -> usize {
        self.ring.capacity() - self.ring.len
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Heap bytes held (0 until the first write).
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

    /// Heap bytes held (0 until the first write).
    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Returns the buffer to the pool if it holds nothing.
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
}

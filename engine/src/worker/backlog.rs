//! The RX backlog: frames moved out of a backed-up RX ring into memory the size of what
//! they hold.
//!
//! A burst (a flash crowd, a mass close, a load generator opening 100k connections)
//! arrives faster than the worker answers it. In copy mode the kernel copies each frame
//! into the RX ring in the *sender's* softirq, at the sender's pace; a ring that is full
//! drops the frame, and a dropped request comes back only on the peer's retransmission
//! timer (200 ms and more, backing off), in synchronized waves. The kernel's own TCP never
//! drops such a burst: it runs the receive in that softirq and queues the data on the
//! socket. This is the engine's equivalent: once a turn finds the ring still full after
//! `RX_BURST_BATCHES` batches, the worker copies every frame left in the ring into this
//! queue (a memcpy of the frame's bytes, some 100 ns) and gives the frame back to the
//! kernel at once, then answers from the queue, oldest first, a bounded number per turn.
//! While the queue holds anything, every newly received frame goes behind it, so each
//! connection's segments keep their order. A 100-byte request costs 110 bytes here instead
//! of a 4 KiB UMEM frame pinned in the ring; the queue's memory goes back when it empties.
//!
//! Timers wait for the queue (`Worker::poll`): a deadline fires only once every frame
//! received before it may have arrived has been handled, because the ACK that cancels a
//! retransmission may be in the queue.
//!
//! A segment the queue already holds is not queued twice. A peer whose request waits
//! here longer than its retransmission timeout sends it again (and again, backing off);
//! each copy handled would cost as much as the original (an ACK out, the peer's receive
//! of it), the queue would grow with copies and take longer still: at 200k connections
//! six of every seven frames queued were such copies. The copy is redundant while the
//! original waits: the answer to the original acknowledges both. A segment is known by
//! its addresses, ports, sequence number, length and SYN/FIN flags (hashed with a
//! per-process key); pure ACKs and resets are never dropped as copies.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use crate::time::Instant;

/// Bytes in front of each frame: its length (u16), when it was received (u64 µs) and
/// its segment key (u64, 0 for none).
const ENTRY_HEAD: usize = 18;

/// Memory the queue keeps after it empties; beyond, it is given back.
const RETAIN: usize = 1 << 20;

/// Frames in arrival order, packed: `[len u16][received u64][key u64][bytes]`.
#[derive(Debug, Default)]
pub(crate) struct RxBacklog {
    buf: Vec<u8>,
    head: usize,
    frames: usize,
    cap: usize,
    /// Keys of the segments queued (already random: not hashed again).
    keys: HashSet<u64, BuildHasherDefault<KeyHasher>>,
    hasher: RandomState,
}

/// The identity hash, for keys that are hashes already.
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl RxBacklog {
    /// A queue that holds at most `cap` bytes of frames (0: never used).
    pub(crate) fn new(cap: usize) -> RxBacklog {
        RxBacklog {
            cap,
            ..RxBacklog::default()
        }
    }

    /// Whether the queue may be used at all.
    pub(crate) fn enabled(&self) -> bool {
        self.cap > 0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Frames queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.frames
    }

    /// Bytes the queued frames take (headers included).
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Whether `frames` more frames of up to `frame_max` bytes each fit under the cap.
    pub(crate) fn has_room(&self, frames: usize, frame_max: usize) -> bool {
        self.bytes() + frames * (frame_max + ENTRY_HEAD) <= self.cap
    }

    /// Queues a copy of `frame`, received at `at`; false (and nothing queued) when it is
    /// a TCP segment the queue already holds.
    pub(crate) fn push(&mut self, at: Instant, frame: &[u8]) -> bool {
        let key = self.segment_key(frame).unwrap_or(0);
        if key != 0 && !self.keys.insert(key) {
            return false;
        }
        let len = u16::try_from(frame.len()).expect("a frame fits in 64 KiB");
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&at.total_micros().to_le_bytes());
        self.buf.extend_from_slice(&key.to_le_bytes());
        self.buf.extend_from_slice(frame);
        self.frames += 1;
        true
    }

    /// What tells a TCP segment from another (see the module docs): `None` for frames
    /// that are not TCP, are fragments, are too short to tell, or carry nothing a copy of
    /// could be dropped for (pure ACKs, resets).
    fn segment_key(&self, f: &[u8]) -> Option<u64> {
        let be16 = |at: usize| -> Option<usize> {
            Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]) as usize)
        };
        let (mut ethertype, mut l3) = (be16(12)?, 14);
        if ethertype == 0x8100 {
            (ethertype, l3) = (be16(16)?, 18);
        }
        let (addrs, tcp, tcp_len) = match ethertype {
            0x0800 => {
                let ihl = usize::from(*f.get(l3)? & 0x0f) * 4;
                let frag = be16(l3 + 6)? & 0x3fff;
                if *f.get(l3 + 9)? != 6 || frag != 0 || ihl < 20 {
                    return None;
                }
                let total = be16(l3 + 2)?;
                (l3 + 12..l3 + 20, l3 + ihl, total.checked_sub(ihl)?)
            }
            // Without extension headers only; others are simply queued.
            0x86dd if *f.get(l3 + 6)? == 6 => (l3 + 8..l3 + 40, l3 + 40, be16(l3 + 4)?),
            _ => return None,
        };
        let doff = usize::from(*f.get(tcp + 12)? >> 4) * 4;
        let flags = *f.get(tcp + 13)?;
        let payload = tcp_len.checked_sub(doff)?;
        const FIN: u8 = 0x01;
        const SYN: u8 = 0x02;
        const RST: u8 = 0x04;
        if flags & RST != 0 || (payload == 0 && flags & (SYN | FIN) == 0) {
            return None;
        }
        let mut h = self.hasher.build_hasher();
        h.write(f.get(addrs)?);
        h.write(f.get(tcp..tcp + 8)?); // ports and sequence number
        h.write_usize(payload);
        h.write_u8(flags & (SYN | FIN));
        Some(h.finish() | 1)
    }

    /// When the oldest queued frame was received.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        if self.frames == 0 {
            return None;
        }
        let at = &self.buf[self.head + 2..self.head + 10];
        Some(Instant::from_micros(u64::from_le_bytes(
            at.try_into().expect("8 bytes"),
        )))
    }

    /// Moves the oldest frame into `out` (which must hold it) and returns its length.
    pub(crate) fn pop_into(&mut self, out: &mut [u8]) -> Option<usize> {
        if self.frames == 0 {
            return None;
        }
        let h = self.head;
        let len = u16::from_le_bytes([self.buf[h], self.buf[h + 1]]) as usize;
        let key = u64::from_le_bytes(self.buf[h + 10..h + 18].try_into().expect("8 bytes"));
        if key != 0 {
            self.keys.remove(&key);
        }
        let start = h + ENTRY_HEAD;
        out[..len].copy_from_slice(&self.buf[start..start + len]);
        self.head = start + len;
        self.frames -= 1;
        if self.frames == 0 {
            self.head = 0;
            if self.buf.capacity() > RETAIN {
                self.buf = Vec::new();
                self.keys = HashSet::default();
            } else {
                self.buf.clear();
            }
        } else if self.head >= 1 << 16 && self.head * 2 >= self.buf.len() {
            // Consumed bytes are at least half: move the rest to the front (amortized
            // O(1) per byte, as a ring would be, without wrapping entries).
            self.buf.drain(..self.head);
            self.head = 0;
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_leave_in_arrival_order_with_their_times() {
        let mut q = RxBacklog::new(1 << 20);
        assert!(q.enabled() && q.is_empty() && q.oldest().is_none());
        for i in 0..1000u32 {
            let frame = vec![i as u8; 60 + (i as usize % 1400)];
            q.push(Instant::from_micros(u64::from(i) * 3), &frame);
        }
        assert_eq!(q.frames, 1000);
        let mut out = vec![0u8; 2048];
        for i in 0..1000u32 {
            assert_eq!(q.oldest(), Some(Instant::from_micros(u64::from(i) * 3)));
            let n = q.pop_into(&mut out).unwrap();
            assert_eq!(n, 60 + (i as usize % 1400));
            assert!(out[..n].iter().all(|&b| b == i as u8), "frame {i}");
        }
        assert!(q.is_empty() && q.pop_into(&mut out).is_none());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn interleaved_pushes_and_pops_compact_and_keep_order() {
        let mut q = RxBacklog::new(usize::MAX);
        let mut out = vec![0u8; 2048];
        let (mut next_in, mut next_out) = (0u64, 0u64);
        for round in 0..200 {
            for _ in 0..(300 + round % 7) {
                q.push(
                    Instant::from_micros(next_in),
                    &next_in.to_le_bytes().repeat(20),
                );
                next_in += 1;
            }
            for _ in 0..290 {
                let n = q.pop_into(&mut out).unwrap();
                assert_eq!(n, 160);
                assert_eq!(u64::from_le_bytes(out[..8].try_into().unwrap()), next_out);
                next_out += 1;
            }
            // Consumed bytes never stay more than the live ones plus one compaction step.
            assert!(
                q.head < (1 << 16) || q.head * 2 < q.buf.len(),
                "round {round}"
            );
        }
        while q.pop_into(&mut out).is_some() {
            next_out += 1;
        }
        assert_eq!(next_in, next_out);
    }

    /// An Ethernet + IPv4 + TCP frame (20-byte headers), checksums not filled.
    fn tcp4(src_port: u16, seq: u32, flags: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![0u8; 54 + payload];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&src_port.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = flags;
        f
    }

    #[test]
    fn a_segment_already_queued_is_not_queued_again() {
        const ACK: u8 = 0x10;
        let mut q = RxBacklog::new(1 << 20);
        let request = tcp4(40000, 7, ACK | 0x08, 80);
        assert!(q.push(Instant::ZERO, &request));
        // The peer's retransmission (a later TSval or ACK would not change what it is).
        let mut again = request.clone();
        again[42] = 0x99;
        assert!(!q.push(Instant::ZERO, &again), "a copy of a queued request");
        // Others are queued: another connection, another sequence number or length, a
        // SYN, pure ACKs (duplicate ACKs mean something), resets.
        assert!(q.push(Instant::ZERO, &tcp4(40001, 7, ACK, 80)));
        assert!(q.push(Instant::ZERO, &tcp4(40000, 87, ACK, 80)));
        assert!(q.push(Instant::ZERO, &tcp4(40000, 7, ACK, 81)));
        assert!(q.push(Instant::ZERO, &tcp4(40002, 1, 0x02, 0)));
        assert!(
            !q.push(Instant::ZERO, &tcp4(40002, 1, 0x02, 0)),
            "a SYN again"
        );
        for _ in 0..3 {
            assert!(q.push(Instant::ZERO, &tcp4(40000, 7, ACK, 0)));
            assert!(q.push(Instant::ZERO, &tcp4(40000, 7, 0x04, 0)));
        }
        assert_eq!(q.len(), 11);
        // Once the original has left the queue, a later copy is queued: it is handled
        // (and answered) as the duplicate it then is.
        let mut out = vec![0u8; 2048];
        q.pop_into(&mut out).unwrap();
        assert!(q.push(Instant::ZERO, &request));
    }

    #[test]
    fn the_cap_bounds_what_is_taken_and_memory_goes_back_when_empty() {
        let mut q = RxBacklog::new(10_000);
        assert!(q.has_room(4, 2048));
        assert!(!q.has_room(5, 2048), "5 x 2058 > 10,000");
        let big = vec![7u8; 1500];
        for _ in 0..1000 {
            q.push(Instant::ZERO, &big);
        }
        assert!(q.buf.capacity() > RETAIN);
        assert!(!q.has_room(1, 64));
        let mut out = vec![0u8; 2048];
        while q.pop_into(&mut out).is_some() {}
        assert_eq!(q.buf.capacity(), 0, "a burst's memory is returned");
        assert!(!RxBacklog::new(0).enabled());
    }
}

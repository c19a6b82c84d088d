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

use std::collections::{HashMap, HashSet};
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
    /// Per connection (keyed by its hashed addresses and ports): the latest pure ACK
    /// queued, by its absolute position, and its acknowledgment number.
    acks: HashMap<u64, (usize, u32), BuildHasherDefault<KeyHasher>>,
    /// Bytes dropped from the front of `buf` so far: absolute position = `base` + index.
    base: usize,
    hasher: RandomState,
}

/// What the queue reads of a TCP segment (see `RxBacklog::parse`).
struct Seg {
    /// The connection: its addresses and ports, hashed.
    flow: u64,
    /// The segment: the connection, sequence number, length, SYN and FIN, hashed; 0 for
    /// a pure ACK or a reset (never dropped as a copy).
    key: u64,
    /// A pure ACK (no data, no SYN, FIN or RST) without SACK blocks: its acknowledgment
    /// number.
    plain_ack: Option<u32>,
}

/// Set in an entry's length: a pure ACK a later one of its connection made redundant.
const MERGED: u16 = 0x8000;

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

    /// Queues a copy of `frame`, received at `at`. Returns `Queued::Copy` (and queues
    /// nothing) when it is a TCP segment the queue already holds, `Queued::Merged` when it
    /// is a pure ACK that makes the one of its connection still queued redundant.
    pub(crate) fn push(&mut self, at: Instant, frame: &[u8]) -> Queued {
        let seg = self.parse(frame);
        let key = seg.as_ref().map_or(0, |s| s.key);
        if key != 0 && !self.keys.insert(key) {
            return Queued::Copy;
        }
        let mut outcome = Queued::Frame;
        let here = self.base + self.buf.len();
        if let Some(Seg {
            flow,
            plain_ack: Some(ack),
            ..
        }) = seg
        {
            // A later cumulative ACK says all the earlier one did (neither carries SACK
            // blocks, the later acknowledges more): the earlier one is skipped. Equal
            // acknowledgment numbers are kept (duplicate ACKs mean something).
            if let Some((pos, old)) = self.acks.insert(flow, (here, ack)) {
                if (ack.wrapping_sub(old) as i32) > 0 && pos >= self.base + self.head {
                    let i = pos - self.base;
                    let len = u16::from_le_bytes([self.buf[i], self.buf[i + 1]]) | MERGED;
                    self.buf[i..i + 2].copy_from_slice(&len.to_le_bytes());
                    outcome = Queued::Merged;
                }
            }
        }
        let len = u16::try_from(frame.len()).expect("a frame fits in 64 KiB");
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&at.total_micros().to_le_bytes());
        self.buf.extend_from_slice(&key.to_le_bytes());
        self.buf.extend_from_slice(frame);
        self.frames += 1;
        outcome
    }

    /// What the queue reads of a TCP segment: `None` for frames that are not TCP, are
    /// fragments or are too short to tell (IPv6 only without extension headers).
    fn parse(&self, f: &[u8]) -> Option<Seg> {
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
            0x86dd if *f.get(l3 + 6)? == 6 => (l3 + 8..l3 + 40, l3 + 40, be16(l3 + 4)?),
            _ => return None,
        };
        let doff = usize::from(*f.get(tcp + 12)? >> 4) * 4;
        let flags = *f.get(tcp + 13)?;
        let payload = tcp_len.checked_sub(doff)?;
        const FIN: u8 = 0x01;
        const SYN: u8 = 0x02;
        const RST: u8 = 0x04;
        const ACK: u8 = 0x10;
        let mut h = self.hasher.build_hasher();
        h.write(f.get(addrs)?);
        h.write(f.get(tcp..tcp + 4)?); // ports
        let flow = h.finish();
        let pure_ack = flags & (SYN | FIN | RST) == 0 && flags & ACK != 0 && payload == 0;
        if flags & RST != 0 || pure_ack {
            let plain_ack = if pure_ack && !has_sack(f.get(tcp + 20..tcp + doff)?) {
                let a = f.get(tcp + 8..tcp + 12)?;
                Some(u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
            } else {
                None
            };
            return Some(Seg {
                flow,
                key: 0,
                plain_ack,
            });
        }
        if payload == 0 && flags & (SYN | FIN) == 0 {
            return None;
        }
        h.write(f.get(tcp + 4..tcp + 8)?); // sequence number
        h.write_usize(payload);
        h.write_u8(flags & (SYN | FIN));
        Some(Seg {
            flow,
            key: h.finish() | 1,
            plain_ack: None,
        })
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

    /// Moves the oldest frame into `out` (which must hold it) and returns its length;
    /// pure ACKs a later one made redundant are skipped.
    pub(crate) fn pop_into(&mut self, out: &mut [u8]) -> Option<usize> {
        loop {
            if self.frames == 0 {
                return None;
            }
            let h = self.head;
            let raw = u16::from_le_bytes([self.buf[h], self.buf[h + 1]]);
            let len = usize::from(raw & !MERGED);
            let key = u64::from_le_bytes(self.buf[h + 10..h + 18].try_into().expect("8 bytes"));
            if key != 0 {
                self.keys.remove(&key);
            }
            let start = h + ENTRY_HEAD;
            let live = raw & MERGED == 0;
            if live {
                out[..len].copy_from_slice(&self.buf[start..start + len]);
                let seg = (!self.acks.is_empty())
                    .then(|| self.parse(&out[..len]))
                    .flatten();
                if let Some(Seg { flow, .. }) = seg {
                    // The connection's latest queued pure ACK leaves: forget it.
                    if self
                        .acks
                        .get(&flow)
                        .is_some_and(|&(pos, _)| pos == self.base + h)
                    {
                        self.acks.remove(&flow);
                    }
                }
            }
            self.head = start + len;
            self.frames -= 1;
            if self.frames == 0 {
                self.base += self.buf.len();
                self.head = 0;
                self.acks.clear();
                if self.buf.capacity() > RETAIN {
                    self.buf = Vec::new();
                    self.keys = HashSet::default();
                    self.acks = HashMap::default();
                } else {
                    self.buf.clear();
                }
            } else if self.head >= 1 << 16 && self.head * 2 >= self.buf.len() {
                // Consumed bytes are at least half: move the rest to the front (amortized
                // O(1) per byte, as a ring would be, without wrapping entries).
                self.buf.drain(..self.head);
                self.base += self.head;
                self.head = 0;
            }
            if live {
                return Some(len);
            }
        }
    }
}

/// What `RxBacklog::push` did with a frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Queued.
    Frame,
    /// Queued; an earlier pure ACK of its connection will be skipped.
    Merged,
    /// Not queued: a copy of a segment still queued.
    Copy,
}

/// Whether TCP options carry SACK blocks (kind 5).
fn has_sack(mut opts: &[u8]) -> bool {
    while let Some(&kind) = opts.first() {
        match kind {
            0 => return false,
            1 => opts = &opts[1..],
            5 => return true,
            _ => {
                let Some(&len) = opts.get(1) else {
                    return false;
                };
                if len < 2 || usize::from(len) > opts.len() {
                    return false;
                }
                opts = &opts[usize::from(len)..];
            }
        }
    }
    false
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
        assert_eq!(q.push(Instant::ZERO, &request), Queued::Frame);
        // The peer's retransmission (a later TSval or ACK would not change what it is).
        let mut again = request.clone();
        again[42] = 0x99;
        assert_eq!(
            q.push(Instant::ZERO, &again),
            Queued::Copy,
            "a copy of a queued request"
        );
        // Others are queued: another connection, another sequence number or length, a
        // SYN, pure ACKs (duplicate ACKs mean something), resets.
        assert_eq!(
            q.push(Instant::ZERO, &tcp4(40001, 7, ACK, 80)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &tcp4(40000, 87, ACK, 80)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &tcp4(40000, 7, ACK, 81)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &tcp4(40002, 1, 0x02, 0)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &tcp4(40002, 1, 0x02, 0)),
            Queued::Copy,
            "a SYN again"
        );
        for _ in 0..3 {
            assert_eq!(
                q.push(Instant::ZERO, &tcp4(40000, 7, ACK, 0)),
                Queued::Frame
            );
            assert_eq!(
                q.push(Instant::ZERO, &tcp4(40000, 7, 0x04, 0)),
                Queued::Frame
            );
        }
        assert_eq!(q.len(), 11);
        // Once the original has left the queue, a later copy is queued: it is handled
        // (and answered) as the duplicate it then is.
        let mut out = vec![0u8; 2048];
        q.pop_into(&mut out).unwrap();
        assert_eq!(q.push(Instant::ZERO, &request), Queued::Frame);
    }

    /// A pure ACK of the connection from `src_port`, acknowledging `ack`, with a SACK
    /// block (after two NOPs) when `sack`.
    fn ack4(src_port: u16, ack: u32, sack: bool) -> Vec<u8> {
        let mut f = tcp4(src_port, 1, 0x10, 0);
        f[42..46].copy_from_slice(&ack.to_be_bytes());
        if sack {
            // 12 bytes of options: NOP, NOP, SACK with one block.
            f.splice(54..54, [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
            f[46] = 8 << 4;
            f[16..18].copy_from_slice(&52u16.to_be_bytes());
        }
        f
    }

    #[test]
    fn a_later_cumulative_ack_makes_the_queued_one_redundant() {
        let mut q = RxBacklog::new(1 << 20);
        let mut out = vec![0u8; 2048];
        let data = tcp4(40000, 7, 0x18, 80);
        assert_eq!(q.push(Instant::ZERO, &data), Queued::Frame);
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40000, 100, false)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40001, 100, false)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40000, 200, false)),
            Queued::Merged,
            "acknowledges more: the queued one is skipped"
        );
        // Equal (a duplicate ACK), or with SACK blocks: both kept.
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40000, 200, false)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40000, 300, true)),
            Queued::Frame
        );
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40000, 400, false)),
            Queued::Merged
        );
        let mut acks = Vec::new();
        while let Some(n) = q.pop_into(&mut out) {
            let port = u16::from_be_bytes([out[34], out[35]]);
            let ack = u32::from_be_bytes([out[42], out[43], out[44], out[45]]);
            acks.push((n, port, ack));
        }
        assert_eq!(
            acks,
            [
                (134, 40000, 0),
                (54, 40001, 100),
                (54, 40000, 200),
                (66, 40000, 300),
                (54, 40000, 400)
            ],
            "the data first, in order, the ACKs of 100 and the first of 200 skipped"
        );
        // The connection's ACK that left the queue is not merged into.
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40000, 500, false)),
            Queued::Frame
        );
        assert_eq!(q.pop_into(&mut out), Some(54));
        assert_eq!(
            q.push(Instant::ZERO, &ack4(40000, 600, false)),
            Queued::Frame
        );
    }

    #[test]
    fn sack_options_are_found_among_others() {
        assert!(has_sack(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]));
        assert!(has_sack(&[
            1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 5, 10
        ]));
        assert!(!has_sack(&[1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(!has_sack(&[0, 5, 10]), "after the end of options");
        assert!(!has_sack(&[8, 0, 5]), "a zero length stops the walk");
        assert!(!has_sack(&[8, 40]), "a length past the end stops it");
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

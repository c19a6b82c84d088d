//! The sender's record of every segment in flight (RFC 6675's scoreboard, RFC 8985's
//! per-segment state): one entry per transmitted segment, in sequence order, with when it
//! was last sent and whether the peer SACKed it, it is marked lost, or it was ever
//! retransmitted. Loss detection (RACK), the pipe estimate and retransmission all read it.
//!
//! Entries are kept in a `VecDeque` whose capacity stays with the connection, so steady
//! state allocates nothing; splitting an entry (a SACK block or a smaller segment size
//! cutting through it) is rare and costs one insert.

use std::collections::VecDeque;

use super::rate::TxState;
use crate::tcp::SeqNum;
use crate::time::Instant;

/// The peer reported this segment in a SACK block.
pub const SACKED: u8 = 1;
/// Declared lost (RACK, three duplicate ACKs, or a timeout) and not yet retransmitted.
pub const LOST: u8 = 2;
/// Retransmitted at least once (RFC 8985 "Segment.retransmitted").
pub const EVER_RETRANS: u8 = 4;

/// One transmitted segment: `[start, end)` in sequence space (a FIN counts one).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub start: SeqNum,
    pub end: SeqNum,
    /// Its latest (re)transmission.
    pub sent_at: Instant,
    /// When in the connection's transmissions it last left: orders segments sent at one
    /// `now` (a worker sends a whole batch at one clock reading), where RFC 8985's
    /// sequence tiebreak would put a retransmission before the new data sent just before
    /// it and declare it lost as soon as that data is SACKed.
    pub order: u32,
    pub flags: u8,
    /// Delivery-rate state when it last left (`tcp/recovery/rate.rs`).
    pub tx: TxState,
}

impl Seg {
    /// Sequence numbers it covers (never zero).
    pub fn seq_len(&self) -> u32 {
        (self.end - self.start) as u32
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

#[derive(Debug, Default)]
pub struct SentQueue {
    segs: VecDeque<Seg>,
    total: u32,
    sacked: u32,
    lost: u32,
    /// Highest SACKed sequence number ("forward-most", RFC 8985 RACK.fack).
    fack: Option<SeqNum>,
    /// The next transmission's `order`.
    next_order: u32,
}

impl SentQueue {
    pub fn new() -> SentQueue {
        SentQueue::default()
    }

    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.segs.len()
    }

    pub fn get(&self, i: usize) -> Seg {
        self.segs[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Seg> {
        self.segs.iter()
    }

    /// Bytes recorded (SND.MAX - SND.UNA once the SYN is acknowledged).
    pub fn total_bytes(&self) -> u32 {
        self.total
    }

    pub fn sacked_bytes(&self) -> u32 {
        self.sacked
    }

    pub fn lost_bytes(&self) -> u32 {
        self.lost
    }

    /// RFC 6675 "pipe": bytes still in the network. SACKed bytes have left it; a lost
    /// segment has left it until it is retransmitted, and then counts once again.
    pub fn pipe(&self) -> u32 {
        self.total - self.sacked - self.lost
    }

    pub fn fack(&self) -> Option<SeqNum> {
        self.fack
    }

    /// Heap bytes held (for the connection's memory accounting).
    pub fn allocated(&self) -> usize {
        self.segs.capacity() * core::mem::size_of::<Seg>()
    }

    /// Gives the memory back (the connection is closing).
    pub fn shrink(&mut self) {
        *self = SentQueue {
            next_order: self.next_order,
            ..SentQueue::default()
        };
    }

    /// A new segment left: `[start, end)` directly after the last one.
    pub fn push(&mut self, start: SeqNum, end: SeqNum, now: Instant, tx: TxState) {
        debug_assert!(self.segs.back().is_none_or(|s| s.end == start));
        self.segs.push_back(Seg {
            start,
            end,
            sent_at: now,
            order: self.next_order,
            flags: 0,
            tx,
        });
        self.next_order = self.next_order.wrapping_add(1);
        self.total += (end - start) as u32;
    }

    fn account(&mut self, s: &Seg, sign: i64) {
        let len = s.seq_len() as i64 * sign;
        self.total = (self.total as i64 + len) as u32;
        if s.has(SACKED) {
            self.sacked = (self.sacked as i64 + len) as u32;
        }
        if s.has(LOST) {
            self.lost = (self.lost as i64 + len) as u32;
        }
    }

    /// Cuts entry `i` in two at `at` (strictly inside it); both halves keep its state.
    pub fn split(&mut self, i: usize, at: SeqNum) {
        let s = self.segs[i];
        debug_assert!(at > s.start && at < s.end);
        self.segs[i].end = at;
        self.segs.insert(i + 1, Seg { start: at, ..s });
    }

    /// The cumulative ACK moved SND.UNA to `una`: forgets what it covers (trimming a
    /// partly covered head), calling `delivered` for each segment it delivers that was
    /// not SACKed before. Returns the bytes newly delivered that way.
    pub fn ack(&mut self, una: SeqNum, mut delivered: impl FnMut(&Seg)) -> u32 {
        let mut bytes = 0;
        while let Some(&s) = self.segs.front() {
            if s.start >= una {
                break;
            }
            if s.end > una {
                // Partly acknowledged: the rest stays, in its state.
                let mut gone = s;
                gone.end = una;
                self.account(&gone, -1);
                self.segs[0].start = una;
                if !s.has(SACKED) {
                    bytes += gone.seq_len();
                    delivered(&gone);
                }
                break;
            }
            self.account(&s, -1);
            self.segs.pop_front();
            if !s.has(SACKED) {
                bytes += s.seq_len();
                delivered(&s);
            }
        }
        if self.segs.is_empty() {
            self.fack = None;
            // Nothing in flight: the record's memory goes back until the next send (an
            // idle connection holds none).
            if self.segs.capacity() > 0 {
                self.segs = VecDeque::new();
            }
        }
        bytes
    }

    /// The peer SACKed `[l, r)` (already clipped to what is outstanding): marks the
    /// segments inside it, splitting one the block cuts through, calling `delivered` for
    /// each newly SACKed one. Returns the bytes newly SACKed.
    pub fn sack(&mut self, l: SeqNum, r: SeqNum, mut delivered: impl FnMut(&Seg)) -> u32 {
        let mut bytes = 0;
        // First entry that ends after l.
        let mut i = self.segs.partition_point(|s| s.end <= l);
        while i < self.segs.len() && self.segs[i].start < r {
            if self.segs[i].has(SACKED) {
                i += 1;
                continue;
            }
            if self.segs[i].start < l {
                self.split(i, l);
                i += 1;
                continue;
            }
            if self.segs[i].end > r {
                self.split(i, r);
            }
            let s = self.segs[i];
            self.account(&s, -1);
            self.segs[i].flags = (s.flags | SACKED) & !LOST;
            let now_sacked = self.segs[i];
            self.account(&now_sacked, 1);
            bytes += s.seq_len();
            delivered(&now_sacked);
            if self.fack.is_none_or(|f| s.end > f) {
                self.fack = Some(s.end);
            }
            i += 1;
        }
        bytes
    }

    /// Marks entry `i` lost (no effect on a SACKed or already lost one). Returns whether
    /// it changed.
    pub fn mark_lost(&mut self, i: usize) -> bool {
        let s = self.segs[i];
        if s.flags & (SACKED | LOST) != 0 {
            return false;
        }
        self.segs[i].flags |= LOST;
        self.lost += s.seq_len();
        true
    }

    /// After a retransmission timeout everything not SACKed is presumed lost (RFC 6675
    /// 5.1, RFC 8985 6.3), retransmissions in flight included.
    pub fn mark_all_lost(&mut self) {
        for i in 0..self.segs.len() {
            self.mark_lost(i);
        }
    }

    /// A timeout or a loss proved spurious: nothing is lost after all.
    pub fn clear_lost(&mut self) {
        for s in self.segs.iter_mut() {
            s.flags &= !LOST;
        }
        self.lost = 0;
    }

    /// The first segment marked lost, by sequence.
    pub fn first_lost(&self) -> Option<usize> {
        if self.lost == 0 {
            return None;
        }
        self.segs.iter().position(|s| s.has(LOST))
    }

    /// Entry `i` is being retransmitted, its first `len` sequence numbers at most (the
    /// rest is split off and keeps its state): no longer lost, sent at `now`.
    pub fn retransmitted(&mut self, i: usize, len: u32, now: Instant, tx: TxState) {
        let s = self.segs[i];
        if len < s.seq_len() {
            self.split(i, s.start + len);
        }
        let s = self.segs[i];
        if s.has(LOST) {
            self.lost -= s.seq_len();
        }
        let e = &mut self.segs[i];
        e.flags = (e.flags & !LOST) | EVER_RETRANS;
        e.sent_at = now;
        e.tx = tx;
        e.order = self.next_order;
        self.next_order = self.next_order.wrapping_add(1);
    }

    /// The last entry not SACKed (what a tail loss probe resends).
    pub fn last_unsacked(&self) -> Option<usize> {
        self.segs.iter().rposition(|s| !s.has(SACKED))
    }

    /// Was any segment overlapping `[l, r)` ever retransmitted?
    pub fn retransmitted_within(&self, l: SeqNum, r: SeqNum) -> bool {
        let i = self.segs.partition_point(|s| s.end <= l);
        self.segs
            .range(i..)
            .take_while(|s| s.start < r)
            .any(|s| s.has(EVER_RETRANS))
    }

    /// Is the state self-consistent? For tests.
    pub fn check(&self) -> Result<(), String> {
        let (mut total, mut sacked, mut lost) = (0, 0, 0);
        for (k, s) in self.segs.iter().enumerate() {
            if s.end <= s.start {
                return Err(format!("empty entry {s:?}"));
            }
            if k > 0 && self.segs[k - 1].end != s.start {
                return Err(format!("entries not contiguous at {s:?}"));
            }
            if s.has(SACKED) && s.has(LOST) {
                return Err(format!("SACKed and lost: {s:?}"));
            }
            total += s.seq_len();
            sacked += if s.has(SACKED) { s.seq_len() } else { 0 };
            lost += if s.has(LOST) { s.seq_len() } else { 0 };
        }
        if (total, sacked, lost) != (self.total, self.sacked, self.lost) {
            return Err(format!(
                "sums {:?} recorded as {:?}",
                (total, sacked, lost),
                (self.total, self.sacked, self.lost)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: u32) -> SentQueue {
        let mut q = SentQueue::new();
        for k in 0..n {
            q.push(
                SeqNum(k * 100),
                SeqNum(k * 100 + 100),
                Instant::from_millis(k as u64),
                TxState::default(),
            );
        }
        q
    }

    #[test]
    fn sack_marks_splits_and_counts_pipe() {
        let mut q = q(5);
        let mut seen = Vec::new();
        // A block cutting through two entries splits both at its edges.
        let n = q.sack(SeqNum(150), SeqNum(300), |s| {
            seen.push((s.start.0, s.end.0))
        });
        assert_eq!(n, 150);
        assert_eq!(seen, vec![(150, 200), (200, 300)]);
        assert_eq!(q.len(), 6);
        assert_eq!(q.pipe(), 350);
        assert_eq!(q.fack(), Some(SeqNum(300)));
        // SACKing it again delivers nothing new.
        assert_eq!(q.sack(SeqNum(150), SeqNum(300), |_| panic!()), 0);
        q.check().unwrap();
    }

    #[test]
    fn lost_retransmitted_and_acked() {
        let mut q = q(4);
        assert!(q.mark_lost(0) && !q.mark_lost(0));
        q.sack(SeqNum(100), SeqNum(200), |_| {});
        assert!(!q.mark_lost(1), "a SACKed segment is never lost");
        assert_eq!((q.lost_bytes(), q.pipe()), (100, 200));
        assert_eq!(q.first_lost(), Some(0));
        // Retransmitted with a smaller segment size: the tail stays lost.
        q.retransmitted(0, 60, Instant::from_millis(9), TxState::default());
        assert_eq!(q.get(0).flags, EVER_RETRANS);
        assert_eq!(q.get(1).flags, LOST);
        assert_eq!(q.lost_bytes(), 40);
        assert!(q.retransmitted_within(SeqNum(0), SeqNum(10)));
        assert!(!q.retransmitted_within(SeqNum(60), SeqNum(100)));
        // The cumulative ACK delivers what was not SACKed, trimming a partial head.
        let mut got = Vec::new();
        let n = q.ack(SeqNum(250), |s| got.push((s.start.0, s.end.0)));
        assert_eq!(got, vec![(0, 60), (60, 100), (200, 250)]);
        assert_eq!(n, 150);
        assert_eq!(q.total_bytes(), 150);
        assert_eq!(q.lost_bytes(), 0);
        q.check().unwrap();
        q.mark_all_lost();
        assert_eq!(q.lost_bytes(), 150);
        q.clear_lost();
        assert_eq!(q.pipe(), 150);
        assert_eq!(q.last_unsacked(), Some(1));
        q.check().unwrap();
    }
}

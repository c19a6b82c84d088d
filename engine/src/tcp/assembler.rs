//! Out-of-order bookkeeping for the receiver (RFC 9293 3.10.7.4, RFC 2018 4): which byte
//! ranges beyond RCV.NXT have arrived, bounded in count, and the SACK blocks that report
//! them, most recent first.

use super::SeqNum;
use crate::wire::tcp::SackBlock;

/// How many disjoint out-of-order ranges are held; a segment that would need more is
/// dropped (the sender retransmits it), which bounds memory and work per segment. A
/// path that reorders a fifth of a 100-segment window needs more than 8 (the simulator
/// showed a tenth of its out-of-order segments dropped at 8).
pub const MAX_RANGES: usize = 32;

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Range {
    /// Offset from RCV.NXT.
    start: usize,
    end: usize,
    /// When it last grew, for "most recent first" ordering.
    stamp: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub struct TooManyHoles;

/// Disjoint, sorted ranges of data received beyond the in-order point. The ranges'
/// storage is allocated when the first out-of-order segment arrives (most connections
/// never see one) and kept until the connection ends: no allocation per segment.
#[derive(Debug, Default)]
pub struct Assembler {
    ranges: Box<[Range]>,
    len: usize,
    clock: u64,
}

impl Assembler {
    pub fn new() -> Assembler {
        Assembler::default()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held.
    pub fn allocated(&self) -> usize {
        self.ranges.len() * core::mem::size_of::<Range>()
    }

    /// Records `[offset, offset + len)` (relative to RCV.NXT) as received, merging with
    /// neighbours.
    pub fn add(&mut self, offset: usize, len: usize) -> Result<(), TooManyHoles> {
        if len == 0 {
            return Ok(());
        }
        if self.ranges.is_empty() {
            self.ranges = vec![Range::default(); MAX_RANGES].into_boxed_slice();
        }
        self.clock += 1;
        let (mut start, mut end) = (offset, offset + len);
        // Ranges touching or overlapping [start, end) merge into it.
        let first = self.ranges[..self.len]
            .iter()
            .position(|r| r.end >= start)
            .unwrap_or(self.len);
        let mut last = first;
        while last < self.len && self.ranges[last].start <= end {
            start = start.min(self.ranges[last].start);
            end = end.max(self.ranges[last].end);
            last += 1;
        }
        let merged = last - first;
        if merged == 0 && self.len == MAX_RANGES {
            return Err(TooManyHoles);
        }
        let new = Range {
            start,
            end,
            stamp: self.clock,
        };
        if merged == 0 {
            self.ranges.copy_within(first..self.len, first + 1);
            self.len += 1;
        } else {
            self.ranges.copy_within(last..self.len, first + 1);
            self.len -= merged - 1;
        }
        self.ranges[first] = new;
        Ok(())
    }

    /// If data now starts at offset 0, removes that range and returns its length (bytes
    /// that became in-order); shifts the rest down by it. Otherwise 0.
    pub fn remove_front(&mut self) -> usize {
        if self.len == 0 || self.ranges[0].start != 0 {
            return 0;
        }
        let n = self.ranges[0].end;
        self.ranges.copy_within(1..self.len, 0);
        self.len -= 1;
        self.shift(n);
        n
    }

    /// RCV.NXT advanced by `n` bytes of in-order data: shift offsets; ranges now covered
    /// are trimmed.
    pub fn shift(&mut self, n: usize) {
        let mut w = 0;
        for i in 0..self.len {
            let mut r = self.ranges[i];
            if r.end <= n {
                continue;
            }
            r.start = r.start.saturating_sub(n);
            r.end -= n;
            self.ranges[w] = r;
            w += 1;
        }
        self.len = w;
    }

    /// Is `[offset, offset + len)` already held in full (a duplicate, RFC 2883 4.1.2)?
    pub fn contains(&self, offset: usize, len: usize) -> bool {
        self.ranges[..self.len]
            .iter()
            .any(|r| r.start <= offset && offset + len <= r.end)
    }

    /// Fills `out` with SACK blocks, the most recently changed range first (RFC 2018 4:
    /// the first block reports the segment that triggered this ACK). Returns the count.
    pub fn sack_blocks(&self, rcv_nxt: SeqNum, out: &mut [SackBlock]) -> usize {
        let mut order: [usize; MAX_RANGES] = [0; MAX_RANGES];
        for (i, o) in order.iter_mut().enumerate().take(self.len) {
            *o = i;
        }
        order[..self.len].sort_unstable_by_key(|&i| core::cmp::Reverse(self.ranges[i].stamp));
        let n = out.len().min(self.len);
        for (slot, &i) in out.iter_mut().zip(&order[..n]) {
            let r = self.ranges[i];
            *slot = SackBlock {
                left: rcv_nxt + r.start as u32,
                right: rcv_nxt + r.end as u32,
            };
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_releases_in_order() {
        let mut a = Assembler::new();
        a.add(10, 5).unwrap();
        a.add(20, 5).unwrap();
        a.add(15, 5).unwrap(); // bridges both
        assert_eq!(a.len, 1);
        assert_eq!(a.remove_front(), 0);
        a.add(0, 10).unwrap();
        assert_eq!(a.remove_front(), 25);
        assert!(a.is_empty());
    }

    #[test]
    fn sack_blocks_most_recent_first_and_bounded() {
        let mut a = Assembler::new();
        a.add(100, 10).unwrap();
        a.add(300, 10).unwrap();
        a.add(200, 10).unwrap();
        let mut out = [SackBlock::default(); 3];
        assert_eq!(a.sack_blocks(SeqNum(1000), &mut out), 3);
        assert_eq!(
            out[0],
            SackBlock {
                left: SeqNum(1200),
                right: SeqNum(1210)
            }
        );
        assert_eq!(out[1].left, SeqNum(1300));
        assert_eq!(out[2].left, SeqNum(1100));
        for i in 3..MAX_RANGES {
            a.add(1000 * i, 1).unwrap();
        }
        assert_eq!(a.add(50_000, 1), Err(TooManyHoles));
        // Growing an existing range is always allowed.
        a.add(110, 5).unwrap();
    }

    #[test]
    fn shift_trims_covered_ranges() {
        let mut a = Assembler::new();
        a.add(5, 10).unwrap();
        a.add(30, 5).unwrap();
        a.shift(8);
        let mut out = [SackBlock::default(); 4];
        let n = a.sack_blocks(SeqNum(0), &mut out);
        let mut got: Vec<_> = out[..n].iter().map(|b| (b.left.0, b.right.0)).collect();
        got.sort();
        assert_eq!(got, vec![(0, 7), (22, 27)]);
    }
}

//! The sender's record of what the peer has SACKed above SND.UNA (RFC 6675 2, 4): disjoint
//! sorted ranges, bounded in count.

use super::SeqNum;
use crate::wire::tcp::SackBlock;

const MAX: usize = 16;

#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    ranges: Vec<(SeqNum, SeqNum)>,
}

impl Scoreboard {
    pub fn new() -> Scoreboard {
        Scoreboard {
            ranges: Vec::with_capacity(MAX),
        }
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Records the peer's blocks that lie within (snd_una, snd_max]; ignores the rest (RFC
    /// 2018 5: blocks below SND.UNA are stale, D-SACKs included).
    pub fn add(&mut self, blocks: &[SackBlock], snd_una: SeqNum, snd_max: SeqNum) {
        for b in blocks {
            let (l, r) = (b.left.max(snd_una), b.right.min(snd_max));
            if l >= r {
                continue;
            }
            self.insert(l, r);
        }
    }

    fn insert(&mut self, mut l: SeqNum, mut r: SeqNum) {
        let mut i = 0;
        while i < self.ranges.len() {
            let (a, b) = self.ranges[i];
            if b < l {
                i += 1;
                continue;
            }
            if a > r {
                break;
            }
            l = l.min(a);
            r = r.max(b);
            self.ranges.remove(i);
        }
        if self.ranges.len() == MAX {
            // Keep memory bounded: forget the highest range (it will be SACKed again).
            if i == MAX {
                return;
            }
            self.ranges.pop();
        }
        self.ranges.insert(i, (l, r));
    }

    /// SND.UNA advanced: forget what it covers.
    pub fn advance(&mut self, snd_una: SeqNum) {
        self.ranges.retain_mut(|(l, r)| {
            if *r <= snd_una {
                return false;
            }
            *l = (*l).max(snd_una);
            true
        });
    }

    /// Total SACKed bytes.
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges.iter().map(|(l, r)| (*r - *l) as u32).sum()
    }

    /// The highest SACKed sequence number, if any.
    pub fn highest(&self) -> Option<SeqNum> {
        self.ranges.last().map(|r| r.1)
    }

    /// If `seq` is SACKed, the end of its range.
    pub fn sacked_until(&self, seq: SeqNum) -> Option<SeqNum> {
        self.ranges
            .iter()
            .find(|(l, r)| seq >= *l && seq < *r)
            .map(|r| r.1)
    }

    /// The start of the next SACKed range above `seq`.
    pub fn next_sacked_after(&self, seq: SeqNum) -> Option<SeqNum> {
        self.ranges.iter().map(|r| r.0).find(|l| *l > seq)
    }

    /// RFC 6675 IsLost(seq): at least DupThresh (3) segments' worth of SACKed bytes lie above.
    pub fn is_lost(&self, seq: SeqNum, mss: u32) -> bool {
        let above: u32 = self
            .ranges
            .iter()
            .filter(|(_, r)| *r > seq)
            .map(|(l, r)| (*r - (*l).max(seq + 1)).max(0) as u32)
            .sum();
        above >= 3 * mss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blk(l: u32, r: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        }
    }

    #[test]
    fn merges_clips_and_advances() {
        let mut s = Scoreboard::new();
        s.add(
            &[blk(200, 300), blk(100, 150), blk(0, 50)],
            SeqNum(60),
            SeqNum(1000),
        );
        assert_eq!(s.sacked_bytes(), 150);
        s.add(&[blk(150, 200)], SeqNum(60), SeqNum(1000));
        assert_eq!(s.ranges, vec![(SeqNum(100), SeqNum(300))]);
        assert_eq!(s.sacked_until(SeqNum(120)), Some(SeqNum(300)));
        assert_eq!(s.sacked_until(SeqNum(99)), None);
        assert_eq!(s.next_sacked_after(SeqNum(60)), Some(SeqNum(100)));
        s.advance(SeqNum(250));
        assert_eq!(s.sacked_bytes(), 50);
        assert!(s.is_lost(SeqNum(60), 10) && !s.is_lost(SeqNum(60), 20));
    }
}

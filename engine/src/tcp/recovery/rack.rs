//! RACK: time-based loss detection (RFC 8985 6). A segment is lost when a segment sent
//! after it has been delivered and more than one RTT plus a reordering window has passed
//! since it was sent. The reordering window adapts: zero until reordering is seen (and
//! three segments are SACKed), a quarter of the minimum RTT otherwise, widened by each
//! round that brings a D-SACK (RFC 8985 6.2 step 4, as Linux `tcp_rack_update_reo_wnd`).

use core::time::Duration;

use super::sent::{Seg, SentQueue, EVER_RETRANS, LOST, SACKED};
use crate::tcp::SeqNum;
use crate::time::Instant;

/// Rounds a widened reordering window is kept for (RFC 8985 6.2: 16 recoveries).
const REO_WND_PERSIST: u32 = 16;

#[derive(Clone, Debug, Default)]
pub struct Rack {
    /// RACK.xmit_ts, and the send order that stands in for RACK.end_seq as the
    /// tiebreak (see `Seg::order`): the most recently sent segment known delivered.
    xmit_ts: Option<Instant>,
    order: u32,
    /// RACK.rtt: the RTT that segment measured.
    rtt: Duration,
    min_rtt: Option<Duration>,
    reordering_seen: bool,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    /// No further widening until SND.UNA passes this (one widening per round trip).
    dsack_round: Option<SeqNum>,
}

/// RFC 8985 "RACK_sent_after", with the send order as the tiebreak: two segments sent
/// at one clock reading went in the order they were sent, whatever their sequence.
fn sent_after(t1: Instant, o1: u32, t2: Instant, o2: u32) -> bool {
    t1 > t2 || (t1 == t2 && (o1.wrapping_sub(o2) as i32) > 0)
}

impl Rack {
    pub fn new() -> Rack {
        Rack {
            reo_wnd_mult: 1,
            ..Rack::default()
        }
    }

    /// The smallest RTT measured.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// An RTT measurement (RFC 8985 6.2 step 1): RACK keeps the minimum.
    pub fn on_rtt_sample(&mut self, rtt: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
    }

    /// RFC 8985 6.2 step 3: a segment below the highest SACKed one, never retransmitted,
    /// was delivered late: the path reorders.
    pub fn on_reordering(&mut self) {
        self.reordering_seen = true;
    }

    /// RFC 8985 6.2 step 2, for one newly delivered (ACKed or SACKed) segment.
    pub fn advance(&mut self, seg: &Seg, now: Instant) {
        let rtt = now - seg.sent_at;
        // Linux tcp_rack_advance: for a retransmitted segment, an RTT below the minimum
        // means the original was delivered, not this transmission: nothing to learn.
        if seg.has(EVER_RETRANS) && self.min_rtt.is_some_and(|m| rtt < m) {
            return;
        }
        self.rtt = rtt;
        match self.xmit_ts {
            Some(t) if !sent_after(seg.sent_at, seg.order, t, self.order) => {}
            _ => {
                self.xmit_ts = Some(seg.sent_at);
                self.order = seg.order;
            }
        }
    }

    /// RFC 8985 6.2 step 4: the reordering window for this ACK. `dsack` says the ACK
    /// carried a D-SACK; `in_recovery` covers fast and timeout recovery.
    pub fn reo_wnd(
        &mut self,
        dsack: bool,
        snd_una: SeqNum,
        snd_max: SeqNum,
        in_recovery: bool,
        sacked_segments: u32,
        srtt: Option<Duration>,
    ) -> Duration {
        if self.dsack_round.is_some_and(|r| snd_una >= r) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_max);
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(64);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
        if !self.reordering_seen && (in_recovery || sacked_segments >= 3) {
            return Duration::ZERO;
        }
        let Some(min_rtt) = self.min_rtt else {
            return Duration::ZERO;
        };
        let w = min_rtt * self.reo_wnd_mult / 4;
        srtt.map_or(w, |s| w.min(s))
    }

    /// A recovery episode ended: a widened window decays back after 16 of them.
    pub fn on_recovery_end(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// RFC 8985 6.2 step 5: marks lost every segment sent before the most recently
    /// delivered one whose time (RTT + reordering window) has run out. Returns whether
    /// any was marked, and how long until the next one would expire (the reordering
    /// timer, RFC 8985 6.3).
    pub fn detect_loss(
        &self,
        q: &mut SentQueue,
        now: Instant,
        reo_wnd: Duration,
    ) -> (bool, Option<Duration>) {
        let Some(xmit_ts) = self.xmit_ts else {
            return (false, None);
        };
        let (mut marked, mut timeout) = (false, None::<Duration>);
        for i in 0..q.len() {
            let s = q.get(i);
            if s.flags & (SACKED | LOST) != 0 {
                continue;
            }
            if !sent_after(xmit_ts, self.order, s.sent_at, s.order) {
                // Sent at or after the newest delivered segment; a later entry in
                // sequence order can still have been sent earlier, so keep looking.
                continue;
            }
            let deadline = s.sent_at + self.rtt + reo_wnd;
            if deadline <= now {
                marked |= q.mark_lost(i);
            } else {
                let left = deadline - now;
                timeout = Some(timeout.map_or(left, |t| t.max(left)));
            }
        }
        (marked, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn marks_only_after_rtt_plus_reordering_window() {
        let mut q = SentQueue::new();
        for k in 0..4u32 {
            q.push(
                SeqNum(k * 100),
                SeqNum(k * 100 + 100),
                ms(k as u64),
                Default::default(),
            );
        }
        let mut rack = Rack::new();
        rack.on_rtt_sample(Duration::from_millis(20));
        // Segment 3 (sent at 3 ms) is SACKed at 23 ms: RACK.rtt 20 ms.
        let now = ms(23);
        q.sack(SeqNum(300), SeqNum(400), |s| rack.advance(s, now));
        rack.on_reordering();
        let w = rack.reo_wnd(false, SeqNum(0), SeqNum(400), false, 1, None);
        assert_eq!(w, Duration::from_millis(5));
        // Segment 0 expires at 0 + 20 + 5 = 25 ms, segment 2 at 27 ms.
        assert_eq!(
            rack.detect_loss(&mut q, now, w),
            (false, Some(Duration::from_millis(4)))
        );
        let (marked, left) = rack.detect_loss(&mut q, ms(25), w);
        assert!(marked);
        assert_eq!(q.first_lost(), Some(0));
        assert_eq!(left, Some(Duration::from_millis(2)));
        let (marked, left) = rack.detect_loss(&mut q, ms(27), w);
        assert!(marked && left.is_none());
        assert_eq!(q.lost_bytes(), 300);
    }

    #[test]
    fn dsack_widens_once_per_round_and_decays() {
        let mut rack = Rack::new();
        rack.on_rtt_sample(Duration::from_millis(40));
        rack.on_reordering();
        let w = |r: &mut Rack, d: bool, una: u32| {
            r.reo_wnd(d, SeqNum(una), SeqNum(1000), false, 0, None)
        };
        assert_eq!(w(&mut rack, false, 0), Duration::from_millis(10));
        assert_eq!(w(&mut rack, true, 0), Duration::from_millis(20));
        // A second D-SACK in the same round does not widen again.
        assert_eq!(w(&mut rack, true, 500), Duration::from_millis(20));
        assert_eq!(w(&mut rack, true, 1000), Duration::from_millis(30));
        for _ in 0..REO_WND_PERSIST {
            rack.on_recovery_end();
        }
        assert_eq!(w(&mut rack, false, 1000), Duration::from_millis(10));
        // Without reordering seen, three SACKed segments or recovery mean no wait.
        let mut fresh = Rack::new();
        fresh.on_rtt_sample(Duration::from_millis(40));
        assert_eq!(
            fresh.reo_wnd(false, SeqNum(0), SeqNum(9), false, 3, None),
            Duration::ZERO
        );
        assert_eq!(
            fresh.reo_wnd(false, SeqNum(0), SeqNum(9), false, 1, None),
            Duration::from_millis(10)
        );
    }
}

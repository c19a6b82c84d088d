//! Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation; Linux
//! `tcp_rate.c`): each segment remembers, when it leaves, how much had been delivered and
//! when; the ACK that delivers it turns the difference into a rate sample. A model-based
//! congestion control (BBR) reads one sample per ACK.
//!
//! Amounts are bytes (Linux counts packets); times are the worker's clock.

use core::time::Duration;

use crate::time::Instant;

/// What a segment records when it is (re)transmitted (the draft's per-packet state).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TxState {
    /// Bytes delivered when it left (`P.delivered`).
    pub delivered: u64,
    /// When that count last grew (`P.delivered_time`).
    pub delivered_at: Instant,
    /// Send time of the first segment of its send interval (`P.first_sent_time`).
    pub first_sent_at: Instant,
    /// The application, not the network, limited sending when it left.
    pub app_limited: bool,
}

/// One ACK's rate sample (the draft's `rs`, Linux `struct rate_sample`).
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct RateSample {
    /// Bytes delivered over `interval` (`None`: no valid sample on this ACK).
    pub delivered: Option<u64>,
    /// The longer of the send and the ACK intervals of the sample.
    pub interval: Duration,
    /// `delivered` when the sampled segment left.
    pub prior_delivered: u64,
    /// Bytes this ACK newly acknowledged or SACKed.
    pub acked_sacked: u32,
    /// Bytes this ACK marked lost.
    pub losses: u32,
    /// The sampled segment left while the application limited sending.
    pub is_app_limited: bool,
    /// Round-trip time measured on this ACK, if any.
    pub rtt: Option<Duration>,
    /// Bytes in flight before this ACK was processed.
    pub prior_in_flight: u32,
}

/// The connection's side of the estimator.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    /// Bytes delivered (cumulatively ACKed or SACKed) over the connection's life.
    pub delivered: u64,
    /// When `delivered` last grew.
    pub delivered_at: Instant,
    /// Start of the current send interval.
    first_sent_at: Instant,
    /// Nonzero while the application limits sending: the `delivered` count at which the
    /// bubble it left has drained (the draft's `C.app_limited`).
    app_limited_until: u64,
    /// The sample this ACK is building.
    acc: Acc,
}

#[derive(Copy, Clone, Debug, Default)]
struct Acc {
    bytes: u32,
    /// The sampled segment: (its tx state, when it was sent, its send order).
    prior: Option<(TxState, Instant, u32)>,
}

impl Rate {
    /// A segment leaves (new or retransmitted); `nothing_in_flight` when no data was
    /// outstanding before it. Returns what the segment records.
    pub fn on_send(&mut self, now: Instant, nothing_in_flight: bool) -> TxState {
        if nothing_in_flight {
            // The draft 3.2: a new send interval starts from here.
            self.first_sent_at = now;
            self.delivered_at = now;
        }
        TxState {
            delivered: self.delivered,
            delivered_at: self.delivered_at,
            first_sent_at: self.first_sent_at,
            app_limited: self.app_limited_until != 0,
        }
    }

    /// A segment was delivered (first ACK or SACK covering it): `len` bytes, sent at
    /// `sent_at` as transmission number `order`.
    pub fn on_delivered(&mut self, tx: TxState, sent_at: Instant, order: u32, len: u32) {
        self.acc.bytes += len;
        // The sample comes from the most recently sent of the segments this ACK delivers
        // (Linux tcp_rate_skb_delivered; send order breaks ties of one clock reading).
        let newer = self.acc.prior.is_none_or(|(_, at, o)| {
            sent_at > at || (sent_at == at && (order.wrapping_sub(o) as i32) > 0)
        });
        if newer {
            self.acc.prior = Some((tx, sent_at, order));
            // The next send interval starts at this segment's send time.
            self.first_sent_at = sent_at;
        }
    }

    /// The ACK is processed: turns what it delivered into a sample (Linux
    /// `tcp_rate_gen`). `min_rtt` rejects intervals too short to be real.
    pub fn generate(
        &mut self,
        now: Instant,
        losses: u32,
        prior_in_flight: u32,
        rtt: Option<Duration>,
        min_rtt: Option<Duration>,
    ) -> RateSample {
        let acc = core::mem::take(&mut self.acc);
        if acc.bytes > 0 {
            self.delivered += acc.bytes as u64;
            self.delivered_at = now;
        }
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            // The bubble drained: later samples measure the network again.
            self.app_limited_until = 0;
        }
        let mut rs = RateSample {
            acked_sacked: acc.bytes,
            losses,
            rtt,
            prior_in_flight,
            ..RateSample::default()
        };
        let Some((tx, sent_at, _)) = acc.prior else {
            return rs;
        };
        rs.prior_delivered = tx.delivered;
        rs.is_app_limited = tx.app_limited;
        let send = sent_at.saturating_since(tx.first_sent_at);
        let ack = now.saturating_since(tx.delivered_at);
        rs.interval = send.max(ack);
        // The draft 3.3: an interval below the minimum RTT means ACK compression or a
        // stretch ACK; such a sample would overestimate the rate.
        if rs.interval.is_zero() || min_rtt.is_some_and(|m| rs.interval < m) {
            return rs;
        }
        rs.delivered = Some(self.delivered - tx.delivered);
        rs
    }

    /// The sender ran out of data with room to send (Linux `tcp_rate_check_app_limited`):
    /// samples until what is in flight now is delivered describe the application.
    pub fn check_app_limited(
        &mut self,
        unsent: u32,
        mss: u32,
        in_flight: u32,
        cwnd: u32,
        lost: u32,
    ) {
        if unsent < mss && in_flight < cwnd && lost == 0 {
            self.app_limited_until = (self.delivered + in_flight as u64).max(1);
        }
    }

    /// Is the sender marked application-limited?
    #[cfg(test)]
    pub fn app_limited(&self) -> bool {
        self.app_limited_until != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    #[test]
    fn a_steady_flight_samples_its_rate() {
        let mut r = Rate::default();
        // Ten 1000-byte segments leave 10 us apart; each is acknowledged 100 us later.
        let tx: Vec<_> = (0..10)
            .map(|k| (r.on_send(at(k * 10), k == 0), at(k * 10), k as u32))
            .collect();
        let mut last = RateSample::default();
        for (k, (t, sent, order)) in tx.into_iter().enumerate() {
            r.on_delivered(t, sent, order, 1000);
            last = r.generate(at(100 + k as u64 * 10), 0, 0, None, None);
        }
        // The whole flight left before anything was delivered: the last sample covers
        // it all, over the longer interval, from the first send (0) to the last ACK (190).
        assert_eq!(last.delivered, Some(10_000));
        assert_eq!(last.interval, Duration::from_micros(190));
        assert_eq!(last.acked_sacked, 1000);
        assert_eq!(r.delivered, 10_000);
    }

    #[test]
    fn the_most_recently_sent_segment_is_the_sample() {
        let mut r = Rate::default();
        let a = r.on_send(at(0), true);
        let b = r.on_send(at(0), false);
        r.on_delivered(b, at(0), 1, 500);
        r.on_delivered(a, at(0), 0, 500);
        let rs = r.generate(at(50), 0, 1000, None, None);
        assert_eq!(rs.acked_sacked, 1000);
        assert_eq!(rs.prior_delivered, 0);
        assert_eq!(rs.delivered, Some(1000));
        assert_eq!(rs.interval, Duration::from_micros(50));
    }

    #[test]
    fn too_short_an_interval_is_no_sample() {
        let mut r = Rate::default();
        let a = r.on_send(at(0), true);
        r.on_delivered(a, at(0), 0, 1000);
        let rs = r.generate(at(10), 0, 1000, None, Some(Duration::from_micros(20)));
        assert_eq!(rs.delivered, None, "10 us is below the 20 us minimum RTT");
        assert_eq!(r.delivered, 1000, "delivery is counted all the same");
    }

    #[test]
    fn app_limited_marks_segments_until_the_bubble_drains() {
        let mut r = Rate::default();
        r.check_app_limited(0, 1000, 2000, 10_000, 0);
        assert!(r.app_limited());
        let a = r.on_send(at(0), true);
        assert!(a.app_limited);
        r.on_delivered(a, at(0), 0, 1000);
        assert!(r.generate(at(100), 0, 0, None, None).is_app_limited);
        assert!(
            r.app_limited(),
            "2000 in flight when marked; 1000 delivered"
        );
        let b = r.on_send(at(100), true);
        r.on_delivered(b, at(100), 1, 1500);
        r.generate(at(200), 0, 0, None, None);
        assert!(!r.app_limited());
        // cwnd-limited is not application-limited.
        r.check_app_limited(0, 1000, 10_000, 10_000, 0);
        assert!(!r.app_limited());
    }
}

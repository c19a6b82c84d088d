//! Request latency as a histogram (for Prometheus): from a request's head parsed to its
//! response's last byte handed to TCP (written into the send buffer), as nginx's
//! `$request_time` ends when the last byte is given to the socket. A small response is
//! handed over in the turn of the loop that parsed its request (the first bucket); a large
//! one waits for the peer's ACKs to make room.

use core::time::Duration;

/// Upper bounds of the buckets, in microseconds (a last one, +Inf, holds the rest).
pub const BOUNDS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// Counts per bucket (not cumulative), their sum and count.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LatencyHistogram {
    /// Samples per bucket, `BOUNDS_US` then +Inf.
    pub buckets: [u64; BOUNDS_US.len() + 1],
    /// The samples' sum, in microseconds.
    pub sum_us: u64,
    /// How many samples.
    pub count: u64,
}

impl LatencyHistogram {
    /// One sample of `d`.
    pub fn record(&mut self, d: Duration) {
        self.record_n(d, 1);
    }

    /// `n` samples of `d`.
    pub fn record_n(&mut self, d: Duration, n: u64) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i] += n;
        self.sum_us = self.sum_us.saturating_add(us.saturating_mul(n));
        self.count += n;
    }

    /// Adds `o`'s samples (a total over workers).
    pub fn add(&mut self, o: &LatencyHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.sum_us = self.sum_us.saturating_add(o.sum_us);
        self.count += o.count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_the_bucket_whose_bound_holds_them() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::ZERO);
        h.record(Duration::from_micros(100)); // le 100 us
        h.record(Duration::from_micros(101)); // le 250 us
        h.record(Duration::from_secs(60)); // +Inf
        assert_eq!(h.buckets[0], 2);
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[BOUNDS_US.len()], 1);
        assert_eq!((h.count, h.sum_us), (4, 60_000_201));
    }
}

//! Retransmission timeout from measured round-trip times (RFC 6298).

use core::time::Duration;

/// Clock granularity G of RFC 6298 (2.3): our clock ticks in microseconds; Linux uses a
/// millisecond here, which is what keeps RTTVAR from collapsing to zero.
const GRANULARITY: Duration = Duration::from_millis(1);

/// RTT estimator and RTO with exponential backoff.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    backoff: u32,
}

impl RttEstimator {
    /// Linux defaults: initial 1 s (RFC 6298 (2.1)), floor 200 ms, ceiling 120 s.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial_rto.clamp(min_rto, max_rto),
            min_rto,
            max_rto,
            backoff: 0,
        }
    }

    /// Feeds one measurement (RFC 6298 (2.2), (2.3)).
    pub fn on_sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                // (2.2) SRTT <- R, RTTVAR <- R/2
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // (2.3) RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        // RTO <- SRTT + max(G, K*RTTVAR), K = 4; (2.4) floor, (2.5) ceiling.
        self.rto = (srtt + (self.rttvar * 4).max(GRANULARITY)).clamp(self.min_rto, self.max_rto);
        // (5.7): a new RTT sample after backing off lets the timer collapse again.
        self.backoff = 0;
    }

    /// The timeout to arm now, backoff included.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        (self.rto * factor).min(self.max_rto)
    }

    /// RFC 6298 (5.5): double the timer after it expires (capped by the ceiling).
    pub fn backoff(&mut self) {
        if self.rto() < self.max_rto {
            self.backoff += 1;
        }
    }

    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTTVAR (RFC 6298), for `Conn::info`.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Doublings of the timer since the last RTT sample.
    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        )
    }

    #[test]
    fn initial_first_sample_and_smoothing() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1)); // (2.1)
        e.on_sample(Duration::from_millis(100));
        // SRTT 100, RTTVAR 50: RTO = 100 + 200 = 300 ms.
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.on_sample(Duration::from_millis(100));
        // RTTVAR 37.5, SRTT 100: RTO 250 ms.
        assert_eq!(e.rto(), Duration::from_micros(250_000));
        for _ in 0..50 {
            e.on_sample(Duration::from_millis(10));
        }
        assert_eq!(e.rto(), Duration::from_millis(200), "floor (2.4)");
    }

    #[test]
    fn backoff_doubles_up_to_the_ceiling_and_a_sample_resets_it() {
        let mut e = est();
        for i in 0..10 {
            assert_eq!(
                e.rto(),
                Duration::from_secs(1 << i).min(Duration::from_secs(120))
            );
            e.backoff();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        e.on_sample(Duration::from_millis(50));
        assert_eq!(e.backoff_count(), 0);
        assert!(e.rto() < Duration::from_secs(1));
    }
}

//! Congestion control behind one trait: NewReno (RFC 5681, RFC 6582), CUBIC (RFC 9438,
//! the default, as on Linux) and BBR (`tcp/bbr.rs`, model-based). Windows are in bytes.

use core::time::Duration;

use super::bbr::Bbr;
use super::recovery::rate::RateSample;
use crate::time::Instant;

/// Where loss recovery stands, as a congestion control sees it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum CaPhase {
    /// No loss being repaired.
    #[default]
    Open,
    /// Fast recovery.
    Recovery,
    /// After a retransmission timeout.
    Loss,
}

/// A congestion control algorithm: the window it allows and how events change it.
pub trait CongestionControl {
    /// The congestion window, in bytes.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold, in bytes.
    fn ssthresh(&self) -> u32;
    /// New data was acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, acked: u32, rtt: Option<Duration>);
    /// Loss detected by duplicate ACKs or SACK: entering fast recovery.
    fn on_congestion(&mut self, now: Instant, in_flight: u32);
    /// The retransmission timer expired.
    fn on_rto(&mut self, now: Instant, in_flight: u32);
    /// The timer expired again for the same data: ssthresh is kept, cwnd is one segment.
    fn on_repeated_rto(&mut self);
    /// RFC 5681 4.1: sending after an idle period longer than the RTO.
    fn on_idle_restart(&mut self, now: Instant);
    /// The sender's segment size changed (the window's unit).
    fn set_mss(&mut self, mss: u32);
    /// The window is set from outside: by PRR during fast recovery (RFC 6937), to
    /// ssthresh when recovery ends, or back to its old value when a loss proves spurious.
    fn set_cwnd(&mut self, cwnd: u32);
}

/// Which algorithm a connection uses (`--cc`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// CUBIC (RFC 9438), Linux's default.
    #[default]
    Cubic,
    /// NewReno (RFC 5681, RFC 6582).
    NewReno,
    /// BBR version 1 (`tcp/bbr.rs`): a path model sets the window; random loss does not
    /// cut it.
    Bbr,
}

impl core::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Algorithm, String> {
        match s {
            "cubic" => Ok(Algorithm::Cubic),
            "reno" | "newreno" => Ok(Algorithm::NewReno),
            "bbr" => Ok(Algorithm::Bbr),
            _ => Err(format!(
                "'{s}' is not a congestion control: use cubic, newreno or bbr"
            )),
        }
    }
}

/// RFC 6928 initial window: 10 segments (Linux's default).
pub fn initial_window(mss: u32) -> u32 {
    10 * mss
}

/// RFC 5681 (4): the loss window after a timeout, and (3) the ssthresh floor.
fn half_flight(in_flight: u32, mss: u32) -> u32 {
    (in_flight / 2).max(2 * mss)
}

/// NewReno: slow start, then one MSS per RTT, with appropriate byte counting (RFC 3465).
#[derive(Clone, Debug)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance.
    acked_in_ca: u32,
}

impl NewReno {
    /// The initial window for segments of `mss` bytes (RFC 5681 3.1).
    pub fn new(mss: u32) -> NewReno {
        NewReno {
            mss,
            cwnd: initial_window(mss),
            ssthresh: u32::MAX,
            acked_in_ca: 0,
        }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, _now: Instant, acked: u32, _rtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            // RFC 5681 (2), RFC 3465 L = 2 SMSS.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.mss));
        } else {
            // RFC 5681 (3): about one SMSS per RTT.
            self.acked_in_ca += acked;
            if self.acked_in_ca >= self.cwnd {
                self.acked_in_ca -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }
    fn on_congestion(&mut self, _now: Instant, in_flight: u32) {
        // RFC 6582 / RFC 5681 (4): ssthresh = max(FlightSize/2, 2 SMSS), cwnd = ssthresh.
        self.ssthresh = half_flight(in_flight, self.mss);
        self.cwnd = self.ssthresh;
        self.acked_in_ca = 0;
    }
    fn on_rto(&mut self, _now: Instant, in_flight: u32) {
        self.ssthresh = half_flight(in_flight, self.mss);
        self.cwnd = self.mss;
        self.acked_in_ca = 0;
    }
    fn on_repeated_rto(&mut self) {
        self.cwnd = self.mss;
        self.acked_in_ca = 0;
    }
    fn on_idle_restart(&mut self, _now: Instant) {
        self.cwnd = self.cwnd.min(initial_window(self.mss));
    }
    fn set_mss(&mut self, mss: u32) {
        self.mss = mss.max(1);
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(self.mss);
    }
}

/// CUBIC (RFC 9438): window growth as a cubic function of time since the last congestion
/// event, with a Reno-friendly floor.
#[derive(Clone, Debug)]
pub struct Cubic {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// W_max in segments (RFC 9438 4.2).
    w_max: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch: Option<Instant>,
    k: f64,
    /// Reno-friendly estimate in segments (RFC 9438 4.3).
    w_est: f64,
    min_rtt: Option<Duration>,
}

/// RFC 9438 4.6, 5: C and beta_cubic.
const C: f64 = 0.4;
const BETA: f64 = 0.7;

impl Cubic {
    /// The initial window for segments of `mss` bytes.
    pub fn new(mss: u32) -> Cubic {
        Cubic {
            mss,
            cwnd: initial_window(mss),
            ssthresh: u32::MAX,
            w_max: 0.0,
            epoch: None,
            k: 0.0,
            w_est: 0.0,
            min_rtt: None,
        }
    }

    fn segs(&self) -> f64 {
        self.cwnd as f64 / self.mss as f64
    }

    /// W_cubic(t) in segments (RFC 9438 eqn. 1).
    fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, now: Instant, acked: u32, rtt: Option<Duration>) {
        if let Some(r) = rtt {
            self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.mss));
            return;
        }
        // RFC 9438 4.2: a new epoch starts with the first ACK in congestion avoidance.
        let epoch = *self.epoch.get_or_insert(now);
        if self.w_max < self.segs() {
            // No congestion seen yet (or the window grew past W_max): K = 0 from here.
            self.w_max = self.segs();
            self.k = 0.0;
        }
        let rtt = self
            .min_rtt
            .unwrap_or(Duration::from_millis(100))
            .as_secs_f64();
        let t = (now - epoch).as_secs_f64();
        // RFC 9438 4.2: target = W_cubic(t + RTT), limited to 1.5 cwnd.
        let target = self.w_cubic(t + rtt).clamp(self.segs(), 1.5 * self.segs());
        // RFC 9438 4.3: W_est grows by alpha per RTT's worth of ACKed segments.
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        self.w_est += alpha * (acked as f64 / self.mss as f64) / self.segs();
        let cur = self.segs();
        let next = if self.w_cubic(t) < self.w_est {
            // Reno-friendly region.
            self.w_est.max(cur)
        } else {
            // Concave or convex region: (target - cwnd) / cwnd per ACKed segment.
            cur + (target - cur) / cur * (acked as f64 / self.mss as f64)
        };
        self.cwnd = ((next * self.mss as f64) as u32).max(self.cwnd);
    }
    fn on_congestion(&mut self, _now: Instant, in_flight: u32) {
        let cur = self.segs();
        // RFC 9438 4.7 fast convergence.
        self.w_max = if cur < self.w_max {
            cur * (1.0 + BETA) / 2.0
        } else {
            cur
        };
        // RFC 9438 4.6: ssthresh = cwnd * beta, as Linux. The flight size would count
        // SACKed bytes and the window can only have been as large as cwnd anyway.
        let _ = in_flight;
        let new = (cur * BETA).max(2.0);
        self.ssthresh = (new * self.mss as f64) as u32;
        self.cwnd = self.ssthresh;
        self.k = ((self.w_max - new) / C).cbrt();
        self.w_est = new;
        self.epoch = None;
    }
    fn on_rto(&mut self, now: Instant, in_flight: u32) {
        self.on_congestion(now, in_flight);
        self.cwnd = self.mss;
        self.epoch = None;
    }
    fn on_repeated_rto(&mut self) {
        self.cwnd = self.mss;
        self.epoch = None;
    }
    fn on_idle_restart(&mut self, _now: Instant) {
        self.cwnd = self.cwnd.min(initial_window(self.mss));
        self.epoch = None;
    }
    fn set_mss(&mut self, mss: u32) {
        self.mss = mss.max(1);
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(self.mss);
    }
}

/// Enum dispatch over the algorithms: no box per connection.
#[derive(Clone, Debug)]
pub enum Controller {
    /// CUBIC.
    Cubic(Cubic),
    /// NewReno.
    NewReno(NewReno),
    /// BBR (boxed: its model is several times the size of the others).
    Bbr(Box<Bbr>),
}

impl Controller {
    /// The algorithm `alg`, starting with segments of `mss` bytes.
    pub fn new(alg: Algorithm, mss: u32) -> Controller {
        match alg {
            Algorithm::Cubic => Controller::Cubic(Cubic::new(mss)),
            Algorithm::NewReno => Controller::NewReno(NewReno::new(mss)),
            Algorithm::Bbr => Controller::Bbr(Box::new(Bbr::new(mss))),
        }
    }

    /// Does the controller set the window itself on every ACK, recovery included (Linux
    /// `cong_control`)? Then PRR, the end-of-recovery reset to ssthresh and the one-shot
    /// reductions do not apply.
    pub fn model_based(&self) -> bool {
        matches!(self, Controller::Bbr(_))
    }

    /// One ACK's delivery-rate sample, after loss recovery took the ACK.
    pub(crate) fn on_rate_sample(
        &mut self,
        now: Instant,
        rs: &RateSample,
        phase: CaPhase,
        in_flight: u32,
        delivered: u64,
        delivered_at: Instant,
    ) {
        if let Controller::Bbr(b) = self {
            b.on_sample(now, rs, phase, in_flight, delivered, delivered_at);
        }
    }

    /// A loss response proved spurious and the controller keeps its own state: true when
    /// it took the undo itself (BBR), false when the caller restores the prior state.
    pub fn on_undo(&mut self) -> bool {
        match self {
            Controller::Bbr(b) => {
                b.on_undo();
                true
            }
            _ => false,
        }
    }

    /// BBR's state, for inspection.
    pub fn bbr(&self) -> Option<&Bbr> {
        match self {
            Controller::Bbr(b) => Some(b),
            _ => None,
        }
    }

    fn inner(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::Cubic(c) => c,
            Controller::NewReno(c) => c,
            Controller::Bbr(c) => c.as_mut(),
        }
    }

    fn inner_ref(&self) -> &dyn CongestionControl {
        match self {
            Controller::Cubic(c) => c,
            Controller::NewReno(c) => c,
            Controller::Bbr(c) => c.as_ref(),
        }
    }
}

impl CongestionControl for Controller {
    fn cwnd(&self) -> u32 {
        self.inner_ref().cwnd()
    }
    fn ssthresh(&self) -> u32 {
        self.inner_ref().ssthresh()
    }
    fn on_ack(&mut self, now: Instant, acked: u32, rtt: Option<Duration>) {
        self.inner().on_ack(now, acked, rtt)
    }
    fn on_congestion(&mut self, now: Instant, in_flight: u32) {
        self.inner().on_congestion(now, in_flight)
    }
    fn on_rto(&mut self, now: Instant, in_flight: u32) {
        self.inner().on_rto(now, in_flight)
    }
    fn on_repeated_rto(&mut self) {
        self.inner().on_repeated_rto()
    }
    fn on_idle_restart(&mut self, _now: Instant) {
        self.inner().on_idle_restart(_now)
    }
    fn set_mss(&mut self, mss: u32) {
        self.inner().set_mss(mss)
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.inner().set_cwnd(cwnd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    /// Acks a full window per "RTT" of 100 ms, `rounds` times; returns cwnd after each.
    fn rounds(cc: &mut dyn CongestionControl, start: Instant, rounds: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut now = start;
        for _ in 0..rounds {
            let w = cc.cwnd();
            let mut acked = 0;
            while acked < w {
                cc.on_ack(now, MSS, Some(Duration::from_millis(100)));
                acked += MSS;
            }
            now += Duration::from_millis(100);
            out.push(cc.cwnd());
        }
        out
    }

    #[test]
    fn newreno_slow_start_doubles_then_grows_one_mss_per_rtt() {
        let mut c = NewReno::new(MSS);
        assert_eq!(c.cwnd(), 10 * MSS);
        let w = rounds(&mut c, Instant::ZERO, 3);
        assert_eq!(w, vec![20 * MSS, 40 * MSS, 80 * MSS]);
        c.on_congestion(Instant::ZERO, 80 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (40 * MSS, 40 * MSS));
        let w = rounds(&mut c, Instant::ZERO, 3);
        assert_eq!(w, vec![41 * MSS, 42 * MSS, 43 * MSS]);
        c.on_rto(Instant::ZERO, 40 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 20 * MSS));
    }

    #[test]
    fn cubic_backs_off_by_beta_and_regrows_concave_then_convex() {
        let mut c = Cubic::new(MSS);
        c.ssthresh = 100 * MSS;
        c.cwnd = 100 * MSS;
        c.on_congestion(Instant::ZERO, 100 * MSS);
        assert_eq!(c.cwnd(), 70 * MSS, "beta 0.7");
        // K = cbrt((100 - 70) / 0.4) = 4.2 s
        assert!((c.k - 4.217).abs() < 0.01, "K {}", c.k);
        let w = rounds(&mut c, Instant::from_secs(1), 100);
        let growth: Vec<i64> = w.windows(2).map(|p| p[1] as i64 - p[0] as i64).collect();
        // Near W_max (t close to K = 4.2 s, i.e. rounds 35-45) growth is slower than early
        // on (concave) and than later (convex).
        let early: i64 = growth[0..10].iter().sum();
        let plateau: i64 = growth[35..45].iter().sum();
        let late: i64 = growth[85..95].iter().sum();
        assert!(
            plateau < early && plateau < late,
            "early {early} plateau {plateau} late {late}"
        );
        // Reaches W_max around K.
        assert!(
            w[40] > 95 * MSS && w[40] < 110 * MSS,
            "cwnd at K: {}",
            w[40]
        );
        c.on_rto(Instant::from_secs(20), c.cwnd());
        assert_eq!(c.cwnd(), MSS);
    }
}

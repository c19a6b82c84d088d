//! BBR congestion control, version 1, as Linux implements it (`net/ipv4/tcp_bbr.c`;
//! draft-cardwell-iccrg-bbr-congestion-control-00): a model of the path (the windowed
//! maximum delivery rate and the windowed minimum RTT) sets the congestion window, and a
//! random loss does not cut it. What differs from Linux, and why:
//!
//! - Amounts are bytes where Linux counts packets (the rest of the stack is in bytes).
//! - No pacing: the engine sends a window as one batch. The pacing rate is still computed,
//!   because the window's budget for batching (`quantization_budget`) follows it, and
//!   DRAIN brakes with the window instead (one BDP, not 2.89).
//! - No long-term ("policer") bandwidth sampling: it only acts on paths that lose more
//!   than 20% of what they carry.
//!
//! The stack calls `Bbr::on_sample` once per ACK with the delivery-rate sample
//! (`tcp/recovery/rate.rs`) after loss recovery has taken the ACK, as Linux calls
//! `cong_control`; recovery's PRR and its window reductions do not apply.

use core::time::Duration;

use super::cc::{initial_window, CaPhase, CongestionControl};
use super::recovery::rate::RateSample;
use crate::time::Instant;

/// STARTUP's gain, 2/ln(2): doubles the sending rate every round.
const HIGH_GAIN: f64 = 2.885;
/// DRAIN's pacing gain: empties STARTUP's queue in about one round.
const DRAIN_GAIN: f64 = 1.0 / 2.885;
/// PROBE_BW's cwnd gain: tolerates delayed and stretched ACKs.
const CWND_GAIN: f64 = 2.0;
/// PROBE_BW's pacing gain cycle: probe, drain, cruise.
const PACING_GAIN: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// The bandwidth filter's window, in rounds.
const BW_ROUNDS: u64 = PACING_GAIN.len() as u64 + 2;
/// The minimum RTT filter's window.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// How long PROBE_RTT holds the window at its minimum.
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// Segments always allowed in flight (two delayed-ACK pairs).
const CWND_MIN_SEGS: u32 = 4;
/// STARTUP is over after this many rounds without 25% bandwidth growth.
const FULL_BW_ROUNDS: u32 = 3;
const FULL_BW_GROWTH: f64 = 1.25;
/// The ACK aggregation estimate's window, in rounds, and its cap in time.
const EXTRA_ACKED_ROUNDS: u32 = 5;
const EXTRA_ACKED_MAX: Duration = Duration::from_millis(100);
/// Pace about 1% below the estimate.
const PACING_MARGIN: f64 = 0.99;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Mode {
    Startup,
    Drain,
    ProbeBw,
    ProbeRtt,
}

/// Kathleen Nichols' windowed maximum (Linux `lib/minmax.c`): the best, second and
/// third best values of a window, in constant space.
#[derive(Copy, Clone, Debug, Default)]
struct WindowedMax {
    s: [(u64, f64); 3],
}

impl WindowedMax {
    fn get(&self) -> f64 {
        self.s[0].1
    }

    fn reset(&mut self, t: u64, v: f64) {
        self.s = [(t, v); 3];
    }

    fn update(&mut self, win: u64, t: u64, v: f64) {
        if v >= self.s[0].1 || t - self.s[2].0 > win {
            self.reset(t, v);
            return;
        }
        if v >= self.s[1].1 {
            self.s[2] = (t, v);
            self.s[1] = (t, v);
        } else if v >= self.s[2].1 {
            self.s[2] = (t, v);
        }
        let dt = t - self.s[0].0;
        if dt > win {
            self.s[0] = self.s[1];
            self.s[1] = self.s[2];
            self.s[2] = (t, v);
            if t - self.s[0].0 > win {
                self.s[0] = self.s[1];
                self.s[1] = self.s[2];
                self.s[2] = (t, v);
            }
        } else if self.s[1].0 == self.s[0].0 && dt > win / 4 {
            self.s[2] = (t, v);
            self.s[1] = (t, v);
        } else if self.s[2].0 == self.s[1].0 && dt > win / 2 {
            self.s[2] = (t, v);
        }
    }
}

/// The BBR state of one connection.
#[derive(Clone, Debug)]
pub struct Bbr {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    mode: Mode,
    /// Windowed maximum delivery rate, bytes per second, over `BW_ROUNDS` rounds.
    bw: WindowedMax,
    min_rtt: Option<Duration>,
    min_rtt_stamp: Instant,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    /// Packet-timed rounds: one ends when a segment sent after the previous end is
    /// delivered.
    rounds: u64,
    next_round_delivered: u64,
    round_start: bool,
    cycle_idx: usize,
    cycle_stamp: Instant,
    pacing_gain: f64,
    cwnd_gain: f64,
    pacing_rate: f64,
    full_bw: f64,
    full_bw_rounds: u32,
    full_bw_reached: bool,
    packet_conservation: bool,
    prev_phase: CaPhase,
    prior_cwnd: u32,
    idle_restart: bool,
    ack_epoch_stamp: Instant,
    ack_epoch_acked: u64,
    extra_acked: [u32; 2],
    extra_acked_rounds: u32,
    extra_acked_idx: usize,
}

impl Bbr {
    /// A new connection's BBR: STARTUP from the initial window.
    pub fn new(mss: u32) -> Bbr {
        let mss = mss.max(1);
        Bbr {
            mss,
            cwnd: initial_window(mss),
            ssthresh: u32::MAX,
            mode: Mode::Startup,
            bw: WindowedMax::default(),
            min_rtt: None,
            min_rtt_stamp: Instant::ZERO,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            rounds: 0,
            next_round_delivered: 0,
            round_start: false,
            cycle_idx: 0,
            cycle_stamp: Instant::ZERO,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            // Linux bbr_init_pacing_rate_from_rtt with its nominal 1 ms RTT.
            pacing_rate: HIGH_GAIN * initial_window(mss) as f64 * 1000.0,
            full_bw: 0.0,
            full_bw_rounds: 0,
            full_bw_reached: false,
            packet_conservation: false,
            prev_phase: CaPhase::Open,
            prior_cwnd: 0,
            idle_restart: false,
            ack_epoch_stamp: Instant::ZERO,
            ack_epoch_acked: 0,
            extra_acked: [0; 2],
            extra_acked_rounds: 0,
            extra_acked_idx: 0,
        }
    }

    /// The estimated bottleneck bandwidth, bytes per second.
    pub fn bandwidth(&self) -> f64 {
        self.bw.get()
    }

    /// The rate BBR would pace at, bytes per second.
    pub fn pacing_rate(&self) -> f64 {
        self.pacing_rate
    }

    /// Is the pipe estimated full (STARTUP over)?
    pub fn full_bw_reached(&self) -> bool {
        self.full_bw_reached
    }

    /// The mode's name, for `fastpath ss`.
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Startup => "startup",
            Mode::Drain => "drain",
            Mode::ProbeBw => "probe_bw",
            Mode::ProbeRtt => "probe_rtt",
        }
    }

    /// Loss recovery begins (Linux `bbr_ssthresh`): remember the window to come back to.
    /// ssthresh does not change.
    pub(super) fn enter_recovery(&mut self) {
        self.save_cwnd();
    }

    /// A retransmission timeout (Linux `tcp_enter_loss` with `bbr_set_state(Loss)`).
    pub(super) fn enter_loss(&mut self, in_flight: u32) {
        self.save_cwnd();
        self.cwnd = in_flight.saturating_add(self.mss);
        self.prev_phase = CaPhase::Loss;
        self.full_bw = 0.0;
        self.round_start = true;
    }

    /// Sending restarts after an idle period.
    pub(super) fn idle_restart(&mut self, now: Instant) {
        self.cwnd = self.cwnd.min(initial_window(self.mss));
        self.idle_restart = true;
        self.ack_epoch_stamp = now;
        self.ack_epoch_acked = 0;
        if self.mode == Mode::ProbeBw {
            self.pacing_rate = self.rate_with(self.bw.get(), 1.0);
        }
    }

    /// A loss response proved spurious (Linux `bbr_undo_cwnd`): the window stays, STARTUP's
    /// full-pipe detection starts over.
    pub(super) fn on_undo(&mut self) {
        self.full_bw = 0.0;
        self.full_bw_rounds = 0;
    }

    /// One ACK's sample (Linux `bbr_main`). `phase` is loss recovery's state after the
    /// ACK; `in_flight` the pipe after it; `delivered` and `delivered_at` the
    /// connection's delivery count and its time.
    pub(crate) fn on_sample(
        &mut self,
        now: Instant,
        rs: &RateSample,
        phase: CaPhase,
        in_flight: u32,
        delivered: u64,
        delivered_at: Instant,
    ) {
        self.update_bw(rs, delivered);
        self.update_ack_aggregation(rs, delivered_at);
        if self.mode == Mode::ProbeBw && self.is_next_cycle_phase(rs, delivered_at) {
            self.advance_cycle_phase(delivered_at);
        }
        self.check_full_bw_reached(rs);
        self.check_drain(in_flight, now);
        self.update_min_rtt(now, rs, in_flight, delivered);
        self.update_gains();

        let bw = self.bw.get();
        let rate = self.rate_with(bw, self.pacing_gain);
        if self.full_bw_reached || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
        self.set_cwnd(rs, phase, in_flight, delivered, bw);
    }

    fn rate_with(&self, bw: f64, gain: f64) -> f64 {
        bw * gain * PACING_MARGIN
    }

    fn save_cwnd(&mut self) {
        if self.prev_phase == CaPhase::Open && self.mode != Mode::ProbeRtt {
            self.prior_cwnd = self.cwnd;
        } else {
            self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
        }
    }

    fn update_bw(&mut self, rs: &RateSample, delivered: u64) {
        self.round_start = false;
        let Some(d) = rs.delivered else { return };
        if rs.interval.is_zero() {
            return;
        }
        if rs.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = delivered;
            self.rounds += 1;
            self.round_start = true;
            self.packet_conservation = false;
        }
        let bw = d as f64 / rs.interval.as_secs_f64();
        // An application-limited sample only counts if it shows more than the model.
        if !rs.is_app_limited || bw >= self.bw.get() {
            self.bw.update(BW_ROUNDS, self.rounds, bw);
        }
    }

    /// How much more the ACKs deliver than the model expects (Linux
    /// `bbr_update_ack_aggregation`): the window keeps that much extra so the sender does
    /// not stall between aggregated ACKs.
    fn update_ack_aggregation(&mut self, rs: &RateSample, delivered_at: Instant) {
        if rs.acked_sacked == 0 || rs.delivered.is_none() || rs.interval.is_zero() {
            return;
        }
        if self.round_start {
            self.extra_acked_rounds = (self.extra_acked_rounds + 1).min(31);
            if self.extra_acked_rounds >= EXTRA_ACKED_ROUNDS {
                self.extra_acked_rounds = 0;
                self.extra_acked_idx ^= 1;
                self.extra_acked[self.extra_acked_idx] = 0;
            }
        }
        let epoch = delivered_at.saturating_since(self.ack_epoch_stamp);
        let mut expected = (self.bw.get() * epoch.as_secs_f64()) as u64;
        if self.ack_epoch_acked <= expected || self.ack_epoch_acked >= 1 << 40 {
            self.ack_epoch_acked = 0;
            self.ack_epoch_stamp = delivered_at;
            expected = 0;
        }
        self.ack_epoch_acked = self.ack_epoch_acked.saturating_add(rs.acked_sacked as u64);
        let extra = (self.ack_epoch_acked - expected).min(self.cwnd as u64) as u32;
        let slot = &mut self.extra_acked[self.extra_acked_idx];
        *slot = (*slot).max(extra);
    }

    fn ack_aggregation_cwnd(&self) -> u32 {
        if !self.full_bw_reached {
            return 0;
        }
        let cap = self.bw.get() * EXTRA_ACKED_MAX.as_secs_f64();
        (self.extra_acked[0].max(self.extra_acked[1]) as f64).min(cap) as u32
    }

    fn is_next_cycle_phase(&self, rs: &RateSample, delivered_at: Instant) -> bool {
        let min_rtt = self.min_rtt.unwrap_or_default();
        let full_length = delivered_at.saturating_since(self.cycle_stamp) > min_rtt;
        let gain = self.pacing_gain;
        if gain == 1.0 {
            return full_length;
        }
        let bw = self.bw.get();
        let inflight = rs.prior_in_flight;
        if gain > 1.0 {
            return full_length && (rs.losses > 0 || inflight >= self.inflight(bw, gain));
        }
        full_length || inflight <= self.inflight(bw, 1.0)
    }

    fn advance_cycle_phase(&mut self, delivered_at: Instant) {
        self.cycle_idx = (self.cycle_idx + 1) % PACING_GAIN.len();
        self.cycle_stamp = delivered_at;
    }

    fn reset_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        // Linux starts at a random phase other than the probing one; the clock's low bits
        // stand in for the random draw, so a run is reproducible in the simulator.
        let draw = (now.total_micros() % 7) as usize;
        self.cycle_idx = PACING_GAIN.len() - 1 - draw;
        self.advance_cycle_phase(now);
    }

    fn check_full_bw_reached(&mut self, rs: &RateSample) {
        if self.full_bw_reached || !self.round_start || rs.is_app_limited {
            return;
        }
        let bw = self.bw.get();
        if bw >= self.full_bw * FULL_BW_GROWTH {
            self.full_bw = bw;
            self.full_bw_rounds = 0;
            return;
        }
        self.full_bw_rounds += 1;
        self.full_bw_reached = self.full_bw_rounds >= FULL_BW_ROUNDS;
    }

    fn check_drain(&mut self, in_flight: u32, now: Instant) {
        if self.mode == Mode::Startup && self.full_bw_reached {
            self.mode = Mode::Drain;
            self.ssthresh = self.inflight(self.bw.get(), 1.0);
        }
        // Drained when what is in flight fits DRAIN's own window (one BDP with the ACK
        // aggregation allowance; Linux compares with one BDP while pacing drains).
        let drained = self
            .bdp(self.bw.get(), 1.0)
            .saturating_add(self.ack_aggregation_cwnd());
        if self.mode == Mode::Drain && in_flight <= self.quantization_budget(drained) {
            self.reset_probe_bw(now);
        }
    }

    fn update_min_rtt(&mut self, now: Instant, rs: &RateSample, in_flight: u32, delivered: u64) {
        let expired = now.saturating_since(self.min_rtt_stamp) > MIN_RTT_WINDOW;
        if let Some(rtt) = rs.rtt {
            if self.min_rtt.is_none_or(|m| rtt < m) || expired {
                self.min_rtt = Some(rtt);
                self.min_rtt_stamp = now;
            }
        }
        if expired && !self.idle_restart && self.mode != Mode::ProbeRtt {
            // Drain the queue to see the path's own RTT again.
            self.mode = Mode::ProbeRtt;
            self.save_cwnd();
            self.probe_rtt_done = None;
        }
        if self.mode == Mode::ProbeRtt {
            match self.probe_rtt_done {
                None if in_flight <= CWND_MIN_SEGS * self.mss => {
                    self.probe_rtt_done = Some(now + PROBE_RTT_TIME);
                    self.probe_rtt_round_done = false;
                    self.next_round_delivered = delivered;
                }
                Some(done) => {
                    if self.round_start {
                        self.probe_rtt_round_done = true;
                    }
                    if self.probe_rtt_round_done && now > done {
                        self.min_rtt_stamp = now;
                        self.cwnd = self.cwnd.max(self.prior_cwnd);
                        if self.full_bw_reached {
                            self.reset_probe_bw(now);
                        } else {
                            self.mode = Mode::Startup;
                        }
                    }
                }
                None => {}
            }
        }
        if rs.acked_sacked > 0 {
            self.idle_restart = false;
        }
    }

    fn update_gains(&mut self) {
        (self.pacing_gain, self.cwnd_gain) = match self.mode {
            Mode::Startup => (HIGH_GAIN, HIGH_GAIN),
            // Linux keeps the window at high_gain here and drains by pacing at
            // 1/high_gain; without pacing the window is the only brake, so DRAIN holds it
            // at one BDP until what STARTUP queued has left.
            Mode::Drain => (DRAIN_GAIN, 1.0),
            Mode::ProbeBw => (PACING_GAIN[self.cycle_idx], CWND_GAIN),
            Mode::ProbeRtt => (1.0, 1.0),
        };
    }

    /// The bandwidth-delay product times `gain`, in bytes (rounded up).
    fn bdp(&self, bw: f64, gain: f64) -> u32 {
        match self.min_rtt {
            None => initial_window(self.mss),
            Some(rtt) => (bw * rtt.as_secs_f64() * gain).ceil() as u32,
        }
    }

    /// Linux `bbr_tso_segs_goal`: the batch size the pacing rate calls for (about a
    /// millisecond of data, at most 64 KB).
    fn batch_segs(&self) -> u32 {
        let bytes = (self.pacing_rate / 1024.0).min((65536 - 1 - 256) as f64) as u32;
        let min = if self.pacing_rate < 1_200_000.0 / 8.0 {
            1
        } else {
            2
        };
        (bytes / self.mss).max(min).min(0x7f)
    }

    /// Linux `bbr_quantization_budget`: room for a batch in each of the sender's queue,
    /// its device and the receiver's coalescing, an even number of segments, and two
    /// more while probing so a small BDP still probes.
    /// Saturates: a model with an absurd bandwidth or RTT (a hostile peer's ACKs) gives
    /// the largest window, not a wrapped small one.
    fn quantization_budget(&self, cwnd: u32) -> u32 {
        let segs = cwnd
            .div_ceil(self.mss)
            .saturating_add(3 * self.batch_segs());
        let mut segs = segs.saturating_add(1) & !1;
        if self.mode == Mode::ProbeBw && self.cycle_idx == 0 {
            segs = segs.saturating_add(2);
        }
        segs.saturating_mul(self.mss)
    }

    fn inflight(&self, bw: f64, gain: f64) -> u32 {
        self.quantization_budget(self.bdp(bw, gain))
    }

    /// Linux `bbr_set_cwnd` with `bbr_set_cwnd_to_recover_or_restore`.
    fn set_cwnd(
        &mut self,
        rs: &RateSample,
        phase: CaPhase,
        in_flight: u32,
        delivered: u64,
        bw: f64,
    ) {
        let acked = rs.acked_sacked;
        if acked > 0 {
            let mut cwnd = self.cwnd;
            if rs.losses > 0 {
                cwnd = cwnd.saturating_sub(rs.losses).max(self.mss);
            }
            if phase == CaPhase::Recovery && self.prev_phase != CaPhase::Recovery {
                // The first round of recovery conserves packets: one out per one
                // delivered.
                self.packet_conservation = true;
                self.next_round_delivered = delivered;
                cwnd = in_flight.saturating_add(acked);
            } else if self.prev_phase != CaPhase::Open && phase == CaPhase::Open {
                // Recovery is over: back to the window it interrupted.
                cwnd = cwnd.max(self.prior_cwnd);
                self.packet_conservation = false;
            }
            self.prev_phase = phase;
            if self.packet_conservation {
                cwnd = cwnd.max(in_flight.saturating_add(acked));
            } else {
                let target = self
                    .bdp(bw, self.cwnd_gain)
                    .saturating_add(self.ack_aggregation_cwnd());
                let target = self.quantization_budget(target);
                if self.full_bw_reached {
                    cwnd = cwnd.saturating_add(acked).min(target);
                } else if cwnd < target || delivered < initial_window(self.mss) as u64 {
                    cwnd = cwnd.saturating_add(acked);
                }
                cwnd = cwnd.max(CWND_MIN_SEGS * self.mss);
            }
            self.cwnd = cwnd;
        }
        if self.mode == Mode::ProbeRtt {
            self.cwnd = self.cwnd.min(CWND_MIN_SEGS * self.mss);
        }
    }
}

/// The stack's generic calls. BBR sets its window in `Bbr::on_sample`; the rest only
/// remembers, restarts or undoes.
impl CongestionControl for Bbr {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, _now: Instant, _acked: u32, _rtt: Option<Duration>) {}
    fn on_congestion(&mut self, _now: Instant, _in_flight: u32) {
        self.enter_recovery();
    }
    fn on_rto(&mut self, _now: Instant, _in_flight: u32) {
        // Everything not SACKed is about to be marked lost: nothing stays in flight.
        self.enter_loss(0);
    }
    fn on_repeated_rto(&mut self) {
        self.cwnd = self.mss;
    }
    fn on_idle_restart(&mut self, now: Instant) {
        self.idle_restart(now);
    }
    fn set_mss(&mut self, mss: u32) {
        self.mss = mss.max(1);
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(self.mss);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    /// Feeds `n` ACKs of one segment each, `gap` apart, on a path that delivers
    /// `rate` bytes per second with round-trip time `rtt`; returns the final time.
    fn run(
        b: &mut Bbr,
        mut now: Instant,
        n: u32,
        rate: f64,
        rtt: Duration,
        delivered: &mut u64,
        phase: CaPhase,
    ) -> Instant {
        let gap = Duration::from_secs_f64(MSS as f64 / rate);
        for _ in 0..n {
            now += gap;
            let prior = delivered.saturating_sub((rate * rtt.as_secs_f64()) as u64);
            *delivered += MSS as u64;
            let rs = RateSample {
                delivered: Some(*delivered - prior),
                interval: rtt,
                prior_delivered: prior,
                acked_sacked: MSS,
                rtt: Some(rtt),
                prior_in_flight: b.cwnd(),
                ..RateSample::default()
            };
            let in_flight = b.cwnd().saturating_sub(MSS);
            b.on_sample(now, &rs, phase, in_flight, *delivered, now);
        }
        now
    }

    #[test]
    fn startup_finds_the_bandwidth_then_drains_and_probes() {
        let mut b = Bbr::new(MSS);
        let mut d = 0;
        let rtt = Duration::from_millis(10);
        // 10 MB/s, 10 ms: a BDP of 100 KB.
        run(
            &mut b,
            Instant::ZERO,
            3000,
            10e6,
            rtt,
            &mut d,
            CaPhase::Open,
        );
        assert!(
            b.full_bw_reached(),
            "three rounds without growth end STARTUP"
        );
        assert_eq!(b.mode, Mode::ProbeBw);
        let bw = b.bandwidth();
        assert!((bw - 10e6).abs() / 10e6 < 0.02, "bandwidth {bw}");
        // cwnd: 2 BDP plus the batching budget and what ACK aggregation adds.
        let bdp2 = 200_000;
        assert!(b.cwnd() >= bdp2 && b.cwnd() < bdp2 * 2, "cwnd {}", b.cwnd());
    }

    #[test]
    fn random_loss_does_not_cut_the_window() {
        let mut b = Bbr::new(MSS);
        let mut d = 0;
        let rtt = Duration::from_millis(10);
        let now = run(
            &mut b,
            Instant::ZERO,
            3000,
            10e6,
            rtt,
            &mut d,
            CaPhase::Open,
        );
        let before = b.cwnd();
        // A loss: recovery begins, packet conservation for a round, then the window it
        // had comes back when recovery ends.
        b.enter_recovery();
        let now = run(&mut b, now, 5, 10e6, rtt, &mut d, CaPhase::Recovery);
        assert!(b.packet_conservation);
        run(&mut b, now, 5, 10e6, rtt, &mut d, CaPhase::Open);
        assert!(!b.packet_conservation);
        assert!(b.cwnd() >= before, "{} < {before}", b.cwnd());
    }

    #[test]
    fn a_timeout_restarts_from_one_segment_and_comes_back() {
        let mut b = Bbr::new(MSS);
        let mut d = 0;
        let rtt = Duration::from_millis(10);
        let now = run(
            &mut b,
            Instant::ZERO,
            3000,
            10e6,
            rtt,
            &mut d,
            CaPhase::Open,
        );
        let before = b.cwnd();
        b.enter_loss(0);
        assert_eq!(b.cwnd(), MSS);
        let now = run(&mut b, now, 3, 10e6, rtt, &mut d, CaPhase::Loss);
        assert!(
            b.cwnd() <= 4 * MSS + 3 * MSS,
            "slow start from one segment: {}",
            b.cwnd()
        );
        run(&mut b, now, 1, 10e6, rtt, &mut d, CaPhase::Open);
        assert!(b.cwnd() >= before, "restored: {} < {before}", b.cwnd());
    }

    #[test]
    fn probe_rtt_after_ten_seconds_without_a_lower_rtt() {
        let mut b = Bbr::new(MSS);
        let mut d = 0;
        let rtt = Duration::from_millis(10);
        let mut now = run(
            &mut b,
            Instant::ZERO,
            3000,
            10e6,
            rtt,
            &mut d,
            CaPhase::Open,
        );
        // Ten seconds of samples all 2 ms above the minimum.
        let end = now + Duration::from_secs(10) + Duration::from_millis(1);
        while now < end && b.mode != Mode::ProbeRtt {
            now = run(
                &mut b,
                now,
                100,
                10e6,
                rtt + Duration::from_millis(2),
                &mut d,
                CaPhase::Open,
            );
        }
        assert_eq!(b.mode, Mode::ProbeRtt);
        assert_eq!(b.cwnd(), CWND_MIN_SEGS * MSS);
        // 200 ms and a round at the minimum, then back to probing with the old window.
        let now = run(&mut b, now, 2500, 10e6, rtt, &mut d, CaPhase::Open);
        assert_eq!(b.mode, Mode::ProbeBw);
        assert!(b.cwnd() > 100 * MSS);
        let _ = now;
    }

    #[test]
    fn an_absurd_model_saturates_the_window_instead_of_wrapping() {
        // A bandwidth-delay product past u32 (a hostile or broken peer's timing): the
        // budget is the largest window, not an overflow (a panic in debug builds, a
        // small window in release).
        let mut b = Bbr::new(1448);
        b.min_rtt = Some(Duration::from_secs(3600));
        let bdp = b.bdp(1e12, 2.0);
        assert_eq!(bdp, u32::MAX);
        assert_eq!(b.quantization_budget(bdp), u32::MAX);
        assert!(b.inflight(1e12, 2.0) >= 1 << 30);
    }

    #[test]
    fn windowed_max_forgets_old_peaks() {
        let mut m = WindowedMax::default();
        m.update(10, 0, 5.0);
        m.update(10, 1, 3.0);
        assert_eq!(m.get(), 5.0);
        for t in 2..=12 {
            m.update(10, t, 3.0);
        }
        assert_eq!(m.get(), 3.0, "the peak at round 0 left the 10-round window");
    }
}

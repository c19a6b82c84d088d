//! Loss recovery, the connection's side: what an ACK's SACK blocks say (RFC 2018, D-SACK
//! RFC 2883), RACK-TLP loss detection (RFC 8985), fast recovery paced by PRR (RFC 6937),
//! NewReno for a peer without SACK (RFC 5681 3.2, RFC 6582), timeout recovery that keeps
//! the scoreboard (RFC 6675 5.1), and undoing a congestion response that a spurious loss
//! caused (RFC 3708 with D-SACK, Eifel RFC 3522/4015 with timestamps, F-RTO RFC 5682
//! without; Linux `tcp_try_undo_*`). docs/tcp.md has the design.

use core::time::Duration;

use super::Conn;
use crate::tcp::cc::{CaPhase, CongestionControl, Controller};
use crate::tcp::recovery::prr::Prr;
use crate::tcp::recovery::sent::EVER_RETRANS;
use crate::tcp::SeqNum;
use crate::time::Instant;
use crate::wire::tcp::{SackBlock, TcpRepr};

/// RFC 8985 7.2 WCDelAckT: what a probe for a lone segment allows for a delayed ACK.
const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// Linux TCP_TIMEOUT_MIN: the slack a probe timer gets with several segments out.
const PTO_SLACK: Duration = Duration::from_millis(2);

/// Where loss recovery stands (Linux `icsk_ca_state`, without Disorder and CWR).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum CaState {
    Open,
    /// Fast recovery: a loss was detected from ACKs, cwnd comes down by PRR.
    Recovery,
    /// After a retransmission timeout: everything un-SACKed was marked lost.
    Loss,
}

/// What undoing a congestion response needs (Linux `undo_marker`, `undo_retrans`,
/// `prior_cwnd`, `prior_ssthresh`, `retrans_stamp`).
#[derive(Clone, Debug)]
pub(crate) struct Undo {
    /// The congestion controller as it was before the response.
    prior: Controller,
    /// SND.UNA when the episode began.
    marker: SeqNum,
    /// Retransmissions of the episode not yet proven unneeded by a D-SACK.
    retrans: u32,
    /// Our TSval on the episode's first retransmission.
    first_rtx_ts: Option<u32>,
}

/// F-RTO (RFC 5682 2, 4) after a timeout, for a peer without timestamps.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frto {
    Off,
    /// The timeout's retransmission left; the first ACK decides the next step.
    Sent,
    /// That ACK advanced SND.UNA: new data went out instead of retransmissions (step 2b);
    /// the next ACK says whether the timeout was spurious (3b) or not (3a).
    NewData,
}

/// What one ACK's SACK option said.
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct SackInfo {
    /// Bytes newly SACKed.
    pub sacked: u32,
    pub dsack: bool,
    /// A D-SACK for the tail loss probe's retransmission: the original arrived too.
    pub dsack_tlp: bool,
}

impl Conn {
    /// The SACK blocks of an acceptable ACK, taken before SND.UNA moves (RFC 2018, RFC
    /// 6675 update, RFC 8985 6.2 steps 2-3).
    pub(super) fn on_sack_blocks(
        &mut self,
        now: Instant,
        ack: SeqNum,
        mut blocks: &[SackBlock],
        prior_fack: Option<SeqNum>,
    ) -> SackInfo {
        let mut info = SackInfo::default();
        if let Some(first) = blocks.first() {
            // RFC 2883 4: the first block reports a duplicate when it lies below the
            // cumulative ACK or inside the second block.
            let inside_second = blocks
                .get(1)
                .is_some_and(|b| first.left >= b.left && first.right <= b.right);
            if first.left < ack || inside_second {
                self.on_dsack(first.left, first.right, &mut info);
                blocks = &blocks[1..];
            }
        }
        let (una, max) = (self.snd_una, self.snd_max);
        for b in blocks {
            let (l, r) = (b.left.max(una), b.right.min(max));
            if l >= r {
                continue;
            }
            let (rack, rate) = (&mut self.rack, &mut self.rate);
            let sample_rate = self.cc.model_based();
            let mut reordered = false;
            info.sacked += self.sent.sack(l, r, |s| {
                rack.advance(s, now);
                if sample_rate {
                    rate.on_delivered(s.tx, s.sent_at, s.order, s.seq_len());
                }
                // RFC 8985 6.2 step 3: delivered below what was already SACKed, and
                // never retransmitted: it arrived late.
                reordered |= prior_fack.is_some_and(|f| s.end <= f) && !s.has(EVER_RETRANS);
            });
            if reordered {
                self.rack.on_reordering();
            }
        }
        info
    }

    /// A D-SACK (RFC 2883): `[l, r)` reached the peer twice.
    fn on_dsack(&mut self, l: SeqNum, r: SeqNum, info: &mut SackInfo) {
        // Only what we could have sent twice is believed (Linux tcp_is_sackblock_valid).
        if l >= r || r > self.snd_max || r - l > self.max_snd_wnd.max(self.send_mss) as i32 {
            return;
        }
        info.dsack = true;
        self.stats.dsacks_received += 1;
        let segs = ((r - l) as u32).div_ceil(self.send_mss.max(1));
        self.stats.spurious_retransmits += segs as u64;
        // Was it a retransmission of this episode? Below SND.UNA its record is gone:
        // count it when it lies past the episode's start (Linux's "dumb counting").
        let ours = if r <= self.snd_una {
            self.undo.as_ref().is_some_and(|u| r > u.marker)
        } else {
            self.sent.retransmitted_within(l, r)
        };
        if ours {
            if let Some(u) = self.undo.as_mut() {
                u.retrans = u.retrans.saturating_sub(segs);
            }
        }
        if self.tlp_retrans && self.tlp_high == Some(r) {
            info.dsack_tlp = true;
        }
    }

    /// After an acceptable ACK was taken (SACK blocks, SND.UNA, RTT): tail loss probe
    /// bookkeeping, undo, loss detection, and the recovery state machine.
    pub(super) fn on_ack_recovery(
        &mut self,
        now: Instant,
        seg: &TcpRepr,
        prior_una: SeqNum,
        acked: u32,
        info: SackInfo,
        dupack: bool,
    ) {
        let advanced = self.snd_una > prior_una;
        let lost_before = self.sent.lost_bytes();
        self.process_tlp_ack(now, seg.ack, info.dsack_tlp, dupack && info.sacked == 0);

        match self.ca {
            CaState::Loss => self.loss_ack(seg, advanced, dupack || info.sacked > 0),
            // Linux tcp_try_undo_partial: an ACK for data sent before the first
            // retransmission arrived after it: the original was only delayed.
            CaState::Recovery if advanced && self.packet_delayed(seg) => self.undo_response(),
            _ => {}
        }
        // RFC 3708 / Linux tcp_try_undo_dsack: every retransmission of the episode came
        // back D-SACKed: none was needed.
        if info.dsack
            && self.ca != CaState::Loss
            && self.undo.as_ref().is_some_and(|u| u.retrans == 0)
        {
            self.undo_response();
        }

        // Loss detection.
        if self.sack_ok {
            self.rack_detect(now, info.dsack);
        } else if !self.sent.is_empty() {
            // RFC 5681 3.2: the third duplicate ACK; RFC 6582 3.2: a partial ACK in
            // recovery means the next segment is lost too.
            let partial = self.ca == CaState::Recovery && advanced && self.snd_una < self.high_seq;
            if (self.ca == CaState::Open && self.dupacks >= 3) || partial {
                self.sent.mark_lost(0);
            }
            if advanced && self.ca == CaState::Recovery {
                // One segment filled the hole; the rest were counted as duplicates.
                let segs = acked / self.send_mss.max(1);
                self.dupacks = self.dupacks.saturating_sub(segs.saturating_sub(1));
            }
        }

        if self.ca != CaState::Open && self.snd_una >= self.high_seq {
            self.end_recovery(seg);
        }
        if self.ca == CaState::Open && self.sent.lost_bytes() > 0 {
            self.enter_recovery(now);
        }
        if self.ca == CaState::Recovery && !self.cc.model_based() {
            let delivered = if self.sack_ok {
                acked + info.sacked
            } else {
                acked + if dupack { self.send_mss } else { 0 }
            };
            let cwnd = self
                .prr
                .on_ack(delivered, self.pipe(), self.cc.ssthresh(), self.send_mss);
            self.cc.set_cwnd(cwnd);
        }
        if self.cc.model_based() {
            self.model_ack(now, lost_before);
        }
        self.arm_tlp(now);
    }

    /// A model-based congestion control (BBR) takes the ACK's delivery-rate sample and
    /// sets the window, in recovery too (Linux `tcp_cong_control` with `cong_control`).
    fn model_ack(&mut self, now: Instant, lost_before: u32) {
        let losses = self.sent.lost_bytes().saturating_sub(lost_before);
        let min_rtt = self.rack.min_rtt();
        let rs = self.rate.generate(
            now,
            losses,
            self.rate_prior_in_flight,
            self.rate_rtt,
            min_rtt,
        );
        let phase = match self.ca {
            CaState::Open => CaPhase::Open,
            CaState::Recovery => CaPhase::Recovery,
            CaState::Loss => CaPhase::Loss,
        };
        let (delivered, at) = (self.rate.delivered, self.rate.delivered_at);
        let pipe = self.pipe();
        self.cc.on_rate_sample(now, &rs, phase, pipe, delivered, at);
    }

    /// RFC 6675 pipe; without SACK, each duplicate ACK in recovery stands for a segment
    /// that left the network (RFC 6582).
    pub(super) fn pipe(&self) -> u32 {
        let p = self.sent.pipe();
        if !self.sack_ok && self.ca == CaState::Recovery {
            p.saturating_sub(self.dupacks * self.send_mss)
        } else {
            p
        }
    }

    /// RACK (RFC 8985 6.2 steps 4-5, 6.3): marks what is lost, arms the reordering timer
    /// for what may still be.
    fn rack_detect(&mut self, now: Instant, dsack: bool) {
        let sacked_segs = self.sent.sacked_bytes() / self.send_mss.max(1);
        let reo_wnd = self.rack.reo_wnd(
            dsack,
            self.snd_una,
            self.snd_max,
            self.ca != CaState::Open,
            sacked_segs,
            self.rtt.srtt(),
        );
        let before = self.sent.lost_bytes();
        let (_, timeout) = self.rack.detect_loss(&mut self.sent, now, reo_wnd);
        if self.sent.lost_bytes() > before {
            self.stats.rack_lost += 1;
        }
        self.reo_at = timeout.map(|t| now + t);
    }

    /// RACK's reordering timer fired (RFC 8985 6.3): what it waited for is lost now.
    pub(super) fn on_reo_timeout(&mut self, now: Instant) {
        self.rack_detect(now, false);
        if self.ca == CaState::Open && self.sent.lost_bytes() > 0 {
            self.enter_recovery(now);
            if !self.cc.model_based() {
                let cwnd = self
                    .prr
                    .on_ack(0, self.pipe(), self.cc.ssthresh(), self.send_mss);
                self.cc.set_cwnd(cwnd);
            }
        }
    }

    /// Fast recovery begins (RFC 6675 5, RFC 6937): one congestion response, PRR paces
    /// what follows until everything sent so far is acknowledged.
    fn enter_recovery(&mut self, now: Instant) {
        self.stats.fast_retransmits += 1;
        self.start_undo();
        let prior_cwnd = self.cc.cwnd();
        self.cc.on_congestion(now, self.flight_size());
        self.prr = Prr::start(prior_cwnd);
        self.ca = CaState::Recovery;
        self.high_seq = self.snd_max;
        self.timed = None;
        self.tlp_at = None;
        self.tlp_high = None;
        self.ecn_window_reduced();
    }

    /// The peer echoed a CE mark (RFC 3168 6.1.2): reduce the window as for a loss
    /// (CUBIC's or NewReno's response), at most once per window of data, and say so with
    /// CWR on the next new segment. A window already reduced for a loss counts.
    pub(super) fn on_ece(&mut self, now: Instant) {
        if self.ca != CaState::Open || self.ecn_hold_until.is_some_and(|p| self.snd_una < p) {
            return;
        }
        self.cc.on_congestion(now, self.flight_size());
        if !self.cc.model_based() {
            // BBR (version 1, as Linux) does not answer ECN with a window cut.
            let ssthresh = self.cc.ssthresh();
            self.cc.set_cwnd(ssthresh);
        }
        self.stats.ecn_reductions += 1;
        self.ecn_hold_until = Some(self.snd_max);
        self.cwr_pending = true;
        // What the congestion response changed is not a spurious loss to undo.
        self.undo = None;
    }

    /// A loss response reduced the window: for ECN it is this window's reduction too.
    fn ecn_window_reduced(&mut self) {
        if self.ecn_ok {
            self.ecn_hold_until = Some(self.snd_max);
            self.cwr_pending = true;
        }
    }

    /// RFC 6298 (5.4)-(5.6) with RFC 6675 5.1 and RFC 8985 6.3: after a timeout
    /// everything not SACKed is lost and is resent in slow start; what the peer SACKed is
    /// never sent again.
    pub(super) fn enter_loss(&mut self, now: Instant) {
        let new_episode =
            self.ca == CaState::Open || (self.ca == CaState::Loss && self.retries == 1);
        if new_episode {
            self.start_undo();
            self.cc.on_rto(now, self.flight_size());
        } else {
            // RFC 5681 3.1: a timeout within an episode keeps ssthresh; cwnd collapses.
            self.cc.on_repeated_rto();
        }
        // F-RTO (RFC 5682) on the first timeout, where timestamps cannot tell (Eifel).
        self.frto = if new_episode && self.ts.is_none() && self.retries == 1 {
            Frto::Sent
        } else {
            Frto::Off
        };
        self.sent.mark_all_lost();
        self.ca = CaState::Loss;
        self.high_seq = self.snd_max;
        self.ecn_window_reduced();
        self.dupacks = 0;
        self.timed = None;
        self.reo_at = None;
        self.tlp_at = None;
        self.tlp_pending = false;
        self.tlp_high = None;
    }

    /// An ACK in timeout recovery: Eifel (RFC 3522, 4015) with timestamps, F-RTO (RFC
    /// 5682) without, decide whether the timeout was spurious.
    fn loss_ack(&mut self, seg: &TcpRepr, advanced: bool, dup_or_sack: bool) {
        if advanced && self.packet_delayed(seg) {
            self.undo_response();
            return;
        }
        match self.frto {
            Frto::Off => {}
            Frto::Sent if advanced => {
                // Step 2b: the retransmission (or the original) was acknowledged; send
                // new data instead of further retransmissions, if there is any.
                let new_data = self.data_end() > self.snd_max || self.fin_pending();
                self.frto = if self.snd_una < self.high_seq && new_data {
                    Frto::NewData
                } else {
                    Frto::Off
                };
            }
            Frto::Sent => {
                if dup_or_sack {
                    // Step 2a: a duplicate ACK: the loss was real.
                    self.frto = Frto::Off;
                }
            }
            Frto::NewData => {
                if advanced && !dup_or_sack {
                    // Step 3b: data that was never retransmitted was acknowledged: the
                    // originals arrived and the timeout was spurious.
                    self.undo_response();
                } else {
                    // Step 3a: the loss was real; go on retransmitting.
                    self.frto = Frto::Off;
                }
            }
        }
    }

    fn fin_pending(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_max <= f)
    }

    /// Recovery's point was acknowledged (RFC 6582 3.2 step 2, RFC 6675 5, RFC 6937).
    fn end_recovery(&mut self, seg: &TcpRepr) {
        if self.ca == CaState::Recovery {
            if self.packet_delayed(seg) {
                // Linux tcp_try_undo_recovery: nothing needed retransmitting after all.
                self.undo_response();
                return;
            }
            if !self.cc.model_based() {
                let ssthresh = self.cc.ssthresh();
                self.cc.set_cwnd(ssthresh);
            }
        }
        self.rack.on_recovery_end();
        self.ca = CaState::Open;
        self.frto = Frto::Off;
        self.dupacks = 0;
    }

    /// Remembers what a congestion response changes, for `undo_response`.
    fn start_undo(&mut self) {
        self.undo = Some(Undo {
            prior: self.cc.clone(),
            marker: self.snd_una,
            retrans: 0,
            first_rtx_ts: None,
        });
    }

    /// A retransmission of the current episode left.
    pub(super) fn note_retransmission(&mut self, now: Instant) {
        let ts = self.ts.is_some().then(|| self.ts_val(now));
        if let Some(u) = self.undo.as_mut() {
            u.retrans += 1;
            u.first_rtx_ts = u.first_rtx_ts.or(ts);
        }
    }

    /// Eifel detection (RFC 3522, Linux tcp_packet_delayed): the ACK echoes a timestamp
    /// older than our first retransmission, so it answers an original transmission.
    fn packet_delayed(&self, seg: &TcpRepr) -> bool {
        let (Some(u), Some(_), Some((_, ecr))) =
            (self.undo.as_ref(), self.ts, seg.options.timestamps)
        else {
            return false;
        };
        u.first_rtx_ts
            .is_some_and(|first| ecr != 0 && (ecr.wrapping_sub(first) as i32) < 0)
    }

    /// The loss was spurious: the congestion window and ssthresh go back to where they
    /// were (never lower than now), and nothing is marked lost (Linux
    /// `tcp_undo_cwnd_reduction`).
    fn undo_response(&mut self) {
        let Some(u) = self.undo.take() else { return };
        if !self.cc.on_undo() {
            let cwnd = self.cc.cwnd().max(u.prior.cwnd());
            self.cc = u.prior;
            self.cc.set_cwnd(cwnd);
        }
        self.sent.clear_lost();
        if self.ca == CaState::Recovery {
            self.rack.on_recovery_end();
        }
        self.ca = CaState::Open;
        self.frto = Frto::Off;
        self.dupacks = 0;
        self.reo_at = None;
        self.stats.undos += 1;
    }

    /// RFC 8985 7.4 (Linux tcp_process_tlp_ack): did the probe repair a loss?
    fn process_tlp_ack(&mut self, now: Instant, ack: SeqNum, dsack_tlp: bool, pure_dup: bool) {
        let Some(high) = self.tlp_high else { return };
        if ack < high {
            return;
        }
        if !self.tlp_retrans || dsack_tlp {
            // New data, or a retransmission whose original arrived too: no loss.
            self.tlp_high = None;
        } else if ack > high {
            // The probe's retransmission was what arrived: a loss, repaired without a
            // timeout; respond to it once, as to any loss.
            self.tlp_high = None;
            self.cc.on_congestion(now, self.flight_size());
            if !self.cc.model_based() {
                let ssthresh = self.cc.ssthresh();
                self.cc.set_cwnd(ssthresh);
            }
        } else if pure_dup {
            self.tlp_high = None;
        }
    }

    /// RFC 8985 7.2: arms the probe timeout (PTO) while new data or an ACK leaves
    /// unacknowledged data in the open state.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        self.tlp_at = None;
        let sending = self.state.may_send();
        if !self.sack_ok
            || !sending
            || self.ca != CaState::Open
            || self.sent.is_empty()
            || self.tlp_high.is_some()
            || self.sent.sacked_bytes() > 0
        {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else { return };
        let extra = if self.sent.total_bytes() <= self.send_mss {
            WC_DEL_ACK
        } else {
            PTO_SLACK
        };
        let mut pto = srtt * 2 + extra;
        if let Some(rto_at) = self.rtx_at {
            pto = pto.min(rto_at - now);
        }
        self.tlp_at = Some(now + pto);
    }

    /// The probe timer fired (RFC 8985 7.3): a probe leaves at the next transmit, and the
    /// retransmission timer restarts from it.
    pub(super) fn on_tlp_timeout(&mut self, now: Instant) {
        if self.ca == CaState::Open && self.tlp_high.is_none() && !self.sent.is_empty() {
            self.tlp_pending = true;
            self.rtx_at = Some(now + self.rtt.rto());
        }
    }
}
impl Conn {
    #[allow(dead_code)]
    pub(crate) fn debug_recovery(&self) -> String {
        format!("ca {:?} tlp_high {:?} tlp_retrans {} una {} cwnd {} ssthresh {} pipe {} lost {} sacked {} total {} reo {:?} tlp {:?} rtx {:?} q {:?}", self.ca, self.tlp_high.map(|h| h.0), self.tlp_retrans, self.snd_una.0, self.cc.cwnd(), self.cc.ssthresh(), self.pipe(), self.sent.lost_bytes(), self.sent.sacked_bytes(), self.sent.total_bytes(), self.reo_at, self.tlp_at, self.rtx_at, self.sent.iter().map(|s| (s.start.0.wrapping_sub(0xffff_f000), s.end.0.wrapping_sub(0xffff_f000), s.flags)).collect::<Vec<_>>())
    }
}

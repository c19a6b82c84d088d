//! Arriving segments: RFC 9293 3.10.7, with RFC 7323 (PAWS, timestamps), RFC 5961 (blind
//! reset and SYN defence), RFC 2018 (SACK) and RFC 2883 (D-SACK); what ACKs mean for loss
//! recovery is in `recovery.rs`.

use core::time::Duration;

use super::recovery::{CaState, SackInfo};
use super::{CloseReason, Conn, State};
use crate::tcp::cc::CongestionControl;
use crate::tcp::recovery::sent::EVER_RETRANS;
use crate::tcp::SeqNum;
use crate::time::Instant;
use crate::wire::tcp::{Flags, TcpRepr};

/// RFC 7323 5.5: timestamps older than 24 days are not trusted for PAWS.
/// Linux `tcp_invalid_ratelimit`.
const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);
/// Linux TCP_PAWS_WINDOW: a timestamp one tick behind TS.Recent is still accepted, so a
/// segment reordered within the same millisecond tick is not thrown away.
const PAWS_WINDOW: i32 = 1;

impl Conn {
    /// Handles one arriving segment addressed to this connection.
    pub fn on_segment(&mut self, now: Instant, seg: &TcpRepr, payload: &[u8]) {
        self.stats.segments_in += 1;
        match self.state {
            State::Closed => {}
            State::SynSent => self.in_syn_sent(now, seg),
            _ => self.in_synchronized(now, seg, payload),
        }
    }

    /// RFC 9293 3.10.7.3.
    fn in_syn_sent(&mut self, now: Instant, seg: &TcpRepr) {
        let f = seg.flags;
        let ack_ok = f.ack() && seg.ack > self.iss && seg.ack <= self.snd_max;
        if f.ack() && !ack_ok {
            // An ACK for something we never sent: reset it (unless it is a reset).
            if !f.rst() {
                self.queue_rst(seg.ack);
            }
            return;
        }
        if f.rst() {
            // RFC 5961 3.2 for SYN-SENT: only a reset acknowledging our SYN is believed.
            if ack_ok {
                self.set_closed(CloseReason::Reset);
            }
            return;
        }
        if !f.syn() {
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.negotiate(seg, now);
        // RFC 3168 6.1.1: an ECN-setup SYN-ACK has ECE without CWR.
        self.ecn_ok = self.ecn_asked && f.contains(Flags::ECE) && !f.contains(Flags::CWR);
        self.rcv_adv = self.rcv_nxt;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        // RFC 7323 2.2: the window of a SYN is not scaled.
        self.snd_wnd = seg.window as u32;
        self.max_snd_wnd = self.snd_wnd;
        if ack_ok {
            self.process_ack_advance(now, seg, None);
            self.state = State::Established;
            self.ack_now = true;
            // As Linux (tcp_finish_connect): the keep-alive timer runs from the moment the
            // connection is established, so a connection that stays idle is probed too.
            if let Some(k) = self.cfg.keepalive {
                self.keepalive_at = Some(now + k.idle);
                self.keepalive_sent = 0;
            }
        } else {
            // Simultaneous open (RFC 9293 3.5, figure 8): answer with SYN-ACK, same ISS.
            self.state = State::SynReceived;
            self.snd_nxt = self.iss;
            self.rtx_at = None;
        }
    }

    /// RFC 9293 3.10.7.4, "Otherwise".
    fn in_synchronized(&mut self, now: Instant, seg: &TcpRepr, payload: &[u8]) {
        let f = seg.flags;
        let seg_len = seg.seq_len(payload.len());

        // RFC 7323 5.3 PAWS, before the sequence check.
        if let (Some(ts), Some((val, _))) = (self.ts, seg.options.timestamps) {
            if !f.rst()
                && (ts.recent.wrapping_sub(val) as i32) > PAWS_WINDOW
                && now - ts.recent_at < PAWS_IDLE
            {
                self.stats.paws_rejected += 1;
                if !payload.is_empty() && seg.seq < self.rcv_nxt {
                    // An old copy of data we have (Linux tcp_send_dupack): D-SACK it, so
                    // the sender learns its retransmission was not needed.
                    self.stats.duplicate_segments += 1;
                    let end = (seg.seq + payload.len() as u32).min(self.rcv_nxt);
                    self.set_dsack(seg.seq, end);
                }
                self.oow_ack(now, seg, payload.len());
                return;
            }
        }

        // TIME_WAIT: a retransmitted FIN is ACKed and restarts the 2MSL wait (3.10.7.4
        // step 8); anything else gets an ACK at most.
        if self.state == State::TimeWait {
            if f.rst() {
                // RFC 9293 3.10.7.4 and Linux's default (tcp_rfc1337 = 0): a reset ends
                // TIME_WAIT, if it is exactly at RCV.NXT (RFC 5961 3.2; others are
                // ignored, not challenged). A client that reuses the 4-tuple with an older
                // timestamp gets our ACK, answers it with this reset, and its next SYN
                // opens a new connection; ignoring it (RFC 1337) made such a client wait
                // out the whole 2MSL.
                if seg.seq == self.rcv_nxt {
                    self.set_closed(CloseReason::Normal);
                }
                return;
            }
            if f.fin() {
                self.linger_at = Some(now + self.cfg.time_wait);
            }
            if let (Some(ts), Some((val, _))) = (self.ts.as_mut(), seg.options.timestamps) {
                if (val.wrapping_sub(ts.recent) as i32) > 0 {
                    ts.recent = val;
                    ts.recent_at = now;
                }
            }
            self.ack_now = true;
            return;
        }

        // Step 1: is the segment acceptable (the four cases)?
        if !self.acceptable(seg.seq, seg_len) {
            if !payload.is_empty() && seg.seq + payload.len() as u32 <= self.rcv_nxt {
                self.stats.duplicate_segments += 1;
                self.set_dsack(seg.seq, seg.seq + payload.len() as u32);
            }
            if !f.rst() {
                self.oow_ack(now, seg, payload.len());
            }
            return;
        }

        // Step 2: RST (RFC 5961 3.2): exact match kills, in-window gets a challenge ACK.
        if f.rst() {
            if seg.seq == self.rcv_nxt {
                self.set_closed(CloseReason::Reset);
            } else {
                self.challenge_ack(now);
            }
            return;
        }

        // Step 4: a SYN in a synchronized state (RFC 5961 4.2): challenge ACK, drop. In
        // SYN_RECEIVED a retransmitted SYN (same sequence) gets our SYN-ACK again.
        if f.syn() {
            if self.state == State::SynReceived && seg.seq + 1 == self.rcv_nxt {
                self.snd_nxt = self.iss;
                return;
            }
            self.challenge_ack(now);
            return;
        }

        if self.ecn_ok {
            // RFC 3168 6.1.3: CWR ends the echo; a CE mark (re)starts it, at once.
            if f.contains(Flags::CWR) {
                self.ece_pending = false;
            }
            if seg.ecn == crate::wire::ipv4::ECN_CE && seg_len > 0 {
                self.stats.ce_received += 1;
                self.ece_pending = true;
                self.ack_now = true;
            }
        }

        // FIN_WAIT_2 times out after a silence, not while the peer is still sending to
        // us: a half-closed peer may take as long as it needs.
        if self.state == State::FinWait2 && self.linger_at.is_some() {
            self.linger_at = Some(now + self.cfg.fin_wait2_timeout);
        }

        // Step 5: no ACK, no business.
        if !f.ack() {
            return;
        }
        if !self.process_ack(now, seg, payload.len()) {
            return;
        }
        if self.state == State::Closed {
            return;
        }

        // RFC 7323 4.3: TS.Recent takes the newest timestamp of a segment at the left edge.
        if let (Some(ts), Some((val, _))) = (self.ts.as_mut(), seg.options.timestamps) {
            if seg.seq <= self.rcv_nxt && (val.wrapping_sub(ts.recent) as i32) >= 0 {
                ts.recent = val;
                ts.recent_at = now;
            }
        }

        if let Some(k) = self.cfg.keepalive {
            self.keepalive_at = Some(now + k.idle);
            self.keepalive_sent = 0;
        }

        // Step 7: segment text.
        if !payload.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    self.take_data(now, seg.seq, payload)
                }
                // After the peer's FIN no data can follow; the sequence check let it in
                // only if it repeats what we have.
                _ => self.ack_now = true,
            }
        }

        // Step 8: FIN.
        if f.fin() {
            self.peer_fin = Some(seg.seq + payload.len() as u32);
        }
        self.take_fin(now);
    }

    /// RFC 9293 3.10.7.4 step 1: the segment overlaps the receive window.
    fn acceptable(&self, seq: SeqNum, len: u32) -> bool {
        let wnd = (self.rcv_adv - self.rcv_nxt).max(0) as u32;
        match (len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd),
            (_, 0) => false,
            (_, _) => {
                seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd)
                    || (seq + len - 1).in_range(self.rcv_nxt, self.rcv_nxt + wnd)
            }
        }
    }

    /// The duplicate ACK owed to an unacceptable segment (RFC 9293 3.10.7.4, RFC 7323
    /// 5.3). Segments carrying data or a FIN always get one (the peer may be probing or have lost
    /// our ACK); pure ACKs and SYNs at most one per `OOW_ACK_INTERVAL`, as Linux does, so
    /// two ends that disagree cannot flood each other with ACKs.
    fn oow_ack(&mut self, now: Instant, seg: &TcpRepr, payload_len: usize) {
        if seg.seq_len(payload_len) > 0 && !seg.flags.syn() {
            self.ack_now = true;
            return;
        }
        if self
            .last_oow_ack
            .is_some_and(|t| now - t < OOW_ACK_INTERVAL)
        {
            self.stats.oow_acks_suppressed += 1;
            return;
        }
        self.last_oow_ack = Some(now);
        self.ack_now = true;
    }

    /// RFC 5961 7: at most `challenge_ack_limit` challenge ACKs per second.
    fn challenge_ack(&mut self, now: Instant) {
        if now - self.challenge_window >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenges = 0;
        }
        if self.challenges < self.cfg.challenge_ack_limit {
            self.challenges += 1;
            self.stats.challenge_acks += 1;
            self.ack_now = true;
        } else {
            self.stats.challenge_acks_suppressed += 1;
        }
    }

    fn queue_rst(&mut self, seq: SeqNum) {
        self.pending_rst = Some(TcpRepr {
            src_port: self.tuple.local_port(),
            dst_port: self.tuple.remote_port(),
            seq,
            flags: Flags::RST,
            ..TcpRepr::default()
        });
    }

    /// RFC 9293 3.10.7.4 step 5 (with RFC 5961 5.2). Returns false when the segment must
    /// be dropped.
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr, payload_len: usize) -> bool {
        if self.state == State::SynReceived {
            if seg.ack > self.snd_una && seg.ack <= self.snd_max {
                // A close while the handshake was in progress takes effect now.
                self.state = if self.fin_at.is_some() {
                    State::FinWait1
                } else {
                    State::Established
                };
                // The window of the handshake's last ACK is scaled (RFC 7323 2.2).
                self.snd_wnd = (seg.window as u32) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
            } else {
                self.queue_rst(seg.ack);
                return false;
            }
        }

        // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.MAX].
        if seg.ack > self.snd_max {
            self.ack_now = true;
            return false;
        }
        if seg.ack < self.snd_una - self.max_snd_wnd.max(1) {
            self.challenge_ack(now);
            return false;
        }

        if seg.ack >= self.snd_una {
            // Not an old ACK: the peer is there (Linux resets probes_out on any such ACK).
            self.probes_out = 0;
        }

        let prior_una = self.snd_una;
        let prior_fack = self.sent.fack();
        self.rate_prior_in_flight = self.pipe();
        self.rate_rtt = None;
        let mut info = SackInfo::default();
        if self.sack_ok && seg.ack >= self.snd_una {
            let blocks = seg.options.sack_blocks();
            if !blocks.is_empty() {
                info = self.on_sack_blocks(now, seg.ack, blocks, prior_fack);
            }
        }

        let old_wnd = self.snd_wnd;
        let mut acked = 0;
        let mut dupack = false;
        if seg.ack > self.snd_una {
            acked = self.process_ack_advance(now, seg, prior_fack);
        } else if seg.ack == self.snd_una
            && payload_len == 0
            && !seg.flags.fin()
            && self.snd_max > self.snd_una
            && ((seg.window as u32) << self.snd_wscale) == old_wnd
        {
            // RFC 5681 2: a duplicate ACK.
            dupack = true;
            self.dupacks += 1;
        }
        if seg.ack >= prior_una && self.state.synchronized() {
            self.on_ack_recovery(now, seg, prior_una, acked, info, dupack);
            self.expand_send_buffer();
            if self.ecn_ok && seg.flags.contains(Flags::ECE) {
                self.on_ece(now);
            }
        }

        // Window update (RFC 9293 3.10.7.4 step 5, SND.WL1/WL2 rule).
        if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= seg.ack) {
            self.snd_wnd = (seg.window as u32) << self.snd_wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            if self.snd_wnd > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }

        // Our FIN acknowledged?
        let fin_acked = self.fin_seq().is_some_and(|f| self.snd_una == f + 1);
        match self.state {
            State::FinWait1 if fin_acked => {
                self.state = State::FinWait2;
                // RFC 9293 leaves FIN_WAIT_2 open-ended; Linux bounds it (tcp_fin_timeout)
                // once the application let go of the connection.
                if self.orphaned {
                    self.linger_at = Some(now + self.cfg.fin_wait2_timeout);
                }
            }
            State::Closing if fin_acked => self.enter_time_wait(now),
            State::LastAck if fin_acked => {
                self.set_closed(CloseReason::Normal);
            }
            _ => {}
        }
        true
    }

    /// SND.UNA advances to `seg.ack`. Returns the bytes this delivered that the peer had
    /// not SACKed before.
    /// `prior_fack` is the highest SACKed sequence before this ACK.
    pub(super) fn process_ack_advance(
        &mut self,
        now: Instant,
        seg: &TcpRepr,
        prior_fack: Option<SeqNum>,
    ) -> u32 {
        let acked = (seg.ack - self.snd_una) as u32;
        // What was in flight before this ACK, for the cwnd-limited test below.
        let flight = (self.snd_max - self.snd_una) as u32;
        let mut data = acked;
        if self.snd_una == self.iss {
            data -= 1; // our SYN
        }
        if self.fin_seq().is_some_and(|f| seg.ack == f + 1) {
            data -= 1; // our FIN
        }
        self.send_buf.consume(data as usize);
        if self.send_buf.is_empty() {
            // Everything sent is acknowledged: the buffer goes back to the pool until the
            // application writes again.
            self.send_buf.shrink();
        }
        self.snd_una = seg.ack;
        if self.snd_nxt < self.snd_una {
            self.snd_nxt = self.snd_una;
        }
        let (rack, rate) = (&mut self.rack, &mut self.rate);
        // Rate samples are only taken for a controller that reads them.
        let sample_rate = self.cc.model_based();
        let mut reordered = false;
        let (mut first_sent, mut retrans_acked) = (None, false);
        let delivered = self.sent.ack(self.snd_una, |s| {
            rack.advance(s, now);
            if sample_rate {
                rate.on_delivered(s.tx, s.sent_at, s.order, s.seq_len());
            }
            // RFC 8985 6.2 step 3: a hole filled by its original, not a retransmission.
            reordered |= prior_fack.is_some_and(|f| s.end <= f) && !s.has(EVER_RETRANS);
            if s.has(EVER_RETRANS) {
                retrans_acked = true;
            } else if first_sent.is_none() {
                first_sent = Some(s.sent_at);
            }
        });
        if reordered {
            self.rack.on_reordering();
        }

        // RTT: from the send time of the oldest segment this ACK delivers, in
        // microseconds, unless it delivers a retransmission (Karn; Linux
        // tcp_clean_rtx_queue); else from the timestamp echo (RFC 7323 4.1, milliseconds:
        // a LAN's RTT would read as 0 or 1 ms), else from the timed segment.
        let mut sample = None;
        if let (Some(at), false) = (first_sent, retrans_acked) {
            sample = Some(now - at);
            self.timed = None;
        } else if let (Some(_), Some((_, ecr))) = (self.ts, seg.options.timestamps) {
            if ecr != 0 {
                let ms = self.ts_val(now).wrapping_sub(ecr);
                if (ms as i32) >= 0 {
                    sample = Some(Duration::from_millis(ms as u64));
                }
            }
        } else if let Some((seq, at)) = self.timed {
            if seg.ack >= seq {
                sample = Some(now - at);
                self.timed = None;
            }
        }
        self.rate_rtt = sample;
        if let Some(r) = sample {
            self.rtt.on_sample(r);
            self.rack.on_rtt_sample(r);
        }
        self.retries = 0;
        self.rtt.reset_backoff();

        if self.ca == CaState::Open {
            self.dupacks = 0;
        }
        // During fast recovery PRR sets the window; outside it, cwnd grows (in timeout
        // recovery by slow start, as Linux does) -- but only when it was what limited
        // the sender (RFC 7661, Linux `tcp_is_cwnd_limited`): a receive-window or
        // application-limited sender would otherwise inflate cwnd without bound.
        if self.ca != CaState::Recovery && self.state.synchronized() {
            let cwnd = self.cc.cwnd();
            let cwnd_limited = self.cwnd_limited_until.is_some()
                || if cwnd < self.cc.ssthresh() {
                    flight.saturating_mul(2) >= cwnd
                } else {
                    flight + self.send_mss >= cwnd
                };
            if cwnd_limited {
                self.cc.on_ack(now, data, sample);
            }
        }

        if self.cwnd_limited_until.is_some_and(|s| self.snd_una >= s) {
            self.cwnd_limited_until = None;
        }

        // RFC 6298 (5.2), (5.3): stop the timer when all is acknowledged, else restart it.
        self.rtx_at = if self.snd_una == self.snd_max {
            None
        } else {
            Some(now + self.rtt.rto())
        };
        delivered
    }

    /// Step 7: data inside the window.
    fn take_data(&mut self, now: Instant, seq: SeqNum, payload: &[u8]) {
        // Trim what we already have (retransmissions overlapping RCV.NXT).
        let skip = (self.rcv_nxt - seq).max(0) as usize;
        if skip >= payload.len() {
            self.stats.duplicate_segments += 1;
            self.set_dsack(seq, seq + payload.len() as u32);
            self.ack_now = true;
            return;
        }
        if skip > 0 {
            // RFC 2883 4.1.1: part of it was here already.
            self.set_dsack(seq, self.rcv_nxt);
        }
        let data = &payload[skip..];
        let offset = (seq + skip as u32 - self.rcv_nxt) as usize;
        let stored = self.recv_buf.write_at(offset, data);
        if offset > 0 {
            // Out of order: keep it if the assembler can, ACK at once with SACK (RFC 5681
            // 4.2: an out-of-order segment SHOULD be ACKed immediately).
            self.stats.out_of_order += 1;
            if stored > 0 && self.asm.contains(offset, stored) {
                // RFC 2883 4.1.2: a duplicate of data held out of order.
                self.stats.duplicate_segments += 1;
                let start = self.rcv_nxt + offset as u32;
                self.set_dsack(start, start + stored as u32);
            }
            if stored == 0 || self.asm.add(offset, stored).is_err() {
                self.stats.ooo_dropped += 1;
            }
            self.ack_now = true;
            return;
        }
        let filled_hole = !self.asm.is_empty();
        self.recv_buf.advance_readable(stored);
        self.asm.shift(stored);
        let mut advanced = stored;
        let more = self.asm.remove_front();
        self.recv_buf.advance_readable(more);
        advanced += more;
        self.rcv_nxt += advanced as u32;
        // A peer may send past the edge we advertised (the segment only has to start
        // inside the window); what fit in the buffer was kept, as Linux keeps it. The
        // edge the peer was allowed cannot then be behind what it sent.
        if self.rcv_nxt > self.rcv_adv {
            self.rcv_adv = self.rcv_nxt;
        }
        self.unacked_bytes += stored as u32;

        // Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2): every second full-sized segment at
        // least; at once while in quick-ACK mode or when a hole was filled.
        if filled_hole || self.quickacks > 0 || self.unacked_bytes >= 2 * self.cfg.mss as u32 {
            self.quickacks = self.quickacks.saturating_sub(1);
            self.ack_now = true;
        } else if self.ack_at.is_none() {
            self.ack_at = Some(now + self.cfg.delayed_ack);
        }
    }

    /// RFC 2883: the next ACK reports `[l, r)` as received twice, first among its SACK
    /// blocks (when the peer takes SACK).
    fn set_dsack(&mut self, l: SeqNum, r: SeqNum) {
        if self.sack_ok {
            self.dsack = Some((l, r));
        }
    }

    /// Step 8: the peer's FIN, once everything before it is in.
    fn take_fin(&mut self, now: Instant) {
        let Some(fin) = self.peer_fin else { return };
        if self.rcv_nxt != fin {
            return;
        }
        self.rcv_nxt = fin + 1;
        self.ack_now = true;
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                // Our FIN not yet acknowledged: both sides closing at once.
                self.state = State::Closing;
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.rtx_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.linger_at = Some(now + self.cfg.time_wait);
        // Nothing more will be sent; what was received stays until read.
        self.send_buf.shrink();
        self.recv_buf.shrink();
    }

    /// Linux's TIME_WAIT reuse: a new SYN for this 4-tuple may reopen it when its sequence
    /// number is beyond what we received, or its timestamp is newer (RFC 6191).
    pub fn time_wait_accepts_syn(&self, syn: &TcpRepr) -> bool {
        if self.state != State::TimeWait || !syn.flags.syn() || syn.flags.ack() {
            return false;
        }
        match (self.ts, syn.options.timestamps) {
            (Some(ts), Some((val, _))) => (val.wrapping_sub(ts.recent) as i32) > 0,
            _ => syn.seq > self.rcv_nxt,
        }
    }
}

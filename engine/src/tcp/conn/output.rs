//! What leaves and when: the handshake's SYNs, segmentation by MSS under the peer's window
//! and the congestion window, retransmissions, FIN, probes and the ACK policy.

use super::recovery::{CaState, Frto};
use super::{Conn, State};
use crate::tcp::cc::CongestionControl;
use crate::tcp::recovery::rate::TxState;
use crate::tcp::SeqNum;
use crate::time::Instant;
use crate::wire::tcp::{Flags, SackBlock, TcpOptions, TcpRepr, MAX_SACK_BLOCKS};

impl Conn {
    /// The next segment to send, if any: its header, and `n` payload bytes written to the
    /// start of `payload_out`. Call until it returns `None`.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        payload_out: &mut [u8],
    ) -> Option<(TcpRepr, usize)> {
        if let Some(rst) = self.pending_rst.take() {
            self.stats.segments_out += 1;
            return Some((rst, 0));
        }
        let out = match self.state {
            State::Closed => None,
            State::SynSent | State::SynReceived => self.out_syn(now),
            _ => self.out_synchronized(now, payload_out),
        };
        if out.is_some() {
            self.stats.segments_out += 1;
        }
        out
    }

    /// The receive window we can offer: free buffer, with receiver-side silly window
    /// avoidance (RFC 9293 3.8.6.2.2), never less than what we already advertised, never
    /// more than the window field can carry at our scale.
    pub(super) fn offered_window(&self) -> u32 {
        let free = (self.recv_buf.window() as u32).min((u16::MAX as u32) << self.rcv_wscale);
        let threshold = (self.recv_buf.capacity() as u32 / 2).min(self.cfg.mss as u32);
        let offered = if free < threshold { 0 } else { free };
        offered.max((self.rcv_adv - self.rcv_nxt).max(0) as u32)
    }

    /// The window field for an outgoing segment; moves the advertised edge.
    fn window_field(&mut self) -> u16 {
        let w = self.offered_window();
        let shift = self.rcv_wscale;
        let mut field = (w >> shift).min(u16::MAX as u32);
        // Rounding down must not pull the right edge left of what we advertised.
        if ((field << shift) as i32) < self.rcv_adv - self.rcv_nxt && field < u16::MAX as u32 {
            field += 1;
        }
        let edge = self.rcv_nxt + (field << shift);
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        field as u16
    }

    fn base_repr(&self, seq: SeqNum, flags: Flags) -> TcpRepr {
        TcpRepr {
            src_port: self.tuple.local_port(),
            dst_port: self.tuple.remote_port(),
            seq,
            flags,
            ..TcpRepr::default()
        }
    }

    /// SYN (active open) or SYN-ACK (passive or simultaneous open), when due.
    fn out_syn(&mut self, now: Instant) -> Option<(TcpRepr, usize)> {
        if std::mem::take(&mut self.ack_now) && self.state == State::SynReceived {
            // Something needs acknowledging before the handshake completed: the SYN-ACK
            // is that acknowledgment (RFC 9293 3.10.7.4 step 1 in SYN-RECEIVED).
            self.snd_nxt = self.iss;
        }
        self.ack_at = None;
        if self.snd_nxt != self.iss {
            return None;
        }
        let synack = self.state == State::SynReceived;
        let mut r = self.base_repr(self.iss, Flags::SYN);
        let mut o = TcpOptions {
            mss: Some(self.cfg.mss),
            ..TcpOptions::default()
        };
        if synack {
            r.flags |= Flags::ACK;
            if self.ecn_ok {
                r.flags |= Flags::ECE;
            }
            r.ack = self.rcv_nxt;
            o.window_scale = self.ws_ok.then_some(self.rcv_wscale);
            o.sack_permitted = self.sack_ok;
            o.timestamps = self.ts.map(|t| (self.ts_val(now), t.recent));
        } else {
            o.window_scale = self.cfg.window_scaling.then(|| self.cfg.window_shift());
            o.sack_permitted = self.cfg.sack;
            o.timestamps = self.cfg.timestamps.then(|| (self.ts_val(now), 0));
            if self.cfg.ecn == crate::tcp::Ecn::On {
                // RFC 3168 6.1.1: an ECN-setup SYN.
                r.flags |= Flags::ECE | Flags::CWR;
                self.ecn_asked = true;
            }
        }
        r.options = o;
        // RFC 7323 2.2: the window in a SYN is never scaled.
        let syn_window = self.cfg.syn_window(synack && self.ts.is_some());
        let w = (self.recv_buf.window() as u32).min(syn_window as u32);
        r.window = w as u16;
        if synack {
            self.rcv_adv = self.rcv_nxt + w;
        }
        if self.snd_max == self.iss {
            self.timed = Some((self.iss + 1, now));
        } else {
            self.stats.retransmits += 1;
            self.timed = None;
        }
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        self.rtx_at.get_or_insert(now + self.rtt.rto());
        self.last_send = now;
        Some((r, 0))
    }

    /// Bytes that may still enter the network, as (room under cwnd, room under the peer's
    /// window): cwnd minus the pipe (RFC 6675: SACKed and lost bytes have left the
    /// network), and the peer's window past SND.NXT.
    pub(super) fn window_rooms(&self) -> (u32, u32) {
        let pipe = self.pipe();
        let mut cwnd_room = self.cc.cwnd().saturating_sub(pipe);
        if self.ca != CaState::Open && cwnd_room > 0 {
            // In recovery, as Linux counts in segments: any room sends a whole one.
            cwnd_room = cwnd_room.max(self.send_mss);
        }
        let wnd_room = (self.snd_una + self.snd_wnd - self.snd_nxt).max(0) as u32;
        (cwnd_room, wnd_room)
    }

    fn out_synchronized(
        &mut self,
        now: Instant,
        payload_out: &mut [u8],
    ) -> Option<(TcpRepr, usize)> {
        let sending = self.state.may_send();
        if sending {
            if let Some(seg) = self.out_retransmit(now, payload_out) {
                return Some(seg);
            }
            if std::mem::take(&mut self.tlp_pending) {
                if let Some(seg) = self.out_probe(now, payload_out) {
                    return Some(seg);
                }
            }
            if let Some(seg) = self.out_data(now, payload_out, false) {
                return Some(seg);
            }
        } else {
            self.tlp_pending = false;
        }
        if self.probe_pending {
            // Zero-window and keep-alive probes, Linux style: an ACK one below SND.UNA,
            // which the peer must answer with its current ACK and window.
            self.probe_pending = false;
            let seq = self.snd_una - 1;
            return Some((self.finish_segment(now, seq, Flags::ACK, 0), 0));
        }
        if self.ack_now {
            let seq = self.snd_nxt;
            return Some((self.finish_segment(now, seq, Flags::ACK, 0), 0));
        }
        None
    }

    /// The first segment marked lost (by RACK, three duplicate ACKs or a timeout), under
    /// cwnd: RFC 6675 NextSeg rule 1, RFC 8985 6.2. Retransmissions are not limited by the
    /// peer's window: it was open when they were first sent (and after a timeout the head
    /// doubles as a window probe, as in Linux).
    fn out_retransmit(&mut self, now: Instant, out: &mut [u8]) -> Option<(TcpRepr, usize)> {
        if self.frto == Frto::NewData {
            // F-RTO step 2b: new data probes whether the timeout was spurious.
            return None;
        }
        let i = self.sent.first_lost()?;
        let (cwnd_room, _) = self.window_rooms();
        if cwnd_room == 0 && self.sent.pipe() > 0 {
            return None;
        }
        let (seq, len) = self.retransmit_piece(i, false, out.len() as u32);
        self.sent_retransmission(now, i, seq, len);
        Some(self.data_segment(now, seq, len as usize, out, true))
    }

    /// The part of entry `i` one segment resends: (sequence, payload bytes). From its
    /// start, or (`tail`) its last segment's worth.
    fn retransmit_piece(&mut self, mut i: usize, tail: bool, room: u32) -> (SeqNum, u32) {
        let s = self.sent.get(i);
        let fin = self.fin_seq().is_some_and(|f| f + 1 == s.end);
        let data = s.seq_len() - fin as u32;
        let max = self.send_mss.min(room).max(1);
        if tail && data > max {
            self.sent.split(i, s.end - fin as u32 - max);
            i += 1;
        }
        let s = self.sent.get(i);
        let data = s.seq_len() - fin as u32;
        (s.start, data.min(max).min(room))
    }

    /// What a segment leaving now records for delivery-rate samples (nothing for a
    /// controller that does not read them).
    fn tx_state(&mut self, now: Instant) -> TxState {
        if self.cc.model_based() {
            self.rate.on_send(now, self.sent.is_empty())
        } else {
            TxState::default()
        }
    }

    /// Bookkeeping for a retransmission of `len` payload bytes at `seq` from entry `i`.
    fn sent_retransmission(&mut self, now: Instant, i: usize, seq: SeqNum, len: u32) {
        let with_fin = self.fin_seq() == Some(seq + len);
        let tx = self.tx_state(now);
        self.sent.retransmitted(i, len + with_fin as u32, now, tx);
        self.stats.retransmits += 1;
        self.timed = None;
        if self.ca != CaState::Open {
            self.note_retransmission(now);
        }
        if self.ca == CaState::Recovery {
            self.prr.on_send(len + with_fin as u32);
        }
    }

    /// A tail loss probe (RFC 8985 7.3): new data if the peer's window takes it, whatever
    /// cwnd says; else the last segment sent, again.
    fn out_probe(&mut self, now: Instant, out: &mut [u8]) -> Option<(TcpRepr, usize)> {
        if self.ca != CaState::Open || self.sent.is_empty() {
            return None;
        }
        let seg = match self.out_data(now, out, true) {
            Some(seg) => {
                self.tlp_retrans = false;
                seg
            }
            None => {
                let i = self.sent.last_unsacked()?;
                let (seq, len) = self.retransmit_piece(i, true, out.len() as u32);
                let i = if self.sent.get(i).start == seq {
                    i
                } else {
                    i + 1
                };
                self.sent_retransmission(now, i, seq, len);
                self.tlp_retrans = true;
                self.data_segment(now, seq, len as usize, out, true)
            }
        };
        self.tlp_high = Some(self.snd_max);
        self.stats.tail_loss_probes += 1;
        self.rtx_at = Some(now + self.rtt.rto());
        self.tlp_at = None;
        Some(seg)
    }

    /// New data at SND.NXT, and the FIN after it. A tail loss probe (`probe`) is not held
    /// back by cwnd.
    fn out_data(&mut self, now: Instant, out: &mut [u8], probe: bool) -> Option<(TcpRepr, usize)> {
        let data_end = self.data_end();
        let pending = (data_end - self.snd_nxt).max(0) as u32;
        let fin_due = self.fin_seq().is_some_and(|f| self.snd_nxt <= f);
        if pending == 0 && !fin_due {
            // Out of data with room to send: rate samples now describe the application.
            let (pipe, cwnd, lost) = (self.pipe(), self.cc.cwnd(), self.sent.lost_bytes());
            self.rate
                .check_app_limited(0, self.send_mss, pipe, cwnd, lost);
            return None;
        }
        // RFC 5681 4.1: restart from the initial window after an idle period.
        if self.snd_una == self.snd_max && now - self.last_send > self.rtt.rto() {
            self.cc.on_idle_restart(now);
        }
        let (cwnd_room, wnd_room) = self.window_rooms();
        let usable = if probe {
            wnd_room
        } else {
            cwnd_room.min(wnd_room)
        };
        if pending > usable && cwnd_room <= wnd_room {
            // cwnd is what holds data back: let ACKs for this window grow it.
            self.cwnd_limited_until = Some(self.snd_max);
        }
        let len = pending.min(self.send_mss).min(usable).min(out.len() as u32);
        if pending > 0 && len == 0 {
            // Window closed: the persist timer probes it (RFC 9293 3.8.6.1).
            if self.snd_wnd == 0 && self.in_flight() == 0 && self.persist_at.is_none() {
                self.persist_at = Some(now + self.rtt.rto());
            }
            return None;
        }
        if pending > 0 && len < self.send_mss && len < pending {
            // Sender silly window avoidance (RFC 9293 3.8.6.2.1): a window-limited runt
            // waits unless it is at least half the largest window the peer offered, or
            // the override timeout (the persist timer) fired with nothing in flight.
            if len < self.max_snd_wnd / 2 && !self.sws_override {
                if self.in_flight() == 0 && self.persist_at.is_none() {
                    self.persist_at = Some(now + self.rtt.rto());
                }
                return None;
            }
        }
        if self.cfg.nagle && len < self.send_mss && self.in_flight() > 0 && !fin_due {
            // RFC 896: one small segment in flight at a time.
            return None;
        }
        self.sws_override = false;
        let seq = self.snd_nxt;
        let seg = self.data_segment(now, seq, len as usize, out, false);
        if self.ca == CaState::Recovery {
            self.prr.on_send((self.snd_max - seq) as u32);
        }
        if !probe {
            self.arm_tlp(now);
        }
        Some(seg)
    }

    /// Builds a data (or FIN) segment of `len` bytes at `seq` and does its bookkeeping.
    fn data_segment(
        &mut self,
        now: Instant,
        seq: SeqNum,
        len: usize,
        out: &mut [u8],
        retransmit: bool,
    ) -> (TcpRepr, usize) {
        let offset = (seq - self.snd_una.max(self.data_start())).max(0) as usize;
        let n = self.send_buf.read_at(offset, &mut out[..len]);
        let mut flags = Flags::ACK;
        if n > 0 && seq + n as u32 == self.data_end() {
            flags |= Flags::PSH;
        }
        if self.fin_seq() == Some(seq + n as u32) {
            flags |= Flags::FIN;
        }
        let end = seq + n as u32 + flags.fin() as u32;
        let mut ecn = crate::wire::ipv4::ECN_NOT_ECT;
        if self.ecn_ok && n > 0 && !retransmit {
            // RFC 3168 6.1.2, 6.1.5: new data is ECN-capable (retransmissions are not),
            // and the first after a window reduction says so with CWR.
            ecn = crate::wire::ipv4::ECN_ECT0;
            if std::mem::take(&mut self.cwr_pending) {
                flags |= Flags::CWR;
            }
        }
        if self.snd_nxt == seq {
            self.snd_nxt = end;
        }
        if end > self.snd_max {
            let tx = self.tx_state(now);
            self.sent.push(self.snd_max, end, now, tx);
            self.snd_max = end;
            if !retransmit && self.ts.is_none() && self.timed.is_none() {
                self.timed = Some((end, now));
            }
        }
        self.rtx_at.get_or_insert(now + self.rtt.rto());
        self.last_send = now;
        let mut r = self.finish_segment(now, seq, flags, n);
        r.ecn = ecn;
        (r, n)
    }

    /// Fills in ACK, window and options; clears the pending-ACK state.
    fn finish_segment(&mut self, now: Instant, seq: SeqNum, flags: Flags, _len: usize) -> TcpRepr {
        let mut r = self.base_repr(seq, flags | Flags::ACK);
        r.ack = self.rcv_nxt;
        r.window = self.window_field();
        if self.ece_pending {
            // RFC 3168 6.1.3: every ACK echoes the congestion until the peer's CWR.
            r.flags |= Flags::ECE;
        }
        if let Some(ts) = self.ts {
            r.options.timestamps = Some((self.ts_val(now), ts.recent));
        }
        if self.sack_ok && (self.dsack.is_some() || !self.asm.is_empty()) {
            // RFC 2018 3: three blocks fit beside the timestamps option, four without.
            let max = if self.ts.is_some() {
                3
            } else {
                MAX_SACK_BLOCKS
            };
            let mut blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
            let mut n = 0;
            // RFC 2883 4: a D-SACK block comes first, once; then the SACK blocks, most
            // recent first (RFC 2018 4).
            if let Some((l, r)) = self.dsack.take() {
                blocks[0] = SackBlock { left: l, right: r };
                n = 1;
            }
            n += self.asm.sack_blocks(self.rcv_nxt, &mut blocks[n..max]);
            r.options.sack[..n].copy_from_slice(&blocks[..n]);
            r.options.sack_len = n as u8;
        }
        self.ack_now = false;
        self.ack_at = None;
        self.unacked_bytes = 0;
        r
    }
}

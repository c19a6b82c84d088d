//! What leaves and when: the handshake's SYNs, segmentation by MSS under the peer's window
//! and the congestion window, retransmissions, FIN, probes and the ACK policy.

use super::{Conn, State};
use crate::tcp::cc::CongestionControl;
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
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
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
            r.ack = self.rcv_nxt;
            o.window_scale = self.ws_ok.then_some(self.rcv_wscale);
            o.sack_permitted = self.sack_ok;
            o.timestamps = self.ts.map(|t| (self.ts_val(now), t.recent));
        } else {
            o.window_scale = self.cfg.window_scaling.then(|| self.cfg.window_shift());
            o.sack_permitted = self.cfg.sack;
            o.timestamps = self.cfg.timestamps.then(|| (self.ts_val(now), 0));
        }
        r.options = o;
        // RFC 7323 2.2: the window in a SYN is never scaled.
        let w = (self.recv_buf.window() as u32).min(u16::MAX as u32);
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
    /// window): each minus what is there (RFC 5681 2, RFC 6675 "pipe": SACKed bytes have
    /// left the network).
    fn window_rooms(&self) -> (u32, u32) {
        // After a timeout everything past SND.NXT is presumed lost (go-back-N): the pipe is
        // what was sent since.
        let mut pipe = (self.snd_nxt - self.snd_una).max(0) as u32;
        if self.sack_ok {
            pipe = pipe.saturating_sub(self.sacked.sacked_bytes());
        } else if self.recovery.is_some() {
            // RFC 6582: each duplicate ACK means a segment has left the network.
            pipe = pipe.saturating_sub(self.dupacks * self.send_mss);
        }
        let cwnd_room = self.cc.cwnd().saturating_sub(pipe);
        let mut wnd_room = (self.snd_una + self.snd_wnd - self.snd_nxt).max(0) as u32;
        if self.snd_nxt == self.snd_una && self.snd_max > self.snd_una {
            // Retransmitting the head after a timeout: sent even if the peer shrank its
            // window below it, where it doubles as a window probe (as Linux does).
            wnd_room = wnd_room.max(self.send_mss);
        }
        (cwnd_room, wnd_room)
    }

    fn out_synchronized(
        &mut self,
        now: Instant,
        payload_out: &mut [u8],
    ) -> Option<(TcpRepr, usize)> {
        let sending = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        );
        if sending {
            if let Some(seg) = self.out_retransmit(now, payload_out) {
                return Some(seg);
            }
            if let Some(seg) = self.out_data(now, payload_out) {
                return Some(seg);
            }
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

    /// Fast retransmit and recovery: the segment at SND.UNA (RFC 5681 3.2, RFC 6582), then
    /// with SACK the holes below the highest SACKed byte (RFC 6675 NextSeg rule 1).
    fn out_retransmit(&mut self, now: Instant, out: &mut [u8]) -> Option<(TcpRepr, usize)> {
        self.recovery?;
        let seq = if self.fast_rtx {
            self.fast_rtx = false;
            self.snd_una
        } else if self.sack_ok {
            let highest = self.sacked.highest()?;
            let mut s = self.rtx_next.max(self.snd_una);
            while let Some(end) = self.sacked.sacked_until(s) {
                s = end;
            }
            if s >= highest || self.usable_window_recovery() < self.send_mss.min(1) {
                return None;
            }
            if self.usable_window_recovery() == 0 {
                return None;
            }
            s
        } else {
            return None;
        };
        let data_end = self.data_end();
        let limit = self
            .sacked
            .next_sacked_after(seq)
            .unwrap_or(data_end)
            .min(data_end);
        let len = ((limit - seq).max(0) as u32)
            .min(self.send_mss)
            .min(out.len() as u32);
        if len == 0 && self.fin_seq() != Some(seq) {
            return None;
        }
        self.rtx_next = seq + len;
        self.stats.retransmits += 1;
        self.timed = None;
        Some(self.data_segment(now, seq, len as usize, out, true))
    }

    /// Room for hole retransmissions in SACK recovery: cwnd minus pipe.
    fn usable_window_recovery(&self) -> u32 {
        let pipe = self.in_flight().saturating_sub(self.sacked.sacked_bytes());
        self.cc.cwnd().saturating_sub(pipe)
    }

    /// New data (or go-back-N after a timeout) at SND.NXT, and the FIN after it.
    fn out_data(&mut self, now: Instant, out: &mut [u8]) -> Option<(TcpRepr, usize)> {
        // Skip what the peer already SACKed (after a timeout pulled SND.NXT back).
        if self.sack_ok {
            while let Some(end) = self.sacked.sacked_until(self.snd_nxt) {
                self.snd_nxt = end;
            }
        }
        let data_end = self.data_end();
        let pending = (data_end - self.snd_nxt).max(0) as u32;
        let fin_due = self.fin_seq().is_some_and(|f| self.snd_nxt <= f);
        if pending == 0 && !fin_due {
            return None;
        }
        // RFC 5681 4.1: restart from the initial window after an idle period.
        if self.snd_una == self.snd_max && now - self.last_send > self.rtt.rto() {
            self.cc.on_idle_restart();
        }
        let (cwnd_room, wnd_room) = self.window_rooms();
        let usable = cwnd_room.min(wnd_room);
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
        let retransmit = seq < self.snd_max;
        if retransmit {
            self.stats.retransmits += 1;
            self.timed = None;
        }
        Some(self.data_segment(now, seq, len as usize, out, retransmit))
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
        if self.snd_nxt == seq {
            self.snd_nxt = end;
        }
        if end > self.snd_max {
            self.snd_max = end;
            if !retransmit && self.ts.is_none() && self.timed.is_none() {
                self.timed = Some((end, now));
            }
        }
        self.rtx_at.get_or_insert(now + self.rtt.rto());
        self.last_send = now;
        (self.finish_segment(now, seq, flags, n), n)
    }

    /// Fills in ACK, window and options; clears the pending-ACK state.
    fn finish_segment(&mut self, now: Instant, seq: SeqNum, flags: Flags, _len: usize) -> TcpRepr {
        let mut r = self.base_repr(seq, flags | Flags::ACK);
        r.ack = self.rcv_nxt;
        r.window = self.window_field();
        if let Some(ts) = self.ts {
            r.options.timestamps = Some((self.ts_val(now), ts.recent));
        }
        if self.sack_ok && !self.asm.is_empty() {
            // RFC 2018 3: three blocks fit beside the timestamps option, four without.
            let max = if self.ts.is_some() {
                3
            } else {
                MAX_SACK_BLOCKS
            };
            let mut blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
            let n = self.asm.sack_blocks(self.rcv_nxt, &mut blocks[..max]);
            r.options.sack[..n].copy_from_slice(&blocks[..n]);
            r.options.sack_len = n as u8;
        }
        self.ack_now = false;
        self.ack_at = None;
        self.unacked_bytes = 0;
        r
    }
}

//! A read-only view of one connection for operators (`fastpath ss`), in the terms of
//! Linux's `struct tcp_info` where one exists. Reading it changes nothing.

use std::net::SocketAddr;

use super::recovery::CaState;
use super::{Conn, State};
use crate::tcp::cc::CongestionControl;
use crate::time::Instant;

/// What limits the sender right now (Linux `tcp_info`'s `*_limited` causes, as a state).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    /// Nothing waits to be sent: the application is the limit (or there is no data).
    App,
    /// Data waits and the peer's receive window is full.
    Rwnd,
    /// Data waits and the congestion window is full.
    Cwnd,
    /// Data waits and both windows have room (it leaves at the next turn of the loop).
    None,
}

/// One connection as `ss -tin` shows a kernel socket. Bytes and times are exact
/// readings of the connection's state; the byte totals are taken from sequence numbers
/// (so they wrap after 4 GiB, as the kernel's 32-bit sequence space does).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConnInfo {
    /// `ss`'s state name: "established", "syn-recv", "time-wait", ...
    pub state: &'static str,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Bytes the peer sent that the application has not read (`ss` Recv-Q).
    pub recv_q: u32,
    /// Bytes written and not yet acknowledged (`ss` Send-Q).
    pub send_q: u32,
    /// Bytes written and never sent yet.
    pub unsent: u32,
    /// Bytes sent and not acknowledged.
    pub in_flight: u32,
    /// Payload bytes per segment we send.
    pub mss: u32,
    /// Congestion window and slow-start threshold, in bytes (`ssthresh` is `None` until
    /// the first congestion response).
    pub cwnd: u32,
    /// Slow-start threshold in bytes.
    pub ssthresh: Option<u32>,
    /// Smoothed RTT and its variation, in microseconds (`None` before the first sample).
    pub srtt_us: Option<u64>,
    /// RTTVAR, in microseconds.
    pub rttvar_us: u64,
    /// The retransmission timeout armed next, backoff included, in microseconds.
    pub rto_us: u64,
    /// RTO doublings since the last RTT sample.
    pub backoff: u32,
    /// The peer's receive window, and the one we last advertised, in bytes.
    pub snd_wnd: u32,
    /// The window we last advertised, in bytes.
    pub rcv_wnd: u32,
    /// Segments sent again, and how many retransmission timeouts fired.
    pub retrans: u64,
    /// Retransmission timeouts that fired.
    pub rto_expiries: u64,
    /// Bytes sent (first transmissions), acknowledged, and received in order.
    pub bytes_sent: u64,
    /// Bytes the peer acknowledged.
    pub bytes_acked: u64,
    /// Bytes received in order.
    pub bytes_received: u64,
    /// Segments sent (retransmissions included).
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Acknowledged bytes per second over the connection's life, in bits per second.
    pub delivery_rate_bps: u64,
    /// What one congestion window per RTT would carry (`ss`'s "send"), in bits per
    /// second; `None` before the first RTT sample.
    pub send_rate_bps: Option<u64>,
    /// Loss recovery: "open", "recovery" (fast) or "loss" (after a timeout).
    pub ca_state: &'static str,
    /// What holds the sender back now.
    pub limited_by: Limit,
    /// SACK was agreed (RFC 2018).
    pub sack: bool,
    /// Timestamps were agreed (RFC 7323).
    pub timestamps: bool,
    /// ECN was agreed (RFC 3168).
    pub ecn: bool,
    /// Window scale shifts: ours, the peer's (`None` without scaling).
    pub wscale: Option<(u8, u8)>,
    /// Milliseconds since the connection was created.
    pub age_ms: u64,
}

impl State {
    /// The name `ss` gives the state (and its `state` filter takes).
    pub fn ss_name(self) -> &'static str {
        match self {
            State::SynSent => "syn-sent",
            State::SynReceived => "syn-recv",
            State::Established => "established",
            State::FinWait1 => "fin-wait-1",
            State::FinWait2 => "fin-wait-2",
            State::Closing => "closing",
            State::TimeWait => "time-wait",
            State::CloseWait => "close-wait",
            State::LastAck => "last-ack",
            State::Closed => "closed",
        }
    }
}

impl Conn {
    /// The connection as an operator sees it at `now`.
    pub fn info(&self, now: Instant) -> ConnInfo {
        let synced = self.state.synchronized() || self.state == State::Closed;
        let data_start = self.data_start();
        let seq_bytes = |a: super::SeqNum, b: super::SeqNum| (a - b).max(0) as u64;
        // A FIN takes a sequence number but carries no byte.
        let past =
            |fin: Option<super::SeqNum>, edge: super::SeqNum| fin.is_some_and(|f| edge > f) as u64;
        let unsent = (self.data_end() - self.snd_nxt.max(data_start)).max(0) as u32;
        let (cwnd_room, wnd_room) = self.window_rooms();
        let limited_by = if unsent == 0 || !self.state.may_send() {
            Limit::App
        } else if wnd_room == 0 {
            Limit::Rwnd
        } else if cwnd_room == 0 {
            Limit::Cwnd
        } else {
            Limit::None
        };
        let age = now.saturating_since(self.opened);
        let bytes_acked = if synced {
            seq_bytes(self.snd_una, data_start).saturating_sub(past(self.fin_at, self.snd_una))
        } else {
            0
        };
        let cwnd = self.cc.cwnd();
        let srtt = self.rtt.srtt();
        ConnInfo {
            state: self.state.ss_name(),
            local: self.tuple.local(),
            remote: self.tuple.remote(),
            recv_q: self.recv_buf.readable() as u32,
            send_q: self.send_buf.len() as u32,
            unsent,
            in_flight: self.in_flight(),
            mss: self.send_mss,
            cwnd,
            ssthresh: Some(self.cc.ssthresh()).filter(|&s| s != u32::MAX),
            srtt_us: srtt.map(|d| d.as_micros() as u64),
            rttvar_us: self.rtt.rttvar().as_micros() as u64,
            rto_us: self.rtt.rto().as_micros() as u64,
            backoff: self.rtt.backoff_count(),
            snd_wnd: self.snd_wnd,
            rcv_wnd: (self.rcv_adv - self.rcv_nxt).max(0) as u32,
            retrans: self.stats.retransmits,
            rto_expiries: self.stats.rto_expiries,
            bytes_sent: if synced {
                seq_bytes(self.snd_max, data_start).saturating_sub(past(self.fin_at, self.snd_max))
            } else {
                0
            },
            bytes_acked,
            bytes_received: if synced {
                seq_bytes(self.rcv_nxt, self.irs + 1)
                    .saturating_sub(past(self.peer_fin, self.rcv_nxt))
            } else {
                0
            },
            segs_out: self.stats.segments_out,
            segs_in: self.stats.segments_in,
            delivery_rate_bps: match age.as_micros() as u64 {
                0 => 0,
                us => bytes_acked.saturating_mul(8_000_000) / us,
            },
            send_rate_bps: srtt
                .map(|d| (d.as_micros() as u64).max(1))
                .map(|us| cwnd as u64 * 8_000_000 / us),
            ca_state: match self.ca {
                CaState::Open => "open",
                CaState::Recovery => "recovery",
                CaState::Loss => "loss",
            },
            limited_by,
            sack: self.sack_ok,
            timestamps: self.ts.is_some(),
            ecn: self.ecn_ok,
            wscale: self.ws_ok.then_some((self.rcv_wscale, self.snd_wscale)),
            age_ms: age.as_millis() as u64,
        }
    }
}

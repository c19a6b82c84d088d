//! One TCP connection (RFC 9293 3.3.2's state machine), sans-IO.
//!
//! Split by phase: `input.rs` is what arriving segments do (RFC 9293 3.10.7), `output.rs`
//! what leaves and when (segmentation, retransmission, ACK policy), `timers.rs` the
//! deadlines, `pmtu.rs` the path MTU. This file holds the state and the application's
//! side.

mod info;
mod input;
mod output;
mod pmtu;
mod recovery;
mod timers;

pub use info::{ConnInfo, Limit};

use core::time::Duration;
use std::net::SocketAddrV4;

use self::recovery::{CaState, Frto, Undo};
use super::assembler::Assembler;
use super::buffer::{RecvBuffer, SendBuffer};
use super::cc::{CongestionControl, Controller};
use super::config::TcpConfig;
use super::recovery::prr::Prr;
use super::recovery::rack::Rack;
use super::recovery::rate::Rate;
use super::recovery::sent::SentQueue;
use super::rtt::RttEstimator;
use super::tuple6::{Tuple, IPV6_EXTRA_HEADER};
use super::SeqNum;
use crate::time::Instant;
use crate::wire::tcp::TcpRepr;

/// (local, remote) addresses and ports: what tells two connections apart.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

/// RFC 9293 3.3.2. LISTEN lives in the listener, not in a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// We sent a SYN and wait for the SYN-ACK.
    SynSent,
    /// We answered a SYN and wait for its ACK.
    SynReceived,
    /// Both sides may send.
    Established,
    /// We sent FIN; it is not acknowledged yet.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// Both sides sent FIN at once; ours is not acknowledged yet.
    Closing,
    /// Both FINs acknowledged; waiting 2 MSL for stray segments.
    TimeWait,
    /// The peer sent FIN; we may still send.
    CloseWait,
    /// We sent FIN after the peer's; waiting for its ACK.
    LastAck,
    /// Gone: nothing more is sent or accepted.
    Closed,
}

impl State {
    /// RFC 9293: the states after the handshake.
    pub fn synchronized(self) -> bool {
        !matches!(self, State::SynSent | State::SynReceived | State::Closed)
    }

    /// States in which data (or our FIN) may still be sent or resent.
    pub fn may_send(self) -> bool {
        matches!(
            self,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }
}

/// Why a connection reached CLOSED.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Orderly close completed (TIME_WAIT expired, or LAST_ACK acknowledged).
    Normal,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions, keep-alive probes or FIN_WAIT_2 ran out of time.
    TimedOut,
    /// The application aborted (we sent a reset).
    Aborted,
}

crate::stats::counter_set! {
    /// What a connection counted (for stats and tests).
    pub struct ConnStats {
        /// Segments received.
        segments_in,
        /// Segments sent.
        segments_out,
        /// Segments sent again (any reason).
        retransmits,
        /// Retransmission timeouts that fired.
        rto_expiries,
        /// Retransmissions on loss detected by ACKs, not by a timeout.
        fast_retransmits,
        /// Zero-window probes sent by the persist timer.
        window_probes,
        /// Challenge ACKs sent (RFC 5961).
        challenge_acks,
        /// Challenge ACKs not sent for the rate limit.
        challenge_acks_suppressed,
        /// Segments refused by PAWS (RFC 7323 5).
        paws_rejected,
        /// ICMP fragmentation-needed messages that lowered the segment size.
        pmtu_updates,
        /// Fragmentation-needed messages ignored (implausible MTU or sequence number).
        pmtu_ignored,
        /// Duplicate ACKs for out-of-window pure ACKs not sent (rate limit).
        oow_acks_suppressed,
        /// Data segments that arrived beyond a hole.
        out_of_order,
        /// Out-of-order segments dropped (no room to keep them).
        ooo_dropped,
        /// Data segments that carried only bytes already received (the peer retransmitted
        /// what had arrived): each is reported back with a D-SACK block (RFC 2883).
        duplicate_segments,
        /// D-SACK blocks the peer sent: each says one of our segments arrived twice.
        dsacks_received,
        /// Our retransmissions that a D-SACK proved unneeded (segments).
        spurious_retransmits,
        /// Congestion responses undone because the loss proved spurious (RFC 3708 / Eifel
        /// RFC 3522, 4015 / F-RTO RFC 5682).
        undos,
        /// Tail loss probes sent (RFC 8985 7).
        tail_loss_probes,
        /// Segments RACK declared lost (RFC 8985 6).
        rack_lost,
        /// Data segments that arrived marked CE (RFC 3168).
        ce_received,
        /// Window reductions made for the peer's ECE (at most one per window).
        ecn_reductions,
    }
}

/// Timestamps state (RFC 7323 4, 5), when both sides sent the option.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Timestamps {
    /// TS.Recent, and when it was last updated (RFC 7323 5.5).
    recent: u32,
    recent_at: Instant,
}

/// A TCP connection. See the module docs.
#[derive(Debug)]
pub struct Conn {
    /// The connection's settings; for IPv6 `mss` is already 20 less (MTU - 60).
    cfg: TcpConfig,
    tuple: Tuple,
    state: State,
    close_reason: Option<CloseReason>,
    /// What the connection counted.
    pub stats: ConnStats,

    // Send sequence space (RFC 9293 3.3.1).
    iss: SeqNum,
    snd_una: SeqNum,
    /// Next sequence number to send; pulled back to SND.UNA by a timeout (go-back-N).
    snd_nxt: SeqNum,
    /// Highest sequence number sent, plus one.
    snd_max: SeqNum,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    /// Shift applied to the peer's window field.
    snd_wscale: u8,
    /// Payload bytes per segment: the peer's MSS, our own limit, less the TS option.
    send_mss: u32,
    send_buf: SendBuffer,
    /// The application closed: our FIN's sequence number, after the queued data.
    fin_at: Option<SeqNum>,

    // Receive sequence space.
    irs: SeqNum,
    rcv_nxt: SeqNum,
    /// Our shift for the window field (0 unless both sides offered scaling).
    rcv_wscale: u8,
    /// Right edge of the window last advertised; never moved left (RFC 9293 3.8.6.2.2).
    rcv_adv: SeqNum,
    recv_buf: RecvBuffer,
    asm: Assembler,
    /// Sequence number of the peer's FIN, once seen (possibly ahead of RCV.NXT).
    peer_fin: Option<SeqNum>,

    sack_ok: bool,
    /// Both sides offered window scaling.
    ws_ok: bool,
    ts: Option<Timestamps>,

    rtt: RttEstimator,
    rtx_at: Option<Instant>,
    retries: u32,
    /// RTT timing without timestamps: (sequence to be ACKed, sent at). Karn: cleared on
    /// retransmission.
    timed: Option<(SeqNum, Instant)>,
    ack_at: Option<Instant>,
    ack_now: bool,
    /// Bytes received since our last ACK.
    unacked_bytes: u32,
    quickacks: u32,
    persist_at: Option<Instant>,
    /// Doublings of the persist interval; reset only when the window opens.
    persist_backoff: u32,
    /// Window probes sent since the peer last acknowledged anything (Linux's
    /// `icsk_probes_out`): a peer that answers keeps its window closed as long as it
    /// likes (RFC 9293 3.8.6.1); one that stops answering is given up after
    /// `data_retries` of them.
    probes_out: u32,
    keepalive_at: Option<Instant>,
    keepalive_sent: u32,
    /// TIME_WAIT or FIN_WAIT_2 expiry.
    linger_at: Option<Instant>,
    last_send: Instant,
    probe_pending: bool,
    /// The persist timer fired on a small open window that sender silly-window
    /// avoidance was holding data back for: send the runt now (RFC 9293 3.8.6.2.1's
    /// override timeout), so a lost window update cannot stall the connection.
    sws_override: bool,
    /// A one-off segment to send first (a reset).
    pending_rst: Option<TcpRepr>,

    cc: Controller,
    /// Duplicate ACKs in a row (RFC 5681 2), for connections without SACK.
    dupacks: u32,
    /// Where loss recovery stands (Linux `icsk_ca_state`).
    ca: CaState,
    /// SND.MAX when fast or timeout recovery began: it ends once this is acknowledged
    /// (RFC 6582 "recover", RFC 6675 RecoveryPoint).
    high_seq: SeqNum,
    /// Every segment in flight, with what the peer SACKed and what is lost.
    sent: SentQueue,
    rack: Rack,
    /// Delivery rate estimation (the samples a model-based congestion control reads).
    rate: Rate,
    /// The pipe before the ACK being processed, and the RTT it measured.
    rate_prior_in_flight: u32,
    rate_rtt: Option<Duration>,
    /// RACK's reordering timer (RFC 8985 6.3).
    reo_at: Option<Instant>,
    /// Tail loss probe timer (RFC 8985 7.2), and a probe due now.
    tlp_at: Option<Instant>,
    tlp_pending: bool,
    /// SND.MAX after the outstanding probe (TLP.end_seq), and whether it was a
    /// retransmission (RFC 8985 7.4).
    tlp_high: Option<SeqNum>,
    tlp_retrans: bool,
    prr: Prr,
    /// What a spurious loss would give back (Linux `undo_marker` and friends).
    undo: Option<Undo>,
    /// F-RTO (RFC 5682) after a timeout, for a peer without timestamps.
    frto: Frto,
    /// A D-SACK block to report in the next ACK (RFC 2883 4): a duplicate arrived.
    dsack: Option<(SeqNum, SeqNum)>,
    /// ECN (RFC 3168) was agreed in the handshake.
    ecn_ok: bool,
    /// We sent an ECN-setup SYN (RFC 3168 6.1.1).
    ecn_asked: bool,
    /// A CE mark arrived: ACKs carry ECE until the peer's CWR (RFC 3168 6.1.3).
    ece_pending: bool,
    /// The window was reduced: the next new data segment carries CWR (RFC 3168 6.1.2).
    cwr_pending: bool,
    /// ECE is not reacted to again until SND.UNA passes this (once per window).
    ecn_hold_until: Option<SeqNum>,

    challenge_window: Instant,
    challenges: u32,
    /// When we last answered an out-of-window or PAWS-rejected pure ACK (Linux
    /// `tcp_oow_rate_limited`): two stacks that disagree must not ping-pong ACKs.
    last_oow_ack: Option<Instant>,
    /// cwnd held data back when SND.MAX was this; ACKs up to it may grow cwnd (Linux
    /// `is_cwnd_limited` over a window).
    cwnd_limited_until: Option<SeqNum>,
    /// The application released the connection (`release`): FIN_WAIT_2 is bounded.
    orphaned: bool,
    /// When the connection was created (for `info`'s rates; read nowhere else).
    opened: Instant,
}

impl Conn {
    fn new(cfg: &TcpConfig, tuple: Tuple, iss: SeqNum, state: State, now: Instant) -> Conn {
        let mut cfg = *cfg;
        if tuple.is_v6() {
            // RFC 9293 3.7.1: MSS = MTU - 60 over IPv6 (its header is 20 bytes longer):
            // the MSS we announce and the most we send both shrink.
            cfg.mss = cfg.mss.saturating_sub(IPV6_EXTRA_HEADER).max(64);
        }
        let cfg = &cfg;
        let mss = cfg.mss as u32;
        Conn {
            cfg: *cfg,
            tuple,
            state,
            close_reason: None,
            stats: ConnStats::default(),
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            snd_wscale: 0,
            // RFC 9293 3.7.1: 536 unless the peer says otherwise.
            send_mss: 536.min(mss),
            send_buf: SendBuffer::with_capacity(cfg.send_buffer),
            fin_at: None,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_wscale: 0,
            rcv_adv: SeqNum(0),
            recv_buf: RecvBuffer::with_capacity(cfg.recv_buffer),
            asm: Assembler::new(),
            peer_fin: None,
            sack_ok: false,
            ws_ok: false,
            ts: None,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtx_at: None,
            retries: 0,
            timed: None,
            ack_at: None,
            ack_now: false,
            unacked_bytes: 0,
            quickacks: cfg.quickacks,
            persist_at: None,
            persist_backoff: 0,
            probes_out: 0,
            keepalive_at: None,
            keepalive_sent: 0,
            linger_at: None,
            last_send: now,
            probe_pending: false,
            sws_override: false,
            pending_rst: None,
            cc: Controller::new(cfg.cc, mss),
            dupacks: 0,
            ca: CaState::Open,
            high_seq: iss,
            sent: SentQueue::new(),
            rack: Rack::new(),
            rate: Rate::default(),
            rate_prior_in_flight: 0,
            rate_rtt: None,
            reo_at: None,
            tlp_at: None,
            tlp_pending: false,
            tlp_high: None,
            tlp_retrans: false,
            prr: Prr::default(),
            undo: None,
            frto: Frto::Off,
            dsack: None,
            ecn_ok: false,
            ecn_asked: false,
            ece_pending: false,
            cwr_pending: false,
            ecn_hold_until: None,
            challenge_window: now,
            challenges: 0,
            last_oow_ack: None,
            orphaned: false,
            cwnd_limited_until: None,
            opened: now,
        }
    }

    /// Active open: a connection in SYN_SENT whose SYN leaves at the next `poll_transmit`.
    pub fn connect(cfg: &TcpConfig, tuple: impl Into<Tuple>, iss: SeqNum, now: Instant) -> Conn {
        Conn::new(cfg, tuple.into(), iss, State::SynSent, now)
    }

    /// Passive open from a SYN a listener accepted: SYN_RECEIVED, SYN-ACK pending.
    pub fn accept(
        cfg: &TcpConfig,
        tuple: impl Into<Tuple>,
        syn: &TcpRepr,
        iss: SeqNum,
        now: Instant,
    ) -> Conn {
        let mut c = Conn::new(cfg, tuple.into(), iss, State::SynReceived, now);
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq + 1;
        c.rcv_adv = c.rcv_nxt;
        c.negotiate(syn, now);
        // RFC 3168 6.1.1: an ECN-setup SYN has ECE and CWR; we answer with ECE alone.
        c.ecn_ok = cfg.ecn != crate::tcp::Ecn::Off
            && syn
                .flags
                .contains(crate::wire::tcp::Flags::ECE | crate::wire::tcp::Flags::CWR);
        c.snd_wnd = syn.window as u32; // RFC 7323 2.2: a SYN's window is never scaled.
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq;
        c
    }

    /// ESTABLISHED straight from the ACK that returned a valid SYN cookie (RFC 4987 3.6):
    /// the handshake's facts come from the cookie, not from memory.
    pub fn from_cookie(
        cfg: &TcpConfig,
        tuple: impl Into<Tuple>,
        ack: &TcpRepr,
        opts: crate::tcp::cookie::CookieOptions,
        now: Instant,
    ) -> Conn {
        let iss = ack.ack - 1;
        let mut c = Conn::new(cfg, tuple.into(), iss, State::Established, now);
        c.snd_una = ack.ack;
        c.snd_nxt = ack.ack;
        c.snd_max = ack.ack;
        c.irs = ack.seq - 1;
        c.rcv_nxt = ack.seq;
        let syn = TcpRepr {
            options: crate::wire::tcp::TcpOptions {
                mss: Some(opts.mss),
                window_scale: opts.window_scale,
                sack_permitted: opts.sack_permitted,
                timestamps: ack.options.timestamps.filter(|_| opts.timestamps),
                ..Default::default()
            },
            ..*ack
        };
        c.negotiate(&syn, now);
        if opts.window_scale.is_none() {
            c.rcv_wscale = 0;
        }
        c.snd_wnd = (ack.window as u32) << c.snd_wscale;
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = ack.seq;
        c.snd_wl2 = ack.ack;
        // The SYN-ACK advertised an unscaled window of up to 64 KiB.
        c.rcv_adv = c.rcv_nxt + cfg.syn_window(c.ts.is_some()) as u32;
        c
    }

    /// Options from the peer's SYN (or SYN-ACK) and ours: what both sides agreed on.
    fn negotiate(&mut self, syn: &TcpRepr, now: Instant) {
        let o = &syn.options;
        // RFC 7323 2.2: scaling only if both sides sent the option.
        match (self.cfg.window_scaling, o.window_scale) {
            (true, Some(shift)) => {
                self.ws_ok = true;
                self.snd_wscale = shift.min(14);
                self.rcv_wscale = self.cfg.window_shift();
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.sack_ok = self.cfg.sack && o.sack_permitted;
        self.ts = match (self.cfg.timestamps, o.timestamps) {
            (true, Some((val, _))) => Some(Timestamps {
                recent: val,
                recent_at: now,
            }),
            _ => None,
        };
        // RFC 9293 3.7.1 / RFC 6691: send at most the peer's MSS, and never more than our own.
        let peer = o.mss.map_or(536, |m| m as u32).max(64);
        self.send_mss = peer.min(self.cfg.mss as u32);
        if self.ts.is_some() {
            self.send_mss -= 12; // the timestamps option rides on every segment
        }
        self.cc = Controller::new(self.cfg.cc, self.send_mss);
    }

    /// The connection's addresses and ports.
    pub fn tuple(&self) -> Tuple {
        self.tuple
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Closed for good: the owner may drop it and free its table slot.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.pending_rst.is_none()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// Whether the connection is in ESTABLISHED.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Bytes the peer sent that the application has not read.
    pub fn readable(&self) -> usize {
        self.recv_buf.readable()
    }

    /// The peer sent FIN and every byte before it has been read.
    pub fn peer_closed(&self) -> bool {
        self.peer_fin.is_some_and(|f| self.rcv_nxt == f + 1) && self.recv_buf.readable() == 0
    }

    /// Room in the send buffer (0 once the application has closed its side).
    pub fn send_capacity(&self) -> usize {
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
                if self.fin_at.is_none() =>
            {
                self.send_buf.free()
            }
            _ => 0,
        }
    }

    /// Linux `tcp_sndbuf_expand`: the send buffer may hold two congestion windows (three
    /// with BBR, which may slow-start in recovery), up to `send_buffer_max`, so a large
    /// window always has new data behind a hole (whose SACKs reveal a lost
    /// retransmission). It only grows; bytes take memory only while queued.
    fn expand_send_buffer(&mut self) {
        let factor = if self.cc.model_based() { 3 } else { 2 };
        let want = (self.cc.cwnd() as usize * factor).next_power_of_two();
        self.send_buf.grow_to(want.min(self.cfg.send_buffer_max));
    }

    /// Bytes written but not yet acknowledged by the peer.
    pub fn unacked(&self) -> usize {
        self.send_buf.len()
    }

    /// Queues data; returns how much fit.
    pub fn send(&mut self, data: &[u8]) -> usize {
        if self.send_capacity() == 0 {
            return 0;
        }
        self.send_buf.write(data)
    }

    /// Reads received data.
    pub fn recv(&mut self, out: &mut [u8]) -> usize {
        let n = self.recv_buf.read(out);
        self.after_read();
        n
    }

    /// The readable bytes in place (up to two slices), for parsing without copying.
    pub fn recv_peek(&self) -> (&[u8], &[u8]) {
        self.recv_buf.peek()
    }

    /// Drops `n` bytes the application has parsed from `recv_peek`.
    pub fn recv_consume(&mut self, n: usize) {
        self.recv_buf.consume(n);
        self.after_read();
    }

    /// RFC 9293 3.8.6.2.2: announce a window that opened by a useful amount. And once
    /// everything received is consumed (nothing out of order waiting either), the receive
    /// buffer goes back to the pool: an idle connection holds none.
    fn after_read(&mut self) {
        if self.recv_buf.readable() == 0 && self.asm.is_empty() {
            self.recv_buf.shrink();
        }
        if !self.state.synchronized() {
            return;
        }
        let edge = self.rcv_nxt + self.offered_window();
        let threshold = (self.recv_buf.capacity() as u32 / 2).min(self.cfg.mss as u32);
        if edge - self.rcv_adv >= threshold as i32 {
            self.ack_now = true;
        }
    }

    /// The application is done with the connection both ways (close(2) on a socket):
    /// FIN after the queued data as `close`, and since nobody will ever wait for the
    /// peer's FIN, FIN_WAIT_2 lasts at most `fin_wait2_timeout` of silence (Linux
    /// `tcp_fin_timeout` for orphaned sockets).
    pub fn release(&mut self) {
        self.orphaned = true;
        self.close();
        if self.state == State::FinWait2 && self.linger_at.is_none() {
            self.linger_at = Some(self.last_send + self.cfg.fin_wait2_timeout);
        }
    }

    /// Orderly close of our side (RFC 9293 3.10.4): FIN after the queued data. This is a
    /// half-close (shutdown(2) for writing): the peer may keep sending and the application
    /// keeps reading; FIN_WAIT_2 waits for the peer's FIN as long as it takes. Use
    /// `release` when the application will not wait.
    pub fn close(&mut self) {
        match self.state {
            State::SynSent => self.set_closed(CloseReason::Normal),
            // RFC 9293 3.10.4: in SYN_RECEIVED the FIN is queued until the handshake
            // completes (our SYN must be acknowledged before a FIN can follow it).
            State::SynReceived => self.fin_at = Some(self.data_end()),
            State::Established => {
                self.fin_at = Some(self.data_end());
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_at = Some(self.data_end());
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Ends a connection in TIME_WAIT at once, silently (no segment): what Linux does when
    /// its TIME_WAIT table is full. No effect in other states.
    pub fn forget(&mut self) {
        if self.state == State::TimeWait {
            self.set_closed(CloseReason::Normal);
        }
    }

    /// Abort (RFC 9293 3.10.5): a reset now, everything dropped.
    pub fn abort(&mut self) {
        if self.state.synchronized() || self.state == State::SynReceived {
            self.pending_rst = Some(TcpRepr {
                src_port: self.tuple.local_port(),
                dst_port: self.tuple.remote_port(),
                seq: self.snd_nxt,
                flags: crate::wire::tcp::Flags::RST,
                ..TcpRepr::default()
            });
        }
        self.set_closed(CloseReason::Aborted);
    }

    /// Memory this connection holds: the struct plus its buffers' heap (each held only
    /// while it holds data), for the documentation and the engine's accounting.
    pub fn memory(&self) -> usize {
        core::mem::size_of::<Conn>()
            + self.send_buf.allocated()
            + self.recv_buf.allocated()
            + self.sent.allocated()
            + self.asm.allocated()
    }

    /// Payload bytes per segment we send.
    pub fn send_mss(&self) -> u32 {
        self.send_mss
    }

    /// The congestion window, in bytes.
    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }

    /// The slow-start threshold, in bytes.
    pub fn ssthresh(&self) -> u32 {
        self.cc.ssthresh()
    }

    /// ECN was agreed with the peer (RFC 3168).
    pub fn ecn(&self) -> bool {
        self.ecn_ok
    }

    /// The current retransmission timeout (backoff included).
    pub fn rtt_rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// The smoothed RTT, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    fn set_closed(&mut self, why: CloseReason) {
        self.send_buf.shrink();
        self.recv_buf.shrink();
        self.sent.shrink();
        self.asm = Assembler::new();
        self.reo_at = None;
        self.tlp_at = None;
        self.tlp_pending = false;
        self.state = State::Closed;
        self.close_reason.get_or_insert(why);
        self.rtx_at = None;
        self.ack_at = None;
        self.ack_now = false;
        self.persist_at = None;
        self.keepalive_at = None;
        self.linger_at = None;
        self.probe_pending = false;
    }

    /// Bytes in flight: sent and not acknowledged.
    fn in_flight(&self) -> u32 {
        (self.snd_max - self.snd_una).max(0) as u32
    }

    /// FlightSize for a congestion response: outstanding bytes the peer has not SACKed
    /// (RFC 6675 "pipe", without its retransmission term). Counting SACKed bytes would
    /// set ssthresh from data that has already left the network.
    fn flight_size(&self) -> u32 {
        self.in_flight().saturating_sub(self.sent.sacked_bytes())
    }

    /// The first sequence number of data (after our SYN).
    fn data_start(&self) -> SeqNum {
        self.iss + 1
    }

    /// Sequence number after the last queued data byte.
    fn data_end(&self) -> SeqNum {
        self.snd_una.max(self.data_start()) + self.send_buf.len() as u32
    }

    /// The FIN's sequence number, when one is queued.
    fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_at
    }

    /// Our TSval for `now`: a millisecond clock (as Linux) from a per-connection start
    /// derived from the ISS, so the value reveals no host-wide clock (RFC 7323 5.4).
    fn ts_val(&self, now: Instant) -> u32 {
        ts_clock(self.iss, now)
    }

    /// Is the connection's state consistent? For tests after every step.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.snd_una > self.snd_nxt || self.snd_nxt > self.snd_max {
            return Err(format!(
                "snd_una {:?} <= snd_nxt {:?} <= snd_max {:?} violated",
                self.snd_una, self.snd_nxt, self.snd_max
            ));
        }
        if self.send_buf.len() > self.send_buf.capacity()
            || self.recv_buf.readable() > self.recv_buf.capacity()
        {
            return Err("buffer over capacity".into());
        }
        if self.state.synchronized() && self.rcv_adv < self.rcv_nxt && self.state != State::TimeWait
        {
            return Err(format!(
                "advertised edge {:?} behind rcv_nxt {:?}",
                self.rcv_adv, self.rcv_nxt
            ));
        }
        if self.state == State::Closed && (self.rtx_at.is_some() || self.linger_at.is_some()) {
            return Err("timers armed on a closed connection".into());
        }
        self.sent.check()?;
        if self.state.synchronized() && self.state != State::Closed {
            let una = self.snd_una.max(self.data_start());
            if !self.sent.is_empty() && self.sent.total_bytes() != (self.snd_max - una) as u32 {
                return Err(format!(
                    "sent queue holds {} bytes, {} outstanding",
                    self.sent.total_bytes(),
                    self.snd_max - una
                ));
            }
        }
        Ok(())
    }
}

/// The TSval clock of the connection whose ISS is `iss`. The SYN cookie path uses it for
/// the cookie SYN-ACK too, so the connection it creates never sends a TSval below the one
/// the peer already saw (which the peer's PAWS would reject).
pub(crate) fn ts_clock(iss: SeqNum, now: Instant) -> u32 {
    iss.0
        .rotate_left(13)
        .wrapping_add(now.total_millis() as u32)
}

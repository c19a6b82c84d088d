//! Deadlines: retransmission (RFC 6298), tail loss probe and RACK reordering (RFC 8985),
//! delayed ACK (RFC 1122 4.2.3.2), persist (RFC 9293
//! 3.8.6.1), keep-alive (RFC 1122 4.2.3.6), TIME_WAIT and FIN_WAIT_2; and the options an
//! application sets per connection (keep-alive, and Nagle beside it).

use core::time::Duration;

use super::{CloseReason, Conn, State};
use crate::time::Instant;

/// Longest gap between zero-window probes (Linux TCP_RTO_MAX).
const MAX_PERSIST: Duration = Duration::from_secs(120);

/// Zero-window probes a released connection sends, answered or not, once their interval
/// has backed off to `MAX_PERSIST` (Linux `tcp_orphan_retries` for a live peer: 8).
const ORPHAN_PROBES: u32 = 8;

impl Conn {
    /// Nagle's algorithm (RFC 896) on this connection (TCP_NODELAY off) or off.
    pub fn set_nagle(&mut self, on: bool) {
        self.cfg.nagle = on;
    }

    /// Keep-alive probing on this connection (SO_KEEPALIVE), counted from `now`, or off.
    pub fn set_keepalive(&mut self, now: Instant, keepalive: Option<crate::tcp::Keepalive>) {
        self.cfg.keepalive = keepalive;
        self.keepalive_sent = 0;
        self.keepalive_at = match keepalive {
            Some(k) if self.state.synchronized() => Some(now + k.idle),
            _ => None,
        };
    }

    /// The next moment `on_timeout` has work, if any.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.ack_now || self.probe_pending || self.pending_rst.is_some() || self.tlp_pending {
            return Some(Instant::ZERO);
        }
        [
            self.rtx_at,
            self.tlp_at,
            self.reo_at,
            self.ack_at,
            self.persist_at,
            self.keepalive_at,
            self.linger_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles every deadline that is due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.linger_at.is_some_and(|t| now >= t) {
            self.linger_at = None;
            match self.state {
                State::TimeWait => self.set_closed(CloseReason::Normal),
                State::FinWait2 => self.set_closed(CloseReason::TimedOut),
                _ => {}
            }
            return;
        }
        // The probe timer before the retransmission timer: a probe due with the RTO
        // takes its place (RFC 8985 7.2, as Linux's single timer does).
        if self.tlp_at.is_some_and(|t| now >= t) {
            self.tlp_at = None;
            self.on_tlp_timeout(now);
        }
        if self.rtx_at.is_some_and(|t| now >= t) {
            self.on_rto(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.reo_at.is_some_and(|t| now >= t) {
            self.reo_at = None;
            self.on_reo_timeout(now);
        }
        if self.ack_at.is_some_and(|t| now >= t) {
            self.ack_at = None;
            self.ack_now = true;
        }
        if self.persist_at.is_some_and(|t| now >= t) {
            if self.snd_wnd == 0 && self.in_flight() == 0 {
                // Linux tcp_probe_timer: nobody will read what a released connection still
                // holds, so a peer that keeps its window shut (answering every probe) may
                // not keep it for ever; it is given up once the probes have backed off to
                // the ceiling and ORPHAN_PROBES have gone.
                if self.orphaned
                    && self.persist_interval() >= MAX_PERSIST
                    && self.persist_backoff >= ORPHAN_PROBES
                {
                    self.set_closed(CloseReason::TimedOut);
                    return;
                }
                self.probe_pending = true;
                self.persist_backoff += 1;
                self.persist_at = Some(now + self.persist_interval());
                self.probes_out += 1;
                if self.probes_out > self.cfg.data_retries {
                    self.set_closed(CloseReason::TimedOut);
                    return;
                }
                self.stats.window_probes += 1;
            } else if self.snd_wnd > 0 && self.in_flight() == 0 {
                // Data held back by sender SWS avoidance: send what the window takes.
                self.persist_at = None;
                self.sws_override = true;
            } else {
                self.persist_at = None;
            }
        }
        if let (Some(t), Some(k)) = (self.keepalive_at, self.cfg.keepalive) {
            if now >= t {
                if self.keepalive_sent >= k.probes {
                    self.set_closed(CloseReason::TimedOut);
                    return;
                }
                self.keepalive_sent += 1;
                self.probe_pending = true;
                self.keepalive_at = Some(now + k.interval);
            }
        }
    }

    /// Asks the peer whether it still has this connection: a keep-alive probe (an ACK one
    /// below SND.UNA) goes out with the next output, which a live peer answers with an
    /// ACK and a peer that forgot the connection with a RST. In every synchronized state
    /// but TIME_WAIT: a connection with data or a FIN out would find out by its own
    /// retransmissions too, but after a burst of them its backed-off timer may be minutes
    /// away. Returns whether a probe was queued.
    /// A peer heard from after `quiet_since` (a segment that moved TS.Recent, RFC 7323
    /// 4.3) is not asked; without timestamps every connection is.
    pub fn probe_liveness(&mut self, quiet_since: Instant) -> bool {
        if self.ts.is_some_and(|ts| ts.recent_at > quiet_since) {
            return false;
        }
        let ask = self.state.synchronized() && self.state != State::TimeWait;
        if ask {
            self.probe_pending = true;
        }
        ask
    }

    /// The gap before the next zero-window probe: the RTO doubled per probe sent, at most
    /// `MAX_PERSIST`.
    fn persist_interval(&self) -> Duration {
        (self.rtt.rto() * (1u32 << self.persist_backoff.min(10))).min(MAX_PERSIST)
    }

    /// RFC 6298 (5.4)-(5.7): retransmit the earliest unacknowledged segment, back off.
    fn on_rto(&mut self, now: Instant) {
        let limit = if self.state.synchronized() {
            self.cfg.data_retries
        } else {
            self.cfg.syn_retries
        };
        if self.retries >= limit {
            self.set_closed(CloseReason::TimedOut);
            return;
        }
        self.retries += 1;
        self.stats.rto_expiries += 1;
        self.rtt.backoff();
        if self.state.synchronized() {
            self.enter_loss(now);
        } else {
            // The SYN (or SYN-ACK) again.
            self.snd_nxt = self.snd_una;
        }
        self.timed = None;
        self.rtx_at = Some(now + self.rtt.rto());
    }
}

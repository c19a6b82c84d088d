//! Connection settings, with Linux's defaults where Linux has one.

use core::time::Duration;

use super::cc::Algorithm;

/// Keep-alive probing (RFC 1122 4.2.3.6): off by default, as on Linux.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (Linux: 2 h).
    pub idle: Duration,
    /// Between probes (Linux: 75 s).
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (Linux: 9).
    pub probes: u32,
}

/// Explicit Congestion Notification (RFC 3168), as Linux's `tcp_ecn` (`--ecn`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Ecn {
    /// Never: SYNs asking for it are answered without it.
    Off,
    /// Ask for it on connections the engine opens, and accept it when asked.
    On,
    /// Accept it when a peer asks, never ask (Linux's default, tcp_ecn=2).
    #[default]
    Server,
}

impl core::str::FromStr for Ecn {
    type Err = String;
    fn from_str(s: &str) -> Result<Ecn, String> {
        match s {
            "off" => Ok(Ecn::Off),
            "on" => Ok(Ecn::On),
            "server" => Ok(Ecn::Server),
            _ => Err(format!(
                "'{s}' is not an ECN mode: use off, on (ask and accept) or server (accept only)"
            )),
        }
    }
}

/// What every connection of a worker is configured with (Linux's defaults unless noted).
#[derive(Copy, Clone, Debug)]
pub struct TcpConfig {
    /// The MSS we announce: MTU minus 40 (1460 on Ethernet).
    pub mss: u16,
    /// Receive buffer per connection, in bytes (the window we can offer).
    pub recv_buffer: usize,
    /// Send buffer per connection, in bytes: what the application may queue at first.
    pub send_buffer: usize,
    /// The most the send buffer grows to (Linux `tcp_wmem[2]`, 4 MB): it follows the
    /// congestion window, two windows' worth (three with BBR, Linux `sndbuf_expand`), so
    /// a sender with a large window keeps new data to send past a hole. Memory still
    /// follows the data: only queued bytes take buffer.
    pub send_buffer_max: usize,
    /// Offer window scaling (RFC 7323); our shift is derived from `window_scale_space`
    /// (see [`TcpConfig::window_shift`]).
    pub window_scaling: bool,
    /// The receive space our window scale is sized for, in bytes: Linux sizes its scale
    /// on the largest buffer a connection could grow to (the larger of `tcp_rmem[2]`,
    /// 32 MiB on 6.x, and `rmem_max`), not on the buffer of the moment, and so do we by
    /// default (scale 10). The window offered is still bounded by `recv_buffer`.
    pub window_scale_space: usize,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Nagle's algorithm (RFC 896): off by default for a responder.
    pub nagle: bool,
    /// Delayed ACK timer (Linux's minimum ATO: 40 ms).
    pub delayed_ack: Duration,
    /// Segments ACKed at once at the start of a connection (quick ACK mode).
    pub quickacks: u32,
    /// The congestion control algorithm.
    pub cc: Algorithm,
    /// The retransmission timeout before any RTT sample (RFC 6298 2.1: 1 s).
    pub initial_rto: Duration,
    /// The floor of the computed retransmission timeout.
    pub min_rto: Duration,
    /// The ceiling of the retransmission timeout, backoff included.
    pub max_rto: Duration,
    /// SYN (and SYN-ACK) retransmissions before giving up (Linux tcp_syn_retries: 6).
    pub syn_retries: u32,
    /// Data retransmissions, or unanswered zero-window probes in a row, before giving up
    /// (Linux tcp_retries2: 15).
    pub data_retries: u32,
    /// TIME_WAIT length, 2 MSL (Linux: 60 s).
    pub time_wait: Duration,
    /// How long FIN_WAIT_2 waits for the peer's FIN once we can send no more (Linux
    /// tcp_fin_timeout: 60 s). Counted from the last segment the peer sent, so a
    /// half-closed peer that keeps sending is never cut off.
    pub fin_wait2_timeout: Duration,
    /// Keep-alive probes on idle connections, if enabled.
    pub keepalive: Option<Keepalive>,
    /// Challenge ACKs per second (RFC 5961 7; Linux tcp_challenge_ack_limit: 1000).
    pub challenge_ack_limit: u32,
    /// ECN negotiation (RFC 3168): Linux's default, accept when asked.
    pub ecn: Ecn,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            recv_buffer: 256 * 1024,
            send_buffer: 256 * 1024,
            send_buffer_max: 4 * 1024 * 1024,
            window_scaling: true,
            window_scale_space: LINUX_RMEM_MAX,
            sack: true,
            timestamps: true,
            nagle: false,
            delayed_ack: Duration::from_millis(40),
            quickacks: 16,
            cc: Algorithm::Cubic,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            syn_retries: 6,
            data_retries: 15,
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: Duration::from_secs(60),
            keepalive: None,
            challenge_ack_limit: 1000,
            ecn: Ecn::Server,
        }
    }
}

impl TcpConfig {
    /// Our window scale (RFC 7323 2.3), as Linux's `tcp_select_initial_window`
    /// (net/ipv4/tcp_output.c) chooses it: `ilog2(space) - 15`, clamped to 0..=14, where
    /// `space` is the larger of `recv_buffer` and `window_scale_space`.
    pub fn window_shift(&self) -> u8 {
        let space = self.recv_buffer.max(self.window_scale_space).max(1);
        (space.ilog2() as i64 - 15).clamp(0, 14) as u8
    }

    /// The window a SYN or SYN-ACK offers (never scaled, RFC 7323 2.2), as Linux's
    /// `tcp_select_initial_window` quantizes it: the largest multiple of the segment size
    /// that fits in the room (`recv_buffer`, at most 65535), where the segment size is our
    /// MSS less the 12 bytes of timestamps when they are in use (`timestamps`). Linux's
    /// room is 64 KiB (`tcp_rmem[1]`, 128 KiB, at its default scaling ratio of one half),
    /// so for any buffer of 64 KiB or more both offer 65160 with timestamps and 64240
    /// without. A SYN of ours knows nothing of the peer's timestamps yet and, as Linux's,
    /// uses the whole MSS.
    pub fn syn_window(&self, timestamps: bool) -> u16 {
        let room = self.recv_buffer.min(u16::MAX as usize);
        let seg = (self.mss as usize).saturating_sub(if timestamps { 12 } else { 0 });
        if seg > 0 && room > seg {
            (room - room % seg) as u16
        } else {
            room as u16
        }
    }
}

/// Linux 6.x's default `tcp_rmem[2]`, 32 MiB: what its window scale is sized for.
pub const LINUX_RMEM_MAX: usize = 32 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a Linux 6.18 host offers in the same setup (MSS 1460, default
    /// buffers): scale 10, SYN-ACK window 65160 with timestamps, 64240 without.
    #[test]
    fn initial_window_and_scale_as_linux_chooses_them() {
        let c = TcpConfig::default();
        assert_eq!(c.window_shift(), 10);
        assert_eq!((c.syn_window(true), c.syn_window(false)), (65160, 64240));
        // A scale sized for the buffer itself (Linux with tcp_rmem[2] = rmem_max = 256 KiB).
        let own = TcpConfig {
            window_scale_space: 0,
            ..c
        };
        assert_eq!(own.window_shift(), 3);
        // Small buffers: the room itself, quantized when above one segment.
        let small = TcpConfig {
            recv_buffer: 4000,
            ..c
        };
        assert_eq!(small.syn_window(true), 2 * 1448);
        let tiny = TcpConfig {
            recv_buffer: 1000,
            window_scale_space: 0,
            ..c
        };
        assert_eq!((tiny.syn_window(true), tiny.window_shift()), (1000, 0));
        let huge = TcpConfig {
            recv_buffer: 1 << 40,
            ..c
        };
        assert_eq!(huge.window_shift(), 14);
    }
}

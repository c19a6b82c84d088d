//! What an engine did, as data: `Running::stop` returns it, `serde_json` writes it, and
//! [`Report::summary`] is one rendering of it for people.

use std::fmt::Write as _;

use serde::ser::Serializer;

use crate::afxdp::GrantedMode;
use crate::stats::{self, Counters};
use crate::worker::WorkerSummary;

use super::config::IpCidr;

/// The whole run: how it was attached, each queue's worker, and what was left at exit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// The interface the engine ran on.
    pub iface: String,
    /// The engine's addresses, IPv4 then IPv6.
    pub addrs: Vec<AddrReport>,
    /// How the steering program was attached.
    pub xdp: XdpReport,
    /// From the start to the end of the stop.
    pub seconds: f64,
    /// Each queue and what its worker reported.
    pub queues: Vec<QueueReport>,
    /// Counters summed over the workers that reported.
    pub total: Counters,
    /// What the engine still held after its workers stopped.
    pub at_exit: AtExit,
}

/// One of the engine's addresses, as the engine held it.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct AddrReport {
    /// The address and prefix, of either family.
    #[serde(flatten)]
    pub cidr: IpCidr,
    /// Owned (the kernel lacks it) or shared with the kernel.
    pub owned: bool,
}

/// How the steering program ran.
#[derive(Clone, Debug, serde::Serialize)]
pub struct XdpReport {
    /// "native" or "generic".
    pub mode: &'static str,
    /// Why native mode was refused, when generic mode was the fallback.
    pub native_refused: Option<String>,
    /// The program's counters at the stop (by rule and by malformation), when readable.
    #[serde(serialize_with = "pairs_opt")]
    pub counters: Option<Vec<(&'static str, u64)>>,
}

/// One queue and its worker.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueueReport {
    /// The queue as started.
    #[serde(flatten)]
    pub info: QueueInfo,
    /// What the worker counted; `None` when it failed.
    pub worker: Option<WorkerSummary>,
    /// Why the worker failed (it panicked).
    pub failure: Option<String>,
}

/// A queue as started: its worker's core and the AF_XDP mode the kernel granted.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueueInfo {
    /// The receive queue.
    pub queue: u32,
    /// The CPU its worker was pinned to, if pinned.
    pub core: Option<usize>,
    /// Zero-copy or copy mode.
    pub afxdp_mode: GrantedMode,
    /// Why zero-copy was not granted, when copy mode was the fallback.
    pub fallback: Option<String>,
}

/// What the engine still held when its workers had stopped (all 0 after a clean stop).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct AtExit {
    /// Connections held by the workers (TIME_WAIT included).
    pub connections: usize,
    /// Entries in the shared socket table.
    pub table_entries: usize,
    /// Entries in the workers' timer wheels.
    pub timer_entries: usize,
}

impl Report {
    /// A worker failed.
    pub fn failed(&self) -> bool {
        self.queues.iter().any(|q| q.failure.is_some())
    }

    /// The summary `fastpath serve` prints at exit, one line per fact.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let mode = match &self.xdp.native_refused {
            Some(why) => format!("{} (native refused: {why})", self.xdp.mode),
            None => self.xdp.mode.to_string(),
        };
        let _ = writeln!(o, "fastpath summary (XDP program in {mode} mode):");
        for q in &self.queues {
            match &q.worker {
                Some(s) => queue_lines(&mut o, &q.info, s),
                None => {
                    let why = q.failure.as_deref().unwrap_or("no report");
                    let _ = writeln!(o, "  queue {}: {why}", q.info.queue);
                }
            }
        }
        let t = &self.total;
        let _ = writeln!(
            o,
            "  total: rx {} frames ({} bytes), tx {} frames ({} bytes); arp replies {}, echo replies {}, resets {}; connections {}, requests {}",
            t.rx_frames, t.rx_bytes, t.tx_frames, t.tx_bytes, t.arp_replies,
            t.icmp_echo_replies, t.tcp_rst_sent, t.conns_accepted, t.http_requests
        );
        let e = &self.at_exit;
        let _ = writeln!(
            o,
            "  at exit: {} connections held, {} socket table entries{}, {} timer wheel entries",
            e.connections,
            e.table_entries,
            if e.table_entries == e.connections {
                ""
            } else {
                " (MISMATCH)"
            },
            e.timer_entries
        );
        if let Some(c) = &self.xdp.counters {
            let parts: Vec<String> = c
                .iter()
                .filter(|(_, v)| *v > 0)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(o, "  XDP program: {}", parts.join(", "));
        }
        o
    }
}

fn queue_lines(o: &mut String, q: &QueueInfo, s: &WorkerSummary) {
    let a = &s.frames;
    let c = &s.counters;
    let _ = writeln!(
        o,
        "  queue {}: AF_XDP {} mode{}, core {}, rx {} tx {} frames; frames free {} kernel-rx {} in-use {} kernel-tx {} of {}{}",
        q.queue,
        q.afxdp_mode,
        q.fallback.as_deref().map(|w| format!(" ({w})")).unwrap_or_default(),
        q.core.map_or("-".into(), |c| c.to_string()),
        c.rx_frames,
        c.tx_frames,
        a.free,
        a.kernel_rx,
        a.in_use,
        a.kernel_tx,
        a.total,
        if a.balanced() { "" } else { " (UNBALANCED)" }
    );
    let _ = writeln!(
        o,
        "    connections {} accepted, {} closed, {} left in TIME_WAIT, {} left in other states, {} refused, {} skipped TIME_WAIT; requests {} (2xx {}, 3xx {}, 4xx {}, 5xx {}); handoffs out {} in {} dropped {}",
        c.conns_accepted,
        c.conns_closed,
        s.time_wait_left,
        s.connections_left,
        c.conns_refused,
        c.conns_tw_overflow,
        c.http_requests,
        c.http_2xx,
        c.http_3xx,
        c.http_4xx,
        c.http_5xx,
        c.handoff_out,
        c.handoff_in,
        c.handoff_dropped
    );
    let _ = writeln!(
        o,
        "    tcp: retransmits {}, window probes {}, given up {}, challenge ACKs {} (rate-limited {}), SYN cookies sent {} accepted {}, half-open peak {}",
        c.tcp_retransmits,
        c.tcp_window_probes,
        c.conns_timed_out,
        c.tcp_challenge_acks,
        c.tcp_challenge_suppressed,
        c.syn_cookies_sent,
        c.syn_cookies_accepted,
        c.half_open_peak
    );
    let _ = writeln!(
        o,
        "    tcp recovery: timeouts {}, tail loss probes {}, spurious retransmits {} (D-SACK), undone {}, duplicates received {}; ECN: CE received {}, reductions {}",
        c.tcp_rto_expiries,
        c.tcp_tail_loss_probes,
        c.tcp_spurious_retransmits,
        c.tcp_undos,
        c.tcp_duplicates_received,
        c.tcp_ce_received,
        c.tcp_ecn_reductions
    );
    let _ = writeln!(
        o,
        "    kernel drops (XDP_STATISTICS): RX ring full {}, no frame or other {}; fill ring found empty {} times; invalid descriptors rx {} tx {}; liveness probes after drops {}",
        c.xsk_rx_ring_full,
        c.xsk_rx_dropped,
        c.xsk_fill_ring_empty,
        c.xsk_rx_invalid,
        c.xsk_tx_invalid,
        c.liveness_probes
    );
    let _ = writeln!(
        o,
        "    RX backlog (frames moved out of a backed-up ring): {} frames, {} copies of queued segments dropped, {} ACKs merged into later ones, peak {} bytes, found full {} times",
        c.rx_backlog_frames, c.rx_backlog_duplicates, c.rx_backlog_acks_merged, c.rx_backlog_peak_bytes, c.rx_backlog_full
    );
    let _ = writeln!(
        o,
        "    http timeouts: header {}, idle {}, send {}; handler panics {}",
        c.http_header_timeouts, c.http_idle_timeouts, c.http_send_timeouts, c.http_handler_panics
    );
    let _ = writeln!(
        o,
        "    loop turns by time (work only): <16us {}, <64us {}, <256us {}, <1ms {}, <4ms {}, <16ms {}, >=16ms {}; the slow ones (>=1ms) held rx {} tx {} frames, timers {}, handoffs {}, Date {}, app {}, publish {}, after a sleep {}; sleeps {} (woke >=1ms late {}); preempted {} times",
        c.loop_lt_16us,
        c.loop_lt_64us,
        c.loop_lt_256us,
        c.loop_lt_1ms,
        c.loop_lt_4ms,
        c.loop_lt_16ms,
        c.loop_ge_16ms,
        c.loop_slow_rx_frames,
        c.loop_slow_tx_frames,
        c.loop_slow_timers,
        c.loop_slow_handoffs,
        c.loop_slow_date,
        c.loop_slow_app,
        c.loop_slow_publish,
        c.loop_slow_after_sleep,
        c.sleeps,
        c.sleeps_late,
        c.preemptions
    );
    if c.loopback_out + c.loopback_in + c.conns_opened > 0 {
        let _ = writeln!(
            o,
            "    loopback segments out {} in {} dropped {}; connections opened {} (next hop unreachable {}), arp requests {}",
            c.loopback_out,
            c.loopback_in,
            c.loopback_dropped,
            c.conns_opened,
            c.conns_unreachable,
            c.arp_requests
        );
    }
    let bad: Vec<String> = s
        .malformed
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(o, "    malformed by reason: {}", bad.join(", "));
    }
}

fn pairs_opt<S: Serializer>(v: &Option<Vec<(&'static str, u64)>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => stats::serialize_pairs(v, s),
        None => s.serialize_none(),
    }
}

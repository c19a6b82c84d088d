//! The run-to-completion loop of one worker: one device (an AF_XDP socket, or an in-memory
//! link in tests; `crate::io`), one core. Each batch goes RX -> parse -> socket lookup ->
//! TCP -> HTTP -> TX before the next is read, then the timers that fell due. Shared with
//! other workers: the socket table (read on every segment, written when a connection
//! starts or ends), the stop flag, handoff queues for segments that reached the wrong
//! worker, loopback inboxes for segments between the engine's own addresses (never on the
//! NIC), and a counters snapshot published now and then (`handoff.rs`). An application
//! (`App`) may run in the loop too: the engine as a client. Transmit is `tx.rs`; the
//! hook for a program's own frame path (bench tools) is `frames.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::afxdp::{FrameAccounting, Xsk};
use crate::app::App;
use crate::host::{Disposition, Host, LoopSegment, Tx};
use crate::iface::{Action, Iface};
use crate::io::Device;
use crate::pcap::PcapWriter;
use crate::stats::{Counters, Published};
use crate::time::{Clock, Instant};

mod backlog;
mod handoff;
mod housekeeping;
mod frames;
mod inspect;
mod rx;
mod turns;
mod tx;
mod v6;

pub use frames::FrameHandler;
pub use handoff::{Handoff, StopSignal};
use housekeeping::{Liveness, SWEEP_TURN};
#[cfg(test)]
pub(crate) use inspect::LIST_CHUNK;
pub use inspect::{inspect_channel, Answer, InspectHandle, Inspector, Query, WorkerGauges};
use turns::Turn;
use tx::{capture, DevTx};
pub use v6::{AddrState, Addrs6};

/// Batches of received frames one turn of the loop takes at most before it transmits.
const RX_BURST_BATCHES: usize = 8;

/// How long timers may wait for a backed-up RX ring to drain before they fire anyway: the
/// minimum retransmission timeout. A ring that takes longer to drain holds, more likely
/// than not, the ACKs those timers wait for; at 200k connections a 10 ms bound still let
/// 840k timeouts fire for 200k responses.
const TIMERS_DEFERRED_MAX: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Frames taken from the RX ring per batch.
    pub batch: usize,
    /// Spin instead of sleeping in poll() when idle.
    pub busy_poll: bool,
    /// Empty polls in a row before sleeping (when not busy polling).
    pub idle_spins: u32,
    /// Longest sleep in poll(), so the stop flag is seen promptly.
    pub idle_sleep: Duration,
    /// How often the counters snapshot is published.
    pub publish_every: Duration,
    /// A program's own frame path in place of the stack (bench tools): every received
    /// frame goes to it, nothing else runs.
    pub frames: Option<Arc<dyn FrameHandler>>,
    /// With `frames`: send its initial frames when the loop starts.
    pub initial_frames: bool,
    /// Bytes of received frames the worker may hold in memory when its RX ring backs up
    /// (`worker/backlog.rs`); 0 leaves a burst in the ring, where the kernel drops what
    /// does not fit.
    pub rx_backlog: usize,
}

/// The default `WorkerConfig::rx_backlog`: about 300,000 small segments (a request, an
/// ACK, a FIN), a few hundred thousand connections' burst.
pub const DEFAULT_RX_BACKLOG: usize = 64 << 20;

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            batch: 64,
            busy_poll: false,
            idle_spins: 256,
            idle_sleep: Duration::from_millis(50),
            publish_every: Duration::from_millis(100),
            frames: None,
            initial_frames: false,
            rx_backlog: DEFAULT_RX_BACKLOG,
        }
    }
}

/// What a worker reports when it stops.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkerSummary {
    /// What the worker counted.
    pub counters: Counters,
    /// Malformed frames by reason, every reason listed.
    #[serde(serialize_with = "crate::stats::serialize_pairs")]
    pub malformed: Vec<(&'static str, u64)>,
    /// Where the worker's frames were when it stopped.
    pub frames: FrameAccounting,
    /// Connections still in TIME_WAIT when the worker stopped.
    pub time_wait_left: usize,
    /// Connections in states other than TIME_WAIT when the worker stopped.
    pub connections_left: usize,
    /// Deadlines left in the worker's timer wheel (one per connection held, at most).
    pub timers_left: usize,
}

/// One worker over its device `D`: an AF_XDP socket in production, an in-memory link in
/// tests (`crate::io`). Generic, so each device gets its own compiled loop.
pub struct Worker<D: Device = Xsk> {
    /// Frames for other workers whose queues were full: retried every loop, in order.
    handoff_backlog: std::collections::VecDeque<(u16, Vec<u8>)>,
    dev: D,
    iface: Iface,
    host: Option<Host>,
    handoff: Option<Handoff>,
    cfg: WorkerConfig,
    published: Arc<Published>,
    pcap: Option<Arc<Mutex<PcapWriter>>>,
    app: Option<Box<dyn App>>,
    /// Loopback segments being moved to inboxes (kept for its allocation).
    loop_out: Vec<LoopSegment>,
    /// Received frames of one batch (kept for its allocation).
    batch: Vec<D::Frame>,
    /// Frames taken out of a backed-up RX ring, in arrival order (`backlog.rs`).
    rx_backlog: backlog::RxBacklog,
    /// Room a frame from the backlog is handled in (kept for its allocation).
    scratch: Vec<u8>,
    /// When a receive last found the RX ring empty (`rx.rs`).
    ring_emptied_at: Instant,
    /// The most connections held since the host last gave back its idle memory.
    conns_peak: u64,
    /// Since when the timers have waited for a backed-up RX ring, if they are waiting.
    timers_deferred_since: Option<Instant>,
    /// What the current turn of the loop did (`turns.rs`).
    turn: Turn,
    /// Kernel drops seen, and the liveness sweeps they start.
    liveness: Liveness,
    /// Operators' questions (`inspect.rs`).
    inspector: Option<Inspector>,
    /// IPv6 duplicate address detection (`v6.rs`).
    v6: Option<v6::V6>,
}

impl<D: Device> Worker<D> {
    pub fn new(dev: D, iface: Iface, cfg: WorkerConfig, published: Arc<Published>) -> Worker<D> {
        Worker {
            handoff_backlog: std::collections::VecDeque::new(),
            dev,
            iface,
            host: None,
            handoff: None,
            published,
            pcap: None,
            app: None,
            loop_out: Vec::new(),
            batch: Vec::with_capacity(cfg.batch),
            // A program's own frame path takes every frame in place: no backlog.
            rx_backlog: backlog::RxBacklog::new(if cfg.frames.is_some() {
                0
            } else {
                cfg.rx_backlog
            }),
            scratch: Vec::new(),
            ring_emptied_at: Instant::ZERO,
            conns_peak: 0,
            timers_deferred_since: None,
            turn: Turn::default(),
            liveness: Liveness::default(),
            inspector: None,
            v6: None,
            cfg,
        }
    }

    /// Run `app` in this worker's loop (the engine as a client; see `crate::app`).
    pub fn with_app(mut self, app: Box<dyn App>) -> Worker<D> {
        self.app = Some(app);
        self
    }

    /// Serve TCP (and HTTP) through `host`; without one, every segment gets a RST.
    pub fn with_host(mut self, host: Host, handoff: Handoff) -> Worker<D> {
        self.host = Some(host);
        self.handoff = Some(handoff);
        self
    }

    /// Record every frame received and sent to a shared pcap writer.
    pub fn with_pcap(mut self, pcap: Arc<Mutex<PcapWriter>>) -> Worker<D> {
        self.pcap = Some(pcap);
        self
    }

    /// Publishes the worker's counters, the host's copied in under the worker's names
    /// (the one place the two sets meet; each set sums itself).
    fn publish(&mut self) {
        if let Some(h) = &self.host {
            let s = h.stats();
            let c = &mut self.iface.counters;
            c.conns_accepted = s.accepted;
            c.conns_closed = s.closed;
            c.conns_refused = s.refused_full;
            c.conns_tw_overflow = s.time_wait_overflow;
            c.http_requests = s.http.requests;
            c.http_2xx = s.http.responses_2xx;
            c.http_3xx = s.http.responses_3xx;
            c.http_4xx = s.http.responses_4xx;
            c.http_5xx = s.http.responses_5xx;
            c.http_header_timeouts = s.http.header_timeouts;
            c.http_idle_timeouts = s.http.idle_timeouts;
            c.http_send_timeouts = s.http.send_timeouts;
            c.http_handler_panics = s.http.handler_panics;
            c.syn_cookies_sent = s.syn_cookies_sent;
            c.syn_cookies_accepted = s.cookie_accepted;
            c.half_open_peak = s.half_open_peak;
            c.tcp_challenge_acks = s.tcp.challenge_acks;
            c.tcp_challenge_suppressed = s.tcp.challenge_acks_suppressed;
            c.tcp_retransmits = s.tcp.retransmits;
            c.tcp_window_probes = s.tcp.window_probes;
            c.tcp_rto_expiries = s.tcp.rto_expiries;
            c.tcp_tail_loss_probes = s.tcp.tail_loss_probes;
            c.tcp_spurious_retransmits = s.tcp.spurious_retransmits;
            c.tcp_undos = s.tcp.undos;
            c.tcp_duplicates_received = s.tcp.duplicate_segments;
            c.tcp_ce_received = s.tcp.ce_received;
            c.tcp_ecn_reductions = s.tcp.ecn_reductions;
            c.conns_timed_out = s.timed_out;
            c.liveness_probes = s.liveness_probes;
            c.loopback_out = s.loopback_out;
            c.loopback_in = s.loopback_in;
            c.conns_opened = s.connects;
            c.conns_unreachable = s.unreachable;
            c.arp_requests = s.arp_requests;
        }
        if let Some(x) = self.dev.xdp_statistics() {
            let c = &mut self.iface.counters;
            c.xsk_rx_dropped = x.rx_dropped;
            c.xsk_rx_ring_full = x.rx_ring_full;
            c.xsk_fill_ring_empty = x.rx_fill_ring_empty_descs;
            c.xsk_rx_invalid = x.rx_invalid_descs;
            c.xsk_tx_invalid = x.tx_invalid_descs;
            c.xsk_tx_ring_empty = x.tx_ring_empty_descs;
        }
        self.published.store(&self.iface.counters);
    }

    /// Runs until `stop` is requested, then stops accepting and lets in-flight responses
    /// finish for up to the request's grace. Returns what it counted.
    pub fn run(mut self, stop: &StopSignal) -> WorkerSummary {
        // Failpoint for the test that a panicking worker still ends in a detach.
        #[cfg(feature = "failpoints")]
        if std::env::var_os("FASTPATH_FAILPOINT_WORKER_PANIC").is_some() {
            panic!("failpoint FASTPATH_FAILPOINT_WORKER_PANIC");
        }
        let clock = Clock::new();
        if let Some(h) = self.cfg.frames.clone().filter(|_| self.cfg.initial_frames) {
            let mut tx = DevTx {
                dev: &mut self.dev,
                pcap: &self.pcap,
                counters: &mut self.iface.counters,
            };
            // A frame of 0 bytes ends the list (and is not sent).
            for i in 0.. {
                let sent = tx.send_range(&mut |buf: &mut [u8]| {
                    let n = h.initial_frame(i, buf);
                    (n > 0).then_some((0, n))
                });
                if sent.is_none() {
                    break;
                }
            }
            self.dev.flush_tx();
        }
        let mut idle = 0u32;
        let mut last_publish = clock.now();
        let mut last_trim = (clock.now(), 0u64);
        let mut stopping: Option<Instant> = None;
        let mut grace = Duration::ZERO;
        let mut slept = Duration::ZERO;
        loop {
            let now = clock.now();
            let took = now.saturating_since(self.turn.start).saturating_sub(slept);
            self.turn.end(took, &mut self.iface.counters);
            self.turn = Turn::begin(now, &self.iface.counters, !slept.is_zero());
            slept = Duration::ZERO;
            if stopping.is_none() && stop.requested() {
                stopping = Some(now);
                grace = stop.grace();
                match &mut self.host {
                    Some(h) => h.stop_accepting(),
                    None => break,
                }
            }
            if let (Some(since), Some(h)) = (stopping, &self.host) {
                if h.busy_connections() == 0 || now - since >= grace {
                    break;
                }
            }
            if self.poll(now) {
                idle = 0;
            } else {
                idle = idle.saturating_add(1);
                if !self.cfg.busy_poll && idle > self.cfg.idle_spins {
                    slept = self.sleep(now, &clock);
                }
            }
            self.dev.refill();
            if now - last_publish >= self.cfg.publish_every {
                self.turn.publish = true;
                self.publish();
                last_publish = now;
                self.note_drops(now);
            }
            if now - last_trim.0 >= Duration::from_secs(1) {
                last_trim = (now, self.trim_memory(last_trim.1));
                self.read_preemptions();
            }
        }
        self.finish()
    }

    /// Once a second and at the end (a read of /proc costs some 20-50 µs): how often the
    /// scheduler took this thread's core away.
    fn read_preemptions(&mut self) {
        if let Some(n) = turns::preemptions() {
            self.iface.counters.preemptions = n;
        }
    }

    /// One turn of the loop at `now`: completions, a batch of received frames, handoffs,
    /// loopback, timers, the app, an operator's question (`inspect.rs`), then transmit. Returns whether anything was done. `run`
    /// calls it with the clock's time; a test may call it with its own.
    pub fn poll(&mut self, now: Instant) -> bool {
        self.iface.set_now(now);
        if let Some(h) = &mut self.host {
            self.turn.date = h.refresh_date_at(now);
        }
        self.dev.complete();
        let rx = self.receive(now);
        let mut worked = rx.worked;
        worked |= self.retry_handoffs();
        let handoffs = self.handoffs(now) | self.loopback_in(now);
        self.turn.handoffs = handoffs;
        worked |= handoffs;
        worked |= self.v6_turn(now);
        // Retransmission timers wait while received frames are still queued: the ACKs
        // that would cancel them may be among those frames. With the backlog, a deadline
        // fires once every frame received before it has been handled (the backlog's
        // oldest frame is younger than the deadline); frames left in the ring have no
        // arrival time, so timers wait for them at most TIMERS_DEFERRED_MAX. The loop does
        // not sleep meanwhile (it has work), so nothing else waits on this. Firing first
        // turned a backed-up ring into a storm of spurious retransmissions (each one more
        // frame for the peer to answer, the ring backing up further).
        if let Some(oldest) = self.rx_backlog.oldest() {
            self.timers_deferred_since = None;
            self.turn.timers = self.timers(now, oldest);
        } else {
            match (rx.backed_up, self.timers_deferred_since) {
                (true, None) => self.timers_deferred_since = Some(now),
                (true, Some(since)) if now - since < TIMERS_DEFERRED_MAX => {}
                _ => {
                    self.timers_deferred_since = None;
                    self.turn.timers = self.timers(now, now);
                }
            }
        }
        self.liveness_sweep(now);
        self.turn.app = self.run_app(now);
        worked |= self.turn.app;
        self.answer_inspect(now);
        self.loopback_send();
        self.dev.flush_tx();
        self.turn.worked = worked;
        worked
    }

    /// The earliest deadline of the host's timers and the app, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        let host = self.host.as_ref().and_then(|h| h.next_deadline());
        let app = self.app.as_ref().and_then(|a| a.poll_at());
        [host, app, self.v6_deadline()].into_iter().flatten().min()
    }

    /// Sleeps in the device until a frame arrives, something is queued for this worker,
    /// or the next deadline (at most `idle_sleep`). Returns how long it slept, by `clock`.
    fn sleep(&mut self, now: Instant, clock: &Clock) -> Duration {
        let mut sleep = self.cfg.idle_sleep;
        if let Some(at) = self.next_deadline() {
            sleep = sleep.min(at.saturating_since(now));
        }
        if !self.handoff_backlog.is_empty() || self.host.as_ref().is_some_and(|h| h.has_events()) {
            sleep = Duration::ZERO;
        }
        if self.host.as_ref().is_some_and(|h| h.sweeping()) || self.liveness.pending() {
            sleep = sleep.min(SWEEP_TURN);
        }
        // poll() sleeps in whole milliseconds: a deadline closer than that (a load
        // generator's next scheduled request) is met by spinning, not by oversleeping it.
        if sleep < Duration::from_millis(1) {
            return Duration::ZERO;
        }
        let ms = sleep.as_millis() as i32;
        let before = clock.now();
        match &self.handoff {
            Some(h) => {
                let waker = h.wakers[h.me].clone();
                let (inbox, loop_inbox) = (&h.inbox, &h.loop_inbox);
                let ready = || !inbox.is_empty() || !loop_inbox.is_empty();
                let _ = self.dev.wait(Some((&waker, &ready)), ms);
            }
            None => {
                let _ = self.dev.wait(None, ms);
            }
        }
        let slept = clock.now().saturating_since(before);
        let asked = Duration::from_millis(ms as u64);
        turns::record_sleep(asked, slept, &mut self.iface.counters);
        slept
    }

    /// The device (tests look at its frames and link).
    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// What the worker counted so far, the host's counts included.
    pub fn counters(&mut self) -> Counters {
        self.publish();
        self.iface.counters
    }

    /// The TCP host, if serving.
    pub fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    /// Is anything queued for this worker in memory (handoffs, loopback segments, or its
    /// own handoffs waiting for room)?
    pub fn has_queued(&self) -> bool {
        !self.handoff_backlog.is_empty()
            || self
                .handoff
                .as_ref()
                .is_some_and(|h| !h.inbox.is_empty() || !h.loop_inbox.is_empty())
    }

    /// The TCP host, to call into between turns of the loop (tests).
    pub fn host_mut(&mut self) -> Option<&mut Host> {
        self.host.as_mut()
    }

    /// Runs the host's timers due by `until` (at most `now`: see `poll`), at `now`;
    /// returns whether any were due.
    fn timers(&mut self, now: Instant, until: Instant) -> bool {
        self.through_host(|h, tx| {
            let due = h.next_deadline().is_some_and(|t| t <= until);
            if due {
                h.poll_timers_until(now, until, tx);
            }
            due
        })
        .unwrap_or(false)
    }

    fn neighbor(&mut self, now: Instant, arp: &crate::wire::arp::ArpRepr) {
        self.through_host(|h, tx| h.on_arp(now, arp, tx));
    }

    /// Loopback segments other workers (or this one) sent to our connections.
    fn loopback_in(&mut self, now: Instant) -> bool {
        let Worker {
            dev,
            iface,
            host,
            pcap,
            handoff,
            cfg,
            ..
        } = self;
        let (Some(h), Some(hand)) = (host, handoff) else {
            return false;
        };
        if hand.loop_inbox.is_empty() {
            return false;
        }
        let mut any = false;
        let mut tx = DevTx {
            dev,
            pcap,
            counters: &mut iface.counters,
        };
        for _ in 0..cfg.batch {
            let Ok(seg) = hand.loop_inbox.try_recv() else {
                break;
            };
            any = true;
            h.on_loopback(now, seg, &mut tx);
        }
        any
    }

    /// Moves the host's loopback segments into their workers' inboxes. A full inbox drops
    /// the segment, as a congested link would (TCP sends it again): never a wait.
    fn loopback_send(&mut self) {
        let (Some(h), Some(hand)) = (&mut self.host, &self.handoff) else {
            return;
        };
        std::mem::swap(h.loopback_out(), &mut self.loop_out);
        let mut woken = 0u64;
        for seg in self.loop_out.drain(..) {
            let to = seg.to as usize;
            let Some(peer) = hand.loop_peers.get(to) else {
                self.iface.counters.loopback_dropped += 1;
                continue;
            };
            match peer.try_send(seg) {
                Ok(()) => {
                    if to != hand.me && woken & (1 << (to % 64)) == 0 {
                        woken |= 1 << (to % 64);
                    }
                }
                Err(_) => self.iface.counters.loopback_dropped += 1,
            }
        }
        for (w, waker) in hand.wakers.iter().enumerate() {
            if w != hand.me && woken & (1 << (w % 64)) != 0 {
                waker.wake();
            }
        }
    }

    fn run_app(&mut self, now: Instant) -> bool {
        if self.v6_pending() {
            return false;
        }
        let Worker {
            dev,
            iface,
            host,
            pcap,
            app,
            ..
        } = self;
        let (Some(h), Some(a)) = (host, app) else {
            return false;
        };
        let had = h.has_events();
        let mut tx = DevTx {
            dev,
            pcap,
            counters: &mut iface.counters,
        };
        crate::app::run(h, now, a.as_mut(), &mut tx);
        had
    }

    fn send_copy(&mut self, frame: &[u8]) {
        let mut tx = DevTx {
            dev: &mut self.dev,
            pcap: &self.pcap,
            counters: &mut self.iface.counters,
        };
        tx.send(&mut |buf: &mut [u8]| {
            buf[..frame.len()].copy_from_slice(frame);
            frame.len()
        });
    }

    /// An IPv4 TCP segment carrying `payload`.
    fn segment(&mut self, now: Instant, t: &crate::iface::TcpIn, payload: &[u8]) -> Disposition {
        self.through_host(|h, tx| h.on_segment(now, &t.meta, &t.repr, payload, tx))
            .unwrap_or(Disposition::Reset)
    }

    fn frame(&mut self, mut f: D::Frame, now: Instant) {
        let len = D::len(&f);
        self.iface.counters.rx_frames += 1;
        self.iface.counters.rx_bytes += len as u64;
        if let Some(h) = &self.cfg.frames {
            if h.on_frame(self.dev.data_mut(&mut f)) {
                let mut tx = DevTx {
                    dev: &mut self.dev,
                    pcap: &self.pcap,
                    counters: &mut self.iface.counters,
                };
                tx.push(f);
            } else {
                self.dev.release(f);
            }
            return;
        }
        capture(&self.pcap, self.dev.data(&f));
        let action = self.iface.handle(self.dev.buf_mut(&mut f), len);
        let action = match action {
            Action::Tcp(t) => {
                // The payload is read where it lies in the frame, no copy first.
                let reply =
                    self.through_host_reading(&mut f, t.payload.0..t.payload.1, |h, p, tx| {
                        h.on_segment(now, &t.meta, &t.repr, p, tx)
                    });
                match reply.unwrap_or(Disposition::Reset) {
                    Disposition::Done | Disposition::Dropped => Action::Drop,
                    Disposition::Reset => self.iface.reset(self.dev.buf_mut(&mut f), &t),
                    Disposition::Forward(w) => {
                        self.forward(w, &f);
                        Action::Drop
                    }
                }
            }
            Action::Neighbor(arp) => {
                self.neighbor(now, &arp);
                let bytes = self.dev.data(&f).to_vec();
                self.tell_peers(&bytes);
                Action::Drop
            }
            Action::PathMtu { tuple, seq, mtu } => {
                self.path_mtu(now, tuple.into(), seq, mtu);
                Action::Drop
            }
            a @ (Action::Tcp6(_) | Action::PathMtu6 { .. } | Action::Neighbor6 { .. }) => {
                self.v6_frame(now, a, &mut f)
            }
            Action::DadConflict(addr) => {
                self.dad_conflict(addr);
                Action::Drop
            }
            a => a,
        };
        match action {
            Action::Transmit(n) => {
                self.dev.set_len(&mut f, n);
                let mut tx = DevTx {
                    dev: &mut self.dev,
                    pcap: &self.pcap,
                    counters: &mut self.iface.counters,
                };
                tx.push(f);
            }
            _ => self.dev.release(f),
        }
    }

    /// Settles the frames in flight and reports what the worker counted.
    pub fn finish(mut self) -> WorkerSummary {
        // Let frames in flight complete, briefly, so the accounting is settled.
        for _ in 0..100 {
            self.dev.flush_tx();
            self.dev.complete();
            if self.dev.accounting().kernel_tx == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.read_preemptions();
        self.publish();
        if let Some(p) = &self.pcap {
            if let Ok(mut w) = p.lock() {
                let _ = w.flush();
            }
        }
        WorkerSummary {
            counters: self.iface.counters,
            malformed: crate::wire::WireError::ALL
                .iter()
                .map(|e| (e.as_str(), self.iface.malformed[e.index()]))
                .collect(),
            frames: self.dev.accounting(),
            time_wait_left: self.host.as_ref().map_or(0, |h| h.held().0),
            connections_left: self.host.as_ref().map_or(0, |h| h.held().1),
            timers_left: self.host.as_ref().map_or(0, |h| h.timer_entries()),
        }
    }
}

#[cfg(test)]
mod loop_tests;
#[cfg(test)]
mod v6_tests;
#[cfg(test)]
mod tcp6_tests;

//! A worker's TCP host, sans-IO: its listeners, the connections it owns (a slab), their
//! HTTP sessions or the application's interest (connections it opened or accepted), a timer
//! wheel holding each connection's next deadline. A parsed segment goes in with the time;
//! frames to transmit come out through `Tx`; the shared `SocketTable` says which worker
//! owns a 4-tuple.
//!
//! Where a connection's segments go depends on its peer: to the NIC behind an Ethernet
//! header (the peer's MAC learnt from its SYN, or resolved by ARP for connections we
//! open), or, when the peer is one of the engine's own addresses or 127.0.0.0/8, into
//! `loopback_out` as bare segments for the owning worker's in-memory inbox (no Ethernet,
//! no IP header, no checksum: the loopback fast path).
//!
//! Nothing here scans all connections: a segment finds its connection through the table,
//! a deadline through the wheel.
//!
//! Files: this one holds the host's state, `service` (one connection's output, timers
//! and close) and the timers; `slab.rs` the connection slab; `server.rs` segments from
//! the wire; `client.rs` the application's connections (opened or accepted) and ARP;
//! `sockets.rs` the application's listeners; `loopback.rs` the in-memory path; `frame.rs`
//! frame building and the `Tx` trait; `v6.rs` neighbour discovery for connections it
//! opens to IPv6 peers.
//!
//! Both families share every path: a connection holds a `tcp::Tuple`, and only the socket
//! table, the frame's IP header and next-hop resolution (ARP or NDP) look at the family.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

pub use self::events::{Closed, ConnId, ConnectError, Event, ListenError};
use crate::http::{DateCache, HttpConfig, HttpStats, Session, Site, Verdict};
use crate::neighbor::ndp::{Ndp, NdpConfig};
use crate::neighbor::{Arp, ArpConfig, ArpEvent, Resolve};
use crate::table::{Owner, SocketTable};
use crate::tcp::isn::IsnGenerator;
use crate::tcp::{
    CloseReason, Conn, ConnStats, FourTuple, Listener, Secrets, State, SynVerdict, TcpConfig, Tuple,
};
use crate::time::Instant;
use crate::timer::TimerWheel;
use crate::wire::arp::ArpRepr;
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::tcp::{Flags, TcpRepr};

mod client;
pub(crate) use client::CloseHow;
pub(crate) mod events;
mod frame;
mod inspect;
mod latency;
mod loopback;
mod server;
mod slab;
mod sockets;
mod v6;

use frame::{send_nic, send_segment};
pub use frame::{BuildRange, Tx, FRAME_ROOM};
pub use inspect::{ConnEntry, HostGauges};
pub use latency::{LatencyHistogram, BOUNDS_US as LATENCY_BOUNDS_US};
use loopback::is_loopback;
pub use loopback::{flow_worker, LoopSegment};

/// What one worker's host is configured with.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Every connection's TCP settings.
    pub tcp: TcpConfig,
    /// Every session's HTTP settings.
    pub http: HttpConfig,
    /// Connections this worker holds at most, TIME_WAIT not counted; SYNs beyond get a RST.
    pub max_conns: usize,
    /// TIME_WAIT entries this worker keeps at most (Linux tcp_max_tw_buckets); a
    /// connection closing beyond it skips TIME_WAIT, as Linux does on overflow.
    pub max_time_wait: usize,
    /// Half-open connections per listener before SYN cookies.
    pub backlog: usize,
    /// The engine's addresses with their prefix lengths: on-link subnets for ARP, sources
    /// for connections it opens, and (with 127.0.0.0/8) the destinations it delivers in
    /// memory. Empty: the listening addresses, as /32.
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// Next hop for destinations outside `addrs`' subnets.
    pub gateway: Option<Ipv4Addr>,
    /// The engine's IPv6 addresses with their prefix lengths, as `addrs` for IPv4 (with
    /// `::1` delivered in memory). Empty: the listening IPv6 addresses, as /128.
    pub addrs6: Vec<(Ipv6Addr, u8)>,
    /// Default router for IPv6 destinations off `addrs6`' prefixes.
    pub gateway6: Option<Ipv6Addr>,
    /// Local ports for connections the engine opens (inclusive; steered to the engine).
    pub local_ports: (u16, u16),
    /// Workers sharing the socket table (loopback segments for a 4-tuple nobody holds yet
    /// go to worker `flow_worker(tuple)`, where its listener is).
    pub workers: u16,
    /// The ports an application may `listen` on (those the steering program sends to the
    /// engine); `None`: any port (in memory, where nothing is steered).
    pub app_ports: Option<Vec<u16>>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            tcp: TcpConfig::default(),
            http: HttpConfig::default(),
            max_conns: 16_384,
            max_time_wait: 262_144,
            backlog: 1024,
            addrs: Vec::new(),
            gateway: None,
            addrs6: Vec::new(),
            gateway6: None,
            local_ports: (61000, 64999),
            workers: 1,
            app_ports: None,
        }
    }
}

pub use crate::iface::{Meta, Meta6};

/// What became of a segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Handled here.
    Done,
    /// Matches no connection and no listener: answer with a RST (RFC 9293 3.10.7.1).
    Reset,
    /// Another worker owns this connection: hand the frame to it.
    Forward(u16),
    /// Dropped on purpose (counted).
    Dropped,
}

crate::stats::counter_set! {
    /// What a worker's host counted: its own counts, then its connections' and sessions'
    /// counters summed in.
    pub struct HostStats {
        /// Connections accepted (handshake completed).
        accepted,
        /// Of those, made from a SYN cookie.
        cookie_accepted,
        /// Connections closed and freed.
        closed,
        /// RSTs sent for segments no connection took.
        resets_sent,
        /// SYNs refused because `max_conns` was reached.
        refused_full,
        /// Segments to a listening port with none of SYN, ACK or RST, dropped unanswered
        /// (RFC 9293 3.10.7.2; Linux drops them too).
        listen_dropped,
        /// Connections that skipped TIME_WAIT because `max_time_wait` was reached.
        time_wait_overflow,
        /// Segments not sent because no TX frame was free.
        tx_full,
        /// Connections opened by the application (`connect`).
        connects,
        /// Connects that failed because the next hop never answered ARP.
        unreachable,
        /// ARP requests (and IPv6 neighbour solicitations) sent for next hops.
        arp_requests,
        /// SYN-ACKs carrying a cookie (the backlog was full), over all listeners.
        syn_cookies_sent,
        /// The most half-open connections one listener held at once (never above `backlog`).
        half_open_peak,
        /// Connections that ended because retransmissions (or keep-alive, or FIN_WAIT_2) ran
        /// out of time.
        timed_out,
        /// Keep-alive probes a liveness sweep sent (after kernel drops, `slab.rs`).
        liveness_probes,
        /// Segments put into another worker's (or our own) loopback inbox.
        loopback_out,
        /// Loopback segments received.
        loopback_in,
        ;
        /// The connections' TCP counters, summed.
        tcp: ConnStats,
        /// The HTTP sessions' counters, summed.
        http: HttpStats,
    }
}

struct Entry {
    conn: Conn,
    role: Role,
    path: Path,
    /// Counted in `Host::time_wait`.
    in_time_wait: bool,
    /// The connection's counters already added to the host's.
    tcp_counted: crate::tcp::ConnStats,
    /// The IPv4 identification of its last segment (see `ip_ident`; IPv6 has none).
    ip_id: u16,
    /// The IPv6 flow label of its segments (`Secrets::flow_label`; 0 for IPv4).
    flow: u32,
}

/// The IPv4 identification of a segment, as Linux 6.x chooses it: 0 in a SYN-ACK (Linux
/// answers from the listener's request socket, which has no counter, and DF is set), else
/// the connection's own counter, one up per segment, from a random start
/// (`ip_select_ident_segs`, include/net/ip.h).
fn ip_ident(r: &TcpRepr, counter: &mut u16) -> u16 {
    if r.flags.contains(Flags::SYN | Flags::ACK) {
        return 0;
    }
    *counter = counter.wrapping_add(1);
    *counter
}

enum Role {
    /// Accepted by a listener: the HTTP responder drives it.
    Server(Box<ServerSide>),
    /// The application's: opened by it (`connect`) or accepted by one of its listeners.
    Client(ClientSide),
}

/// Who a listener's connections belong to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Serves {
    /// The HTTP responder.
    Http,
    /// The application (`Event::Accepted`).
    App,
    /// Nobody any more (the application stopped listening; the slot is reused).
    Closed,
}

struct ServerSide {
    session: Session,
    listener: usize,
    half_open: bool,
    /// The session's counters already added to the host's.
    counted: HttpStats,
    /// When the oldest request whose response is not yet all handed to TCP was parsed,
    /// and how many such requests there are (pipelined ones share the oldest's start).
    waiting: Option<(Instant, u64)>,
}

#[derive(Default)]
struct ClientSide {
    connected: bool,
    /// Readable bytes when `Readable` was last raised (raise again only for more).
    notified: usize,
    /// A send did not take everything: raise `Writable` when room comes back.
    blocked: bool,
    peer_closed: bool,
    /// Listed in `Host::dirty` (no linear search to avoid listing it twice).
    dirty: bool,
    /// Accepted by this listener (passive open): `Accepted` rather than `Connected`.
    passive: Option<usize>,
    /// Still counted in its listener's half-open connections.
    half_open: bool,
    /// The application closed it both ways: what still arrives is dropped unread.
    released: bool,
    /// `Event::Closed` was raised.
    told_closed: bool,
}

impl Role {
    /// The application's side, if the application knows the connection.
    /// Not once its end was told.
    fn as_announced_mut(&mut self) -> Option<&mut ClientSide> {
        match self {
            Role::Client(c) if (c.passive.is_none() || c.connected) && !c.told_closed => Some(c),
            _ => None,
        }
    }
}

/// Where a connection's segments go.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Path {
    /// To the NIC, to this MAC (and VLAN).
    Nic { mac: MacAddr, vlan: Option<u16> },
    /// Waiting for ARP (or NDP): nothing is sent until the next hop resolves.
    Resolving,
    /// To another worker's (or our own) inbox in memory.
    Loopback,
}

/// Events raised in one call are delivered in the next dispatch, at most this many per
/// loop iteration (the rest wait).
pub(crate) const EVENT_BUDGET: usize = 4096;

/// One worker's TCP host: its listeners, connections, their HTTP sessions or applications,
/// the timer wheel that wakes them, and the ARP resolver for connections it opens.
pub struct Host {
    worker: u16,
    mac: MacAddr,
    cfg: HostConfig,
    listeners: Vec<Listener>,
    /// Per listener: who its connections belong to.
    serves: Vec<Serves>,
    accepting: bool,
    /// Boxed: a free slot costs 8 bytes, growing the slab moves pointers rather than
    /// connections, and a closed connection's memory goes back to the allocator.
    slab: Vec<Option<Box<Entry>>>,
    /// Closed connections' records kept for the next ones (at most `SPARE_ENTRIES`): a
    /// connection per request would otherwise allocate and free the record, its server
    /// side and its session's buffers for every request (7-10% of the core in the
    /// profile). Emptied with the slab (`release_idle_memory`). Boxed: the box itself is
    /// what the next connection reuses.
    #[allow(clippy::vec_box)]
    spare_entries: Vec<Box<Entry>>,
    /// Per slot: bumped when the slot is freed, so a stale `ConnId` is recognised.
    generations: Vec<u32>,
    free: Vec<u32>,
    /// The next slot a liveness sweep probes, while one runs (`slab.rs`).
    sweep: Option<usize>,
    /// A running sweep skips connections heard from after this (`slab.rs`).
    sweep_quiet_since: Instant,
    live: usize,
    /// Of `live`, in TIME_WAIT.
    time_wait: usize,
    timers: TimerWheel,
    fired: Vec<usize>,
    table: Arc<SocketTable>,
    site: Arc<Site>,
    date: DateCache,
    scratch: Vec<u8>,
    stats: HostStats,
    /// Request latency (`latency.rs`).
    latency: LatencyHistogram,
    secrets: Secrets,
    /// ISNs of the connections the application opens (a key of their own).
    isn: IsnGenerator,
    arp: Arp<ConnId>,
    /// Neighbour discovery for IPv6 connections it opens.
    ndp: Ndp<ConnId>,
    events: VecDeque<(ConnId, Event)>,
    /// Client connections the application touched since the last flush.
    dirty: Vec<usize>,
    loopback_out: Vec<LoopSegment>,
    /// Payload buffers of loopback segments, reused.
    spare: Vec<Vec<u8>>,
    port_cursor: u32,
    /// The application's `start` ran (`crate::app::run`).
    pub(crate) app_started: bool,
}

impl Host {
    /// A host for worker `worker` with our link address `mac`.
    pub fn new(
        worker: u16,
        mac: MacAddr,
        cfg: HostConfig,
        listen: &[SocketAddr],
        site: Arc<Site>,
        table: Arc<SocketTable>,
        secrets: Secrets,
    ) -> Host {
        let listeners: Vec<Listener> = listen
            .iter()
            .map(|&a| Listener::new(a, cfg.tcp, cfg.backlog, &secrets))
            .collect();
        let serves = vec![Serves::Http; listeners.len()];
        let mut cfg = cfg;
        // A queue of this worker's own for the access log: no contention between workers.
        cfg.http.access_log = cfg.http.access_log.as_ref().map(|l| l.for_worker());
        if cfg.addrs.is_empty() {
            cfg.addrs = listen
                .iter()
                .filter_map(|a| match a {
                    SocketAddr::V4(a) => Some((*a.ip(), 32)),
                    SocketAddr::V6(_) => None,
                })
                .collect();
            cfg.addrs.dedup();
        }
        if cfg.addrs6.is_empty() {
            cfg.addrs6 = listen
                .iter()
                .filter_map(|a| match a {
                    SocketAddr::V6(a) => Some((*a.ip(), 128)),
                    SocketAddr::V4(_) => None,
                })
                .collect();
            cfg.addrs6.dedup();
        }
        let mut arp_cfg = ArpConfig::new(mac, cfg.addrs.clone(), cfg.gateway);
        // Held per destination are connection ids, not frames: one per connect.
        arp_cfg.pending_per_dest = 65_536;
        arp_cfg.pending_total = 65_536;
        Host {
            worker,
            mac,
            listeners,
            serves,
            accepting: true,
            slab: Vec::new(),
            spare_entries: Vec::new(),
            sweep: None,
            sweep_quiet_since: Instant::ZERO,
            generations: Vec::new(),
            free: Vec::new(),
            live: 0,
            time_wait: 0,
            timers: TimerWheel::new(),
            fired: Vec::new(),
            table,
            site,
            date: DateCache::default(),
            scratch: vec![0; 65536],
            stats: HostStats::default(),
            latency: LatencyHistogram::default(),
            isn: IsnGenerator::new(secrets.client_isn()),
            arp: Arp::new(arp_cfg),
            ndp: Ndp::new(NdpConfig::new(cfg.addrs6.clone(), cfg.gateway6)),
            events: VecDeque::new(),
            dirty: Vec::new(),
            loopback_out: Vec::new(),
            spare: Vec::new(),
            // A different start at every run (the secrets are fresh): a port used by the
            // previous run may still be in TIME_WAIT at the peer, which would cost the
            // first SYN a retransmission.
            port_cursor: secrets
                .port_start()
                .wrapping_add(u32::from(worker).wrapping_mul(7919)),
            app_started: false,
            secrets,
            cfg,
        }
    }

    /// The worker this host belongs to.
    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// Connections held (TIME_WAIT included).
    pub fn connections(&self) -> usize {
        self.live
    }

    /// What the host counted so far, the live connections' counters included.
    pub fn stats(&self) -> HostStats {
        let mut s = self.stats;
        s.syn_cookies_sent = self.listeners.iter().map(|l| l.stats.cookies_sent).sum();
        s
    }

    /// Renders the `Date` header if a new second began, given the worker's monotonic
    /// time: the wall clock is read once a second, not once per batch. Returns whether it
    /// read the clock.
    pub fn refresh_date_at(&mut self, now: Instant) -> bool {
        self.date.refresh_at(now)
    }

    /// Renders the `Date` header if a new second began, reading the wall clock each call.
    pub fn refresh_date(&mut self) {
        self.date.refresh();
    }

    /// Fixes the `Date` header (tests).
    pub fn set_date(&mut self, unix_secs: u64) {
        self.date.set(unix_secs);
    }

    /// The earliest moment `poll_timers` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.timers.next_deadline(),
            self.arp.poll_at(),
            self.ndp.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Events wait for the application (call `run_app`).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Stops accepting: new SYNs get a RST; existing connections finish.
    pub fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    /// ICMP "fragmentation needed" or ICMPv6 "packet too big" for one of our connections
    /// (see `Iface`).
    pub fn on_path_mtu(
        &mut self,
        now: Instant,
        tuple: impl Into<Tuple>,
        seq: crate::tcp::SeqNum,
        mtu: u16,
        tx: &mut dyn Tx,
    ) {
        let tuple = tuple.into();
        let Some(owner) = self.table.get_tuple_as(self.worker as usize, &tuple) else {
            return;
        };
        if owner.worker != self.worker {
            return;
        }
        let slot = owner.slot as usize;
        if let Some(e) = self.slab.get_mut(slot).and_then(Option::as_mut) {
            if e.conn.on_path_mtu(seq, mtu) {
                self.service(slot, now, tx);
            }
        }
    }

    /// Connections held, as (in TIME_WAIT, in any other state): what is left at exit.
    pub fn held(&self) -> (usize, usize) {
        let tw = self
            .slab
            .iter()
            .flatten()
            .filter(|e| e.conn.state() == State::TimeWait)
            .count();
        (tw, self.live - tw)
    }

    /// Deadlines filed in the timer wheel (at most one per connection held).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Connections still doing work (not idle keep-alive, not TIME_WAIT).
    pub fn busy_connections(&self) -> usize {
        self.slab
            .iter()
            .flatten()
            .filter(|e| {
                let pending = match &e.role {
                    Role::Server(s) => s.session.pending(),
                    Role::Client(_) => 0,
                };
                pending > 0 || e.conn.unacked() > 0
            })
            .count()
    }

    /// After anything happened to a connection: let HTTP (or the application) read and
    /// write, send what TCP has, and file its next deadline (or remove it once closed).
    fn service(&mut self, slot: usize, now: Instant, tx: &mut dyn Tx) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut tx_full = 0;
        let mac = self.mac;
        let Some(e) = self.slab[slot].as_mut() else {
            self.scratch = scratch;
            return;
        };
        let id = ConnId {
            slot: slot as u32,
            generation: self.generations[slot],
        };
        match &mut e.role {
            Role::Server(srv) => {
                if srv.half_open && e.conn.state() != State::SynReceived {
                    srv.half_open = false;
                    self.listeners[srv.listener].half_open_done();
                }
                if e.conn.state().synchronized() && e.conn.state() != State::SynReceived {
                    let v = srv.session.drive(
                        now,
                        &mut e.conn,
                        &self.site,
                        &self.cfg.http,
                        self.date.as_bytes(),
                    );
                    if v == Verdict::Abort {
                        e.conn.abort();
                    }
                }
                let s = srv.session.stats;
                let c_requests = srv.counted.requests;
                self.stats.http.add(&s.since(&srv.counted));
                srv.counted = s;
                if s.requests > c_requests {
                    srv.waiting.get_or_insert((now, 0)).1 += s.requests - c_requests;
                }
                if srv.session.pending() == 0 {
                    if let Some((since, n)) = srv.waiting.take() {
                        self.latency.record_n(now.saturating_since(since), n);
                    }
                }
            }
            Role::Client(c) => {
                let st = e.conn.state();
                if c.half_open && st != State::SynReceived {
                    c.half_open = false;
                    if let Some(li) = c.passive {
                        self.listeners[li].half_open_done();
                    }
                }
                if !c.connected && st.synchronized() && st != State::SynReceived {
                    c.connected = true;
                    let ev = match c.passive {
                        None => Event::Connected,
                        Some(_) => {
                            let t = e.conn.tuple();
                            Event::Accepted {
                                local: t.local(),
                                remote: t.remote(),
                            }
                        }
                    };
                    self.events.push_back((id, ev));
                }
                if c.released {
                    // Nobody will read: what arrives after close is dropped.
                    let n = e.conn.readable();
                    e.conn.recv_consume(n);
                }
                let readable = e.conn.readable();
                if readable > c.notified {
                    self.events.push_back((id, Event::Readable));
                }
                c.notified = readable;
                if c.blocked && e.conn.send_capacity() > 0 {
                    c.blocked = false;
                    self.events.push_back((id, Event::Writable));
                }
                if !c.peer_closed && readable == 0 && e.conn.peer_closed() {
                    c.peer_closed = true;
                    self.events.push_back((id, Event::PeerClosed));
                }
            }
        }
        let tuple = e.conn.tuple();
        match e.path {
            Path::Nic {
                mac: peer_mac,
                vlan,
            } => {
                let link = crate::frame::Link {
                    src: mac,
                    dst: peer_mac,
                    vlan,
                };
                let (conn, ids) = (&mut e.conn, (&mut e.ip_id, e.flow));
                tx_full += send_nic(tx, &link, &tuple, now, conn, ids);
            }
            Path::Loopback => {
                let (src, dst) = (tuple.local(), tuple.remote());
                let to = match self
                    .table
                    .get_tuple_as(self.worker as usize, &tuple.reversed())
                {
                    Some(o) => o.worker,
                    None => flow_worker(dst, src, self.cfg.workers),
                };
                while let Some((r, n)) = e.conn.poll_transmit(now, &mut scratch) {
                    let mut payload = self.spare.pop().unwrap_or_default();
                    payload.clear();
                    payload.extend_from_slice(&scratch[..n]);
                    self.loopback_out.push(LoopSegment {
                        to,
                        src,
                        dst,
                        repr: r,
                        payload,
                    });
                    self.stats.loopback_out += 1;
                }
            }
            Path::Resolving => {}
        }
        let now_c = e.conn.stats;
        self.stats.tcp.add(&now_c.since(&e.tcp_counted));
        e.tcp_counted = now_c;
        if !e.in_time_wait && e.conn.state() == State::TimeWait {
            if self.time_wait >= self.cfg.max_time_wait {
                // Linux on tw bucket overflow: the connection ends without TIME_WAIT.
                e.conn.forget();
                self.stats.time_wait_overflow += 1;
            } else {
                e.in_time_wait = true;
                self.time_wait += 1;
            }
        }
        let closed = e.conn.is_closed();
        let deadline = match &e.role {
            Role::Server(srv) => match (e.conn.poll_at(), srv.session.deadline(&self.cfg.http)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Role::Client(_) if e.path == Path::Resolving => None,
            Role::Client(_) => e.conn.poll_at(),
        };
        if closed && e.conn.close_reason() == Some(CloseReason::TimedOut) {
            self.stats.timed_out += 1;
        }
        // The application hears of the end once: when the connection is gone, or when it
        // enters TIME_WAIT (the 4-tuple stays held, but the application is done with it).
        let ended = closed || e.conn.state() == State::TimeWait;
        if ended {
            // A connection accepted for the application that died before its handshake
            // completed was never announced: nothing to tell.
            if let Some(c) = e.role.as_announced_mut() {
                c.told_closed = true;
                let how = match e.conn.close_reason() {
                    Some(CloseReason::Reset) if !c.connected => Closed::Refused,
                    Some(CloseReason::Reset) => Closed::Reset,
                    Some(CloseReason::TimedOut) => Closed::TimedOut,
                    _ => Closed::Normal,
                };
                self.events.push_back((id, Event::Closed(how)));
            }
        }
        self.scratch = scratch;
        self.stats.tx_full += tx_full;
        if closed {
            self.remove(slot);
        } else {
            self.timers.set(slot, deadline);
        }
    }

    /// Fires due timers (TCP and HTTP) and services their connections.
    pub fn poll_timers(&mut self, now: Instant, tx: &mut dyn Tx) {
        self.poll_timers_until(now, now, tx);
    }

    /// As `poll_timers`, for the deadlines due by `until` only (`until` <= `now`): the
    /// worker's frames received up to `until` are handled, later ones still queued, and
    /// a deadline after `until` may yet be met by one of them (an ACK that cancels a
    /// retransmission). What fires runs at `now`.
    pub fn poll_timers_until(&mut self, now: Instant, until: Instant, tx: &mut dyn Tx) {
        let until = until.min(now);
        self.fired.clear();
        let mut fired = std::mem::take(&mut self.fired);
        self.timers.poll(until, &mut fired);
        for &slot in &fired {
            let Some(e) = self.slab[slot].as_mut() else {
                continue;
            };
            if e.path != Path::Resolving && e.conn.poll_at().is_some_and(|t| t <= until) {
                e.conn.on_timeout(now);
            }
            if let Role::Server(srv) = &mut e.role {
                if e.conn.state().synchronized() {
                    let v = srv.session.on_timeout(
                        now,
                        &mut e.conn,
                        &self.cfg.http,
                        self.date.as_bytes(),
                    );
                    if v == Verdict::Abort {
                        e.conn.abort();
                    }
                }
            }
            self.service(slot, now, tx);
        }
        self.fired = fired;
        self.poll_arp(now, tx);
        self.poll_ndp(now, tx);
    }

    // ---- The loopback fast path ----
}

/// Frames collected in memory (host tests).
#[cfg(test)]
#[derive(Default)]
struct VecTx(Vec<Vec<u8>>);

#[cfg(test)]
impl Tx for VecTx {
    fn send(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let mut f = vec![0u8; 2048];
        let n = build(&mut f);
        f.truncate(n);
        self.0.push(f);
        true
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod client_tests;

#[cfg(test)]
mod v6_tests;

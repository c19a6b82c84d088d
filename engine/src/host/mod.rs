//! A worker's TCP host, sans-IO: its listeners, the connections it owns (a slab), their
//! HTTP sessions (server side) or the application's interest (client side), and a timer
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

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use crate::app::{App, Closed, ConnId, ConnectError, Event, Net};
use crate::http::{DateCache, HttpConfig, HttpStats, Session, Site, Verdict};
use crate::neighbor::{Arp, ArpConfig, ArpEvent, Resolve};
use crate::table::{Owner, SocketTable};
use crate::tcp::isn::IsnGenerator;
use crate::tcp::{CloseReason, Conn, FourTuple, Listener, Secrets, State, SynVerdict, TcpConfig};
use crate::time::Instant;
use crate::timer::TimerWheel;
use crate::wire::arp::{self, ArpRepr};
use crate::wire::ethernet::{self, EtherType, MacAddr};
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::tcp::TcpRepr;

/// Builds a frame back to front in the room given; says where it ended up, if anywhere.
pub type BuildRange<'a> = dyn FnMut(&mut [u8]) -> Option<(usize, usize)> + 'a;

/// Where frames go: a transmit ring in a worker, a vector in tests.
pub trait Tx {
    /// Builds one frame with `build` (given the frame's room, returning its length) and
    /// queues it. Returns false when no frame was available (the segment is lost and TCP
    /// will send it again).
    fn send(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;

    /// Like `send`, for a frame built back to front: `build` gets the frame's room and
    /// returns where in it the frame ended up (`start..end`), or `None` when it had
    /// nothing to send. Returns `None` for nothing, `Some(false)` when the frame was lost
    /// (no room; TCP sends it again). A segment's payload is written once, straight into
    /// the frame. The default builds aside and copies.
    fn send_range(&mut self, build: &mut BuildRange<'_>) -> Option<bool> {
        let mut aside = vec![0u8; FRAME_ROOM];
        let (start, end) = build(&mut aside)?;
        Some(self.send(&mut |buf: &mut [u8]| {
            buf[..end - start].copy_from_slice(&aside[start..end]);
            end - start
        }))
    }
}

/// Room a frame builder may assume (an AF_XDP frame is 4096 bytes, less headroom).
pub const FRAME_ROOM: usize = 3840;

/// Where a segment's payload starts in a frame built back to front: room for Ethernet
/// with one VLAN tag, IPv4 without options, and the longest TCP header.
const PAYLOAD_AT: usize = ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN + ipv4::MIN_HEADER_LEN + 60;

#[derive(Clone, Debug)]
pub struct HostConfig {
    pub tcp: TcpConfig,
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
    /// Local ports for connections the engine opens (inclusive; steered to the engine).
    pub local_ports: (u16, u16),
    /// Workers sharing the socket table (loopback segments for a 4-tuple nobody holds yet
    /// go to worker `flow_worker(tuple)`, where its listener is).
    pub workers: u16,
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
            local_ports: (61000, 64999),
            workers: 1,
        }
    }
}

/// What the link layer knew about a received segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub src_mac: MacAddr,
    pub vlan: Option<u16>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

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

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    pub accepted: u64,
    pub cookie_accepted: u64,
    pub closed: u64,
    pub resets_sent: u64,
    pub refused_full: u64,
    /// Connections that skipped TIME_WAIT because `max_time_wait` was reached.
    pub time_wait_overflow: u64,
    pub tx_full: u64,
    /// Connections opened by the application (`connect`).
    pub connects: u64,
    /// Connects that failed because the next hop never answered ARP.
    pub unreachable: u64,
    /// ARP requests sent for next hops.
    pub arp_requests: u64,
    /// SYN-ACKs carrying a cookie (the backlog was full), over all listeners.
    pub syn_cookies_sent: u64,
    /// The most half-open connections one listener held at once (never above `backlog`).
    pub half_open_peak: u64,
    /// RFC 5961 challenge ACKs sent, and those the rate limit held back.
    pub challenge_acks: u64,
    pub challenge_acks_suppressed: u64,
    /// Segments sent again (timeouts and fast retransmit).
    pub retransmits: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Retransmission timeouts, tail loss probes, D-SACK-proved spurious
    /// retransmissions, undone congestion responses, duplicate data received.
    pub rto_expiries: u64,
    pub tail_loss_probes: u64,
    pub spurious_retransmits: u64,
    pub undos: u64,
    pub duplicates_received: u64,
    /// CE-marked data received; window reductions for ECE (RFC 3168).
    pub ce_received: u64,
    pub ecn_reductions: u64,
    /// Connections that ended because retransmissions (or keep-alive, or FIN_WAIT_2) ran
    /// out of time.
    pub timed_out: u64,
    /// Segments put into another worker's (or our own) loopback inbox.
    pub loopback_out: u64,
    /// Loopback segments received.
    pub loopback_in: u64,
    pub http: HttpStats,
}

/// A TCP segment on the loopback fast path: no Ethernet, no IP header, no checksum.
#[derive(Clone, Debug)]
pub struct LoopSegment {
    /// The worker whose inbox it goes to.
    pub to: u16,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub repr: TcpRepr,
    pub payload: Vec<u8>,
}

/// Is `ip` one the engine delivers in memory (its own, or 127.0.0.0/8)?
fn is_loopback(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
}

/// The worker that receives segments for a 4-tuple nobody holds yet (a SYN to a
/// listener): the same answer on every worker, and spread over them.
pub fn flow_worker(local: SocketAddrV4, remote: SocketAddrV4, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let h = (u32::from(*local.ip()) ^ u32::from(*remote.ip()).rotate_left(7))
        .wrapping_mul(0x9E37_79B1)
        ^ (u32::from(local.port()) << 16 | u32::from(remote.port())).wrapping_mul(0x85EB_CA6B);
    ((h ^ (h >> 15)) % u32::from(workers)) as u16
}

struct Entry {
    conn: Conn,
    role: Role,
    path: Path,
    /// Counted in `Host::time_wait`.
    in_time_wait: bool,
    /// The connection's counters already added to the host's.
    tcp_counted: crate::tcp::ConnStats,
}

enum Role {
    /// Accepted by a listener: the HTTP responder drives it.
    Server(Box<ServerSide>),
    /// Opened by the application.
    Client(ClientSide),
}

struct ServerSide {
    session: Session,
    listener: usize,
    half_open: bool,
    /// The session's counters already added to the host's.
    counted: HttpStats,
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
}

/// Where a connection's segments go.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Path {
    /// To the NIC, to this MAC (and VLAN).
    Nic { mac: MacAddr, vlan: Option<u16> },
    /// Waiting for ARP: nothing is sent until the next hop resolves.
    Resolving,
    /// To another worker's (or our own) inbox in memory.
    Loopback,
}

/// Events raised in one call are delivered in the next dispatch, at most this many per
/// loop iteration (the rest wait).
const EVENT_BUDGET: usize = 4096;

pub struct Host {
    worker: u16,
    mac: MacAddr,
    cfg: HostConfig,
    listeners: Vec<Listener>,
    accepting: bool,
    slab: Vec<Option<Entry>>,
    /// Per slot: bumped when the slot is freed, so a stale `ConnId` is recognised.
    generations: Vec<u32>,
    free: Vec<u32>,
    live: usize,
    /// Of `live`, in TIME_WAIT.
    time_wait: usize,
    timers: TimerWheel,
    fired: Vec<usize>,
    table: Arc<SocketTable>,
    site: Arc<Site>,
    date: DateCache,
    ident: u16,
    scratch: Vec<u8>,
    stats: HostStats,
    secrets: Secrets,
    /// ISNs of the connections the application opens (a key of their own).
    isn: IsnGenerator,
    arp: Arp<ConnId>,
    events: VecDeque<(ConnId, Event)>,
    /// Client connections the application touched since the last flush.
    dirty: Vec<usize>,
    loopback_out: Vec<LoopSegment>,
    /// Payload buffers of loopback segments, reused.
    spare: Vec<Vec<u8>>,
    port_cursor: u32,
}

impl Host {
    pub fn new(
        worker: u16,
        mac: MacAddr,
        cfg: HostConfig,
        listen: &[SocketAddrV4],
        site: Arc<Site>,
        table: Arc<SocketTable>,
        secrets: Secrets,
    ) -> Host {
        let listeners = listen
            .iter()
            .map(|&a| Listener::new(a, cfg.tcp, cfg.backlog, &secrets))
            .collect();
        let mut cfg = cfg;
        if cfg.addrs.is_empty() {
            cfg.addrs = listen.iter().map(|a| (*a.ip(), 32)).collect();
            cfg.addrs.dedup();
        }
        let mut arp_cfg = ArpConfig::new(mac, cfg.addrs.clone(), cfg.gateway);
        // Held per destination are connection ids, not frames: one per connect.
        arp_cfg.pending_per_dest = 65_536;
        arp_cfg.pending_total = 65_536;
        Host {
            worker,
            mac,
            listeners,
            accepting: true,
            slab: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            live: 0,
            time_wait: 0,
            timers: TimerWheel::new(),
            fired: Vec::new(),
            table,
            site,
            date: DateCache::default(),
            ident: 0,
            scratch: vec![0; 65536],
            stats: HostStats::default(),
            isn: IsnGenerator::new(secrets.client_isn()),
            arp: Arp::new(arp_cfg),
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
            secrets,
            cfg,
        }
    }

    /// Connections held (TIME_WAIT included).
    pub fn connections(&self) -> usize {
        self.live
    }

    pub fn stats(&self) -> HostStats {
        let mut s = self.stats;
        s.syn_cookies_sent = self.listeners.iter().map(|l| l.stats.cookies_sent).sum();
        s
    }

    /// Renders the `Date` header if a new second began, given the worker's monotonic
    /// time: the wall clock is read once a second, not once per batch.
    pub fn refresh_date_at(&mut self, now: Instant) {
        self.date.refresh_at(now);
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
        match (self.timers.next_deadline(), self.arp.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Events wait for the application (call `run_app`).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Stops accepting: new SYNs get a RST; existing connections finish.
    pub fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    /// ICMP "fragmentation needed" for one of our connections (see `Iface`).
    pub fn on_path_mtu(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        seq: crate::tcp::SeqNum,
        mtu: u16,
        tx: &mut dyn Tx,
    ) {
        let Some(owner) = self.table.get(tuple) else {
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

    fn listener_for(&mut self, local: SocketAddrV4) -> Option<usize> {
        if let Some(i) = self.listeners.iter().position(|l| l.local() == local) {
            return Some(i);
        }
        // 127.0.0.0/8 reaches the engine's listeners by port, whatever their address.
        if is_loopback(*local.ip())
            && self
                .listeners
                .iter()
                .any(|l| l.local().port() == local.port())
        {
            self.listeners.push(Listener::new(
                local,
                self.cfg.tcp,
                self.cfg.backlog,
                &self.secrets,
            ));
            return Some(self.listeners.len() - 1);
        }
        None
    }

    /// Is `ip` delivered in memory: one of our addresses, or 127.0.0.0/8?
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        is_loopback(ip) || self.cfg.addrs.iter().any(|(a, _)| *a == ip)
    }

    /// A TCP segment for one of our addresses.
    pub fn on_segment(
        &mut self,
        now: Instant,
        meta: &Meta,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn Tx,
    ) -> Disposition {
        let tuple = FourTuple {
            local: SocketAddrV4::new(meta.dst, seg.dst_port),
            remote: SocketAddrV4::new(meta.src, seg.src_port),
        };
        if let Some(owner) = self.table.get(&tuple) {
            if owner.worker != self.worker {
                return Disposition::Forward(owner.worker);
            }
            let slot = owner.slot as usize;
            let reuse = {
                let e = self.slab[slot].as_ref().expect("table names a live slot");
                matches!(e.role, Role::Server(_)) && e.conn.time_wait_accepts_syn(seg)
            };
            if !reuse {
                let e = self.slab[slot].as_mut().expect("live slot");
                e.conn.on_segment(now, seg, payload);
                self.service(slot, now, tx);
                return Disposition::Done;
            }
            // RFC 6191 / Linux: a newer SYN ends TIME_WAIT and opens a new connection.
            self.remove(slot);
        }
        let Some(li) = self.listener_for(tuple.local) else {
            return Disposition::Reset;
        };
        let f = seg.flags;
        if f.rst() {
            return Disposition::Dropped;
        }
        if f.syn() && !f.ack() {
            if !self.accepting || self.live - self.time_wait >= self.cfg.max_conns {
                self.stats.refused_full += 1;
                return Disposition::Reset;
            }
            return match self.listeners[li].on_syn(now, tuple.remote, seg) {
                SynVerdict::Accept(conn) => {
                    self.insert(now, *conn, meta, li, true, tx);
                    let h = self.listeners[li].half_open() as u64;
                    self.stats.half_open_peak = self.stats.half_open_peak.max(h);
                    Disposition::Done
                }
                SynVerdict::Cookie(syn_ack) => {
                    self.send_stateless(tx, &tuple, meta.src_mac, meta.vlan, &syn_ack);
                    Disposition::Done
                }
                SynVerdict::Ignore => Disposition::Dropped,
            };
        }
        if f.ack() && !f.syn() && self.accepting && self.live - self.time_wait < self.cfg.max_conns
        {
            if let Some(conn) = self.listeners[li].on_ack(now, tuple.remote, seg, payload) {
                self.stats.cookie_accepted += 1;
                self.insert(now, conn, meta, li, false, tx);
                return Disposition::Done;
            }
        }
        Disposition::Reset
    }

    fn insert(
        &mut self,
        now: Instant,
        conn: Conn,
        meta: &Meta,
        listener: usize,
        half_open: bool,
        tx: &mut dyn Tx,
    ) {
        let tuple = conn.tuple();
        let slot = self.alloc_slot();
        let owner = Owner {
            worker: self.worker,
            slot: slot as u32,
        };
        if self.table.insert(tuple, owner).is_err() {
            // Another worker took this 4-tuple first (a SYN seen on two queues).
            self.free.push(slot as u32);
            if half_open {
                self.listeners[listener].half_open_done();
            }
            return;
        }
        let path = if self.is_local(meta.src) {
            Path::Loopback
        } else {
            Path::Nic {
                mac: meta.src_mac,
                vlan: meta.vlan,
            }
        };
        self.slab[slot] = Some(Entry {
            conn,
            role: Role::Server(Box::new(ServerSide {
                session: Session::new(now),
                listener,
                half_open,
                counted: HttpStats::default(),
            })),
            path,
            in_time_wait: false,
            tcp_counted: Default::default(),
        });
        self.live += 1;
        self.stats.accepted += 1;
        self.service(slot, now, tx);
    }

    fn alloc_slot(&mut self) -> usize {
        match self.free.pop() {
            Some(s) => s as usize,
            None => {
                self.slab.push(None);
                self.generations.push(0);
                self.slab.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        let Some(e) = self.slab[slot].take() else {
            return;
        };
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        let owner = Owner {
            worker: self.worker,
            slot: slot as u32,
        };
        self.table.remove(&e.conn.tuple(), owner);
        if let Role::Server(s) = &e.role {
            if s.half_open {
                self.listeners[s.listener].half_open_done();
            }
        }
        self.timers.cancel(slot);
        self.free.push(slot as u32);
        self.live -= 1;
        if e.in_time_wait {
            self.time_wait -= 1;
        }
        self.stats.closed += 1;
    }

    /// After anything happened to a connection: let HTTP (or the application) read and
    /// write, send what TCP has, and file its next deadline (or remove it once closed).
    fn service(&mut self, slot: usize, now: Instant, tx: &mut dyn Tx) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut ident = self.ident;
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
                let (s, c) = (srv.session.stats, srv.counted);
                srv.counted = s;
                let h = &mut self.stats.http;
                h.requests += s.requests - c.requests;
                h.responses_2xx += s.responses_2xx - c.responses_2xx;
                h.responses_4xx += s.responses_4xx - c.responses_4xx;
                h.responses_5xx += s.responses_5xx - c.responses_5xx;
                h.header_timeouts += s.header_timeouts - c.header_timeouts;
                h.idle_timeouts += s.idle_timeouts - c.idle_timeouts;
                h.send_timeouts += s.send_timeouts - c.send_timeouts;
            }
            Role::Client(c) => {
                let st = e.conn.state();
                if !c.connected && st.synchronized() && st != State::SynReceived {
                    c.connected = true;
                    self.events.push_back((id, Event::Connected));
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
                let conn = &mut e.conn;
                loop {
                    // The payload goes straight from the send buffer into the frame; the
                    // headers are written in front of it.
                    let sent = tx.send_range(&mut |buf: &mut [u8]| {
                        let (r, n) = conn.poll_transmit(now, &mut buf[PAYLOAD_AT..])?;
                        ident = ident.wrapping_add(1);
                        let tcp_at = PAYLOAD_AT - r.header_len();
                        let (src, dst) = (*tuple.local.ip(), *tuple.remote.ip());
                        let seg_len = r.emit(&mut buf[tcp_at..], n, src, dst);
                        let ip_at = tcp_at - ipv4::MIN_HEADER_LEN;
                        Ipv4Repr {
                            src,
                            dst,
                            protocol: ipv4::PROTO_TCP,
                            ttl: crate::iface::DEFAULT_TTL,
                            ident,
                            payload_len: seg_len,
                            ecn: r.ecn,
                        }
                        .emit(&mut buf[ip_at..]);
                        let tag = if vlan.is_some() {
                            ethernet::VLAN_TAG_LEN
                        } else {
                            0
                        };
                        let start = ip_at - ethernet::HEADER_LEN - tag;
                        ethernet::emit(&mut buf[start..], peer_mac, mac, vlan, EtherType::Ipv4);
                        Some((start, tcp_at + seg_len))
                    });
                    match sent {
                        None => break,
                        Some(true) => {}
                        Some(false) => tx_full += 1,
                    }
                }
            }
            Path::Loopback => {
                let to = match self.table.get(&FourTuple {
                    local: tuple.remote,
                    remote: tuple.local,
                }) {
                    Some(o) => o.worker,
                    None => flow_worker(tuple.remote, tuple.local, self.cfg.workers),
                };
                while let Some((r, n)) = e.conn.poll_transmit(now, &mut scratch) {
                    let mut payload = self.spare.pop().unwrap_or_default();
                    payload.clear();
                    payload.extend_from_slice(&scratch[..n]);
                    self.loopback_out.push(LoopSegment {
                        to,
                        src: tuple.local,
                        dst: tuple.remote,
                        repr: r,
                        payload,
                    });
                    self.stats.loopback_out += 1;
                }
            }
            Path::Resolving => {}
        }
        let (now_c, was) = (e.conn.stats, e.tcp_counted);
        self.stats.challenge_acks += now_c.challenge_acks - was.challenge_acks;
        self.stats.challenge_acks_suppressed +=
            now_c.challenge_acks_suppressed - was.challenge_acks_suppressed;
        self.stats.retransmits += now_c.retransmits - was.retransmits;
        self.stats.window_probes += now_c.window_probes - was.window_probes;
        self.stats.rto_expiries += now_c.rto_expiries - was.rto_expiries;
        self.stats.tail_loss_probes += now_c.tail_loss_probes - was.tail_loss_probes;
        self.stats.spurious_retransmits += now_c.spurious_retransmits - was.spurious_retransmits;
        self.stats.undos += now_c.undos - was.undos;
        self.stats.duplicates_received += now_c.duplicate_segments - was.duplicate_segments;
        self.stats.ce_received += now_c.ce_received - was.ce_received;
        self.stats.ecn_reductions += now_c.ecn_reductions - was.ecn_reductions;
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
        if closed {
            if let Role::Client(c) = &e.role {
                let how = match e.conn.close_reason() {
                    Some(CloseReason::Reset) if !c.connected => Closed::Refused,
                    Some(CloseReason::Reset) => Closed::Reset,
                    Some(CloseReason::TimedOut) => Closed::TimedOut,
                    _ => Closed::Normal,
                };
                self.events.push_back((id, Event::Closed(how)));
            }
        }
        self.ident = ident;
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
        self.fired.clear();
        let mut fired = std::mem::take(&mut self.fired);
        self.timers.poll(now, &mut fired);
        for &slot in &fired {
            let Some(e) = self.slab[slot].as_mut() else {
                continue;
            };
            if e.path != Path::Resolving && e.conn.poll_at().is_some_and(|t| t <= now) {
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
    }

    // ---- The loopback fast path ----

    /// Segments for loopback inboxes, produced since the last call: the worker moves them
    /// (`std::mem::take` keeps the allocation with the caller).
    pub fn loopback_out(&mut self) -> &mut Vec<LoopSegment> {
        &mut self.loopback_out
    }

    /// A segment from a loopback inbox.
    pub fn on_loopback(&mut self, now: Instant, seg: LoopSegment, tx: &mut dyn Tx) {
        self.stats.loopback_in += 1;
        let meta = Meta {
            src_mac: [0; 6],
            vlan: None,
            src: *seg.src.ip(),
            dst: *seg.dst.ip(),
        };
        match self.on_segment(now, &meta, &seg.repr, &seg.payload, tx) {
            Disposition::Forward(w) => {
                // The connection was filed by another worker after the sender looked.
                self.loopback_out.push(LoopSegment { to: w, ..seg });
                return;
            }
            Disposition::Reset => {
                if let Some(rst) = seg.repr.rst_reply(seg.payload.len()) {
                    let to = match self.table.get(&FourTuple {
                        local: seg.src,
                        remote: seg.dst,
                    }) {
                        Some(o) => o.worker,
                        None => flow_worker(seg.src, seg.dst, self.cfg.workers),
                    };
                    self.stats.resets_sent += 1;
                    self.stats.loopback_out += 1;
                    self.loopback_out.push(LoopSegment {
                        to,
                        src: seg.dst,
                        dst: seg.src,
                        repr: rst,
                        payload: Vec::new(),
                    });
                }
            }
            Disposition::Done | Disposition::Dropped => {}
        }
        if self.spare.len() < 4096 && seg.payload.capacity() > 0 {
            self.spare.push(seg.payload);
        }
    }

    // ---- ARP for connections we open ----

    /// An ARP packet for one of our addresses (a reply to our request, or a request):
    /// learn the sender, and let connections waiting for it go.
    pub fn on_arp(&mut self, now: Instant, arp: &ArpRepr, tx: &mut dyn Tx) {
        let _ = self.arp.on_arp(now, arp);
        self.poll_arp(now, tx);
    }

    fn poll_arp(&mut self, now: Instant, tx: &mut dyn Tx) {
        if self.arp.poll_at().is_none_or(|t| t > now) {
            return;
        }
        while let Some(ev) = self.arp.poll(now) {
            match ev {
                ArpEvent::SendRequest(req) => {
                    self.stats.arp_requests += 1;
                    let mac = self.mac;
                    let sent = tx.send(&mut |buf: &mut [u8]| {
                        let at =
                            ethernet::emit(buf, ethernet::BROADCAST, mac, None, EtherType::Arp);
                        req.emit(&mut buf[at..]);
                        at + arp::PACKET_LEN
                    });
                    if !sent {
                        self.stats.tx_full += 1;
                    }
                }
                ArpEvent::Resolved { mac, frame: id } => {
                    if let Some(slot) = self.client_slot(id) {
                        let e = self.slab[slot].as_mut().expect("live slot");
                        if e.path == Path::Resolving {
                            e.path = Path::Nic { mac, vlan: None };
                            self.service(slot, now, tx);
                        }
                    }
                }
                ArpEvent::Failed { ip, frame: id } => {
                    if let Some(slot) = self.client_slot(id) {
                        self.stats.unreachable += 1;
                        // Nothing was sent: the connection ends without a segment.
                        self.events
                            .push_back((id, Event::Closed(Closed::Unreachable(ip))));
                        self.remove(slot);
                    }
                }
            }
        }
    }

    // ---- The client side: connections the application opens ----

    fn client_slot(&self, id: ConnId) -> Option<usize> {
        let slot = id.slot as usize;
        match self.slab.get(slot) {
            Some(Some(e))
                if self.generations[slot] == id.generation && matches!(e.role, Role::Client(_)) =>
            {
                Some(slot)
            }
            _ => None,
        }
    }

    /// The address we send from towards `dst`.
    fn source_for(&self, dst: Ipv4Addr) -> Result<Ipv4Addr, ConnectError> {
        if is_loopback(dst) {
            return Ok(Ipv4Addr::LOCALHOST);
        }
        if self.cfg.addrs.iter().any(|(a, _)| *a == dst) {
            return Ok(dst);
        }
        let on_link = self.cfg.addrs.iter().find(|(a, p)| {
            let m = if *p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from((*p).min(32)))
            };
            u32::from(*a) & m == u32::from(dst) & m
        });
        match (on_link, self.cfg.addrs.first()) {
            (Some((a, _)), _) => Ok(*a),
            (None, Some((a, _))) if self.cfg.gateway.is_some() => Ok(*a),
            (None, Some(_)) => Err(ConnectError::NoRoute(dst)),
            (None, None) => Err(ConnectError::NoAddress),
        }
    }

    /// Active open (see `Net::connect`).
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        tx: &mut dyn Tx,
    ) -> Result<ConnId, ConnectError> {
        let local_ip = self.source_for(*remote.ip())?;
        let (path, next_hop) = if self.is_local(*remote.ip()) {
            (Path::Loopback, None)
        } else {
            let hop = self
                .arp
                .next_hop(*remote.ip())
                .map_err(|_| ConnectError::NoRoute(*remote.ip()))?;
            match self.arp.lookup(now, hop) {
                Some(mac) => (Path::Nic { mac, vlan: None }, None),
                None => (Path::Resolving, Some(hop)),
            }
        };
        if self.live - self.time_wait >= self.cfg.max_conns {
            return Err(ConnectError::TooManyConnections);
        }
        let slot = self.alloc_slot();
        let owner = Owner {
            worker: self.worker,
            slot: slot as u32,
        };
        let (lo, hi) = self.cfg.local_ports;
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let mut tuple = None;
        for i in 0..span {
            let port = lo + ((self.port_cursor.wrapping_add(i)) % span) as u16;
            let t = FourTuple {
                local: SocketAddrV4::new(local_ip, port),
                remote,
            };
            // In memory the other end may still hold this 4-tuple in TIME_WAIT: as with
            // Linux, the new SYN (a later ISN and timestamp) takes it over.
            if self.table.insert(t, owner).is_ok() {
                self.port_cursor = self.port_cursor.wrapping_add(i + 1);
                tuple = Some(t);
                break;
            }
        }
        let Some(tuple) = tuple else {
            self.free.push(slot as u32);
            return Err(ConnectError::NoPorts);
        };
        let id = ConnId {
            slot: slot as u32,
            generation: self.generations[slot],
        };
        let conn = Conn::connect(&self.cfg.tcp, tuple, self.isn.isn(&tuple, now), now);
        self.slab[slot] = Some(Entry {
            conn,
            role: Role::Client(ClientSide::default()),
            path,
            in_time_wait: false,
            tcp_counted: Default::default(),
        });
        self.live += 1;
        self.stats.connects += 1;
        if let Some(hop) = next_hop {
            match self.arp.resolve(now, hop, id) {
                Resolve::Queued => {}
                Resolve::Ready(mac, _) => {
                    self.slab[slot].as_mut().expect("just filed").path =
                        Path::Nic { mac, vlan: None };
                }
                Resolve::Dropped(_) => {
                    self.remove(slot);
                    return Err(ConnectError::ResolutionBacklog);
                }
            }
        }
        self.service(slot, now, tx);
        self.poll_arp(now, tx);
        Ok(id)
    }

    fn mark(&mut self, slot: usize) {
        if let Some(Entry {
            role: Role::Client(c),
            ..
        }) = self.slab[slot].as_mut()
        {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    pub(crate) fn client_send(&mut self, id: ConnId, data: &[u8]) -> usize {
        let Some(slot) = self.client_slot(id) else {
            return 0;
        };
        let e = self.slab[slot].as_mut().expect("live slot");
        let n = e.conn.send(data);
        if n < data.len() {
            if let Role::Client(c) = &mut e.role {
                c.blocked = true;
            }
        }
        self.mark(slot);
        n
    }

    pub(crate) fn client_recv(&mut self, id: ConnId, out: &mut [u8]) -> usize {
        let Some(slot) = self.client_slot(id) else {
            return 0;
        };
        let e = self.slab[slot].as_mut().expect("live slot");
        let n = e.conn.recv(out);
        if let Role::Client(c) = &mut e.role {
            c.notified = e.conn.readable();
        }
        self.mark(slot);
        n
    }

    pub(crate) fn client_readable(&self, id: ConnId) -> usize {
        self.client_slot(id)
            .map_or(0, |s| self.slab[s].as_ref().expect("live").conn.readable())
    }

    pub(crate) fn client_close(&mut self, id: ConnId, abort: bool) {
        let Some(slot) = self.client_slot(id) else {
            return;
        };
        let e = self.slab[slot].as_mut().expect("live slot");
        if e.path == Path::Resolving {
            // Nothing was sent yet: end it here; the ARP answer will find no one.
            self.events.push_back((id, Event::Closed(Closed::Normal)));
            self.remove(slot);
            return;
        }
        if abort {
            e.conn.abort();
        } else {
            e.conn.close();
        }
        self.mark(slot);
    }

    pub(crate) fn client_state(&self, id: ConnId) -> Option<State> {
        self.client_slot(id)
            .map(|s| self.slab[s].as_ref().expect("live").conn.state())
    }

    pub(crate) fn client_local(&self, id: ConnId) -> Option<SocketAddrV4> {
        self.client_slot(id)
            .map(|s| self.slab[s].as_ref().expect("live").conn.tuple().local)
    }

    /// Services the connections the application touched.
    fn flush(&mut self, now: Instant, tx: &mut dyn Tx) {
        while let Some(slot) = self.dirty.pop() {
            if let Some(Entry {
                role: Role::Client(c),
                ..
            }) = self.slab[slot].as_mut()
            {
                c.dirty = false;
            }
            self.service(slot, now, tx);
        }
    }

    /// Runs the application: its `poll`, then the events waiting for it (at most a
    /// budget's worth), then sends what it wrote.
    pub fn run_app(&mut self, now: Instant, app: &mut dyn App, tx: &mut dyn Tx) {
        app.poll(
            now,
            &mut Net {
                host: self,
                tx,
                now,
            },
        );
        for _ in 0..EVENT_BUDGET {
            let Some((id, ev)) = self.events.pop_front() else {
                break;
            };
            app.on_event(
                now,
                &mut Net {
                    host: self,
                    tx,
                    now,
                },
                id,
                ev,
            );
        }
        self.flush(now, tx);
    }

    /// A segment that belongs to no connection (a cookie SYN-ACK).
    fn send_stateless(
        &mut self,
        tx: &mut dyn Tx,
        tuple: &FourTuple,
        peer_mac: MacAddr,
        vlan: Option<u16>,
        r: &TcpRepr,
    ) {
        self.ident = self.ident.wrapping_add(1);
        if !send_segment(tx, self.mac, peer_mac, vlan, tuple, self.ident, r, &[]) {
            self.stats.tx_full += 1;
        }
    }
}

/// Writes Ethernet, IPv4 and TCP headers and the payload into one frame.
#[allow(clippy::too_many_arguments)]
fn send_segment(
    tx: &mut dyn Tx,
    mac: MacAddr,
    peer_mac: MacAddr,
    vlan: Option<u16>,
    tuple: &FourTuple,
    ident: u16,
    r: &TcpRepr,
    payload: &[u8],
) -> bool {
    tx.send(&mut |buf: &mut [u8]| {
        let ip_at = ethernet::emit(buf, peer_mac, mac, vlan, EtherType::Ipv4);
        let tcp_at = ip_at + ipv4::MIN_HEADER_LEN;
        let hl = r.header_len();
        buf[tcp_at + hl..tcp_at + hl + payload.len()].copy_from_slice(payload);
        let seg_len = r.emit(
            &mut buf[tcp_at..],
            payload.len(),
            *tuple.local.ip(),
            *tuple.remote.ip(),
        );
        Ipv4Repr {
            src: *tuple.local.ip(),
            dst: *tuple.remote.ip(),
            protocol: ipv4::PROTO_TCP,
            ttl: crate::iface::DEFAULT_TTL,
            ident,
            payload_len: seg_len,
            ecn: r.ecn,
        }
        .emit(&mut buf[ip_at..]);
        tcp_at + seg_len
    })
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

//! A worker's TCP host, sans-IO: its listeners, the connections it owns (a slab), their
//! HTTP sessions, and a timer wheel holding each connection's next deadline. A parsed
//! segment goes in with the time; frames to transmit come out through `Tx`; the shared
//! `SocketTable` says which worker owns a 4-tuple.
//!
//! Nothing here scans all connections: a segment finds its connection through the table,
//! a deadline through the wheel.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use crate::http::{DateCache, HttpConfig, HttpStats, Session, Site, Verdict};
use crate::table::{Owner, SocketTable};
use crate::tcp::{Conn, FourTuple, Listener, State, SynVerdict, TcpConfig};
use crate::time::Instant;
use crate::timer::TimerWheel;
use crate::wire::ethernet::{self, EtherType, MacAddr};
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::tcp::TcpRepr;

/// Where frames go: a transmit ring in a worker, a vector in tests.
pub trait Tx {
    /// Builds one frame with `build` (given the frame's room, returning its length) and
    /// queues it. Returns false when no frame was available (the segment is lost and TCP
    /// will send it again).
    fn send(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;
}

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
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            tcp: TcpConfig::default(),
            http: HttpConfig::default(),
            max_conns: 16_384,
            max_time_wait: 262_144,
            backlog: 1024,
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
    pub http: HttpStats,
}

struct Entry {
    conn: Conn,
    session: Session,
    peer_mac: MacAddr,
    vlan: Option<u16>,
    listener: usize,
    half_open: bool,
    /// The session's counters already added to the host's.
    counted: HttpStats,
    /// Counted in `Host::time_wait`.
    in_time_wait: bool,
}

pub struct Host {
    worker: u16,
    mac: MacAddr,
    cfg: HostConfig,
    listeners: Vec<Listener>,
    accepting: bool,
    slab: Vec<Option<Entry>>,
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
}

impl Host {
    pub fn new(
        worker: u16,
        mac: MacAddr,
        cfg: HostConfig,
        listen: &[SocketAddrV4],
        site: Arc<Site>,
        table: Arc<SocketTable>,
        secret: [u8; 32],
    ) -> Host {
        let listeners = listen
            .iter()
            .map(|&a| Listener::new(a, cfg.tcp, cfg.backlog, secret))
            .collect();
        Host {
            worker,
            mac,
            listeners,
            accepting: true,
            slab: Vec::new(),
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
            cfg,
        }
    }

    /// Connections held (TIME_WAIT included).
    pub fn connections(&self) -> usize {
        self.live
    }

    pub fn stats(&self) -> HostStats {
        self.stats
    }

    /// Renders the `Date` header if a new second began; once per batch.
    pub fn refresh_date(&mut self) {
        self.date.refresh();
    }

    /// Fixes the `Date` header (tests).
    pub fn set_date(&mut self, unix_secs: u64) {
        self.date.set(unix_secs);
    }

    /// The earliest moment `poll_timers` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
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
        if let Some(e) = self.slab[slot].as_mut() {
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

    /// Connections still doing work (not idle keep-alive, not TIME_WAIT).
    pub fn busy_connections(&self) -> usize {
        self.slab
            .iter()
            .flatten()
            .filter(|e| e.session.pending() > 0 || e.conn.unacked() > 0)
            .count()
    }

    fn listener_for(&self, local: SocketAddrV4) -> Option<usize> {
        self.listeners.iter().position(|l| l.local() == local)
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
                e.conn.time_wait_accepts_syn(seg)
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
        let slot = match self.free.pop() {
            Some(s) => s as usize,
            None => {
                self.slab.push(None);
                self.slab.len() - 1
            }
        };
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
        self.slab[slot] = Some(Entry {
            conn,
            session: Session::new(now),
            peer_mac: meta.src_mac,
            vlan: meta.vlan,
            listener,
            half_open,
            counted: HttpStats::default(),
            in_time_wait: false,
        });
        self.live += 1;
        self.stats.accepted += 1;
        self.service(slot, now, tx);
    }

    fn remove(&mut self, slot: usize) {
        let Some(e) = self.slab[slot].take() else {
            return;
        };
        let owner = Owner {
            worker: self.worker,
            slot: slot as u32,
        };
        self.table.remove(&e.conn.tuple(), owner);
        if e.half_open {
            self.listeners[e.listener].half_open_done();
        }
        self.timers.cancel(slot);
        self.free.push(slot as u32);
        self.live -= 1;
        if e.in_time_wait {
            self.time_wait -= 1;
        }
        self.stats.closed += 1;
    }

    /// After anything happened to a connection: let HTTP read and write, send what TCP
    /// has, and file its next deadline (or remove it once closed).
    fn service(&mut self, slot: usize, now: Instant, tx: &mut dyn Tx) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut ident = self.ident;
        let mut tx_full = 0;
        let mac = self.mac;
        let Some(e) = self.slab[slot].as_mut() else {
            self.scratch = scratch;
            return;
        };
        if e.half_open && e.conn.state() != State::SynReceived {
            e.half_open = false;
            self.listeners[e.listener].half_open_done();
        }
        if e.conn.state().synchronized() && e.conn.state() != State::SynReceived {
            let v = e.session.drive(
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
        let (s, c) = (e.session.stats, e.counted);
        e.counted = s;
        let h = &mut self.stats.http;
        h.requests += s.requests - c.requests;
        h.responses_2xx += s.responses_2xx - c.responses_2xx;
        h.responses_4xx += s.responses_4xx - c.responses_4xx;
        h.responses_5xx += s.responses_5xx - c.responses_5xx;
        h.header_timeouts += s.header_timeouts - c.header_timeouts;
        h.idle_timeouts += s.idle_timeouts - c.idle_timeouts;
        let tuple = e.conn.tuple();
        while let Some((r, n)) = e.conn.poll_transmit(now, &mut scratch) {
            ident = ident.wrapping_add(1);
            if !send_segment(
                tx,
                mac,
                e.peer_mac,
                e.vlan,
                &tuple,
                ident,
                &r,
                &scratch[..n],
            ) {
                tx_full += 1;
            }
        }
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
        let deadline = match (e.conn.poll_at(), e.session.deadline(&self.cfg.http)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
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
            if e.conn.poll_at().is_some_and(|t| t <= now) {
                e.conn.on_timeout(now);
            }
            if e.conn.state().synchronized() {
                let v =
                    e.session
                        .on_timeout(now, &mut e.conn, &self.cfg.http, self.date.as_bytes());
                if v == Verdict::Abort {
                    e.conn.abort();
                }
            }
            self.service(slot, now, tx);
        }
        self.fired = fired;
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
        }
        .emit(&mut buf[ip_at..]);
        tcp_at + seg_len
    })
}

#[cfg(test)]
mod tests;

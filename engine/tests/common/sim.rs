//! A seeded network simulator: a client and a server instance of the TCP stack joined by a
//! link that loses, duplicates, reorders, delays and rate-limits segments. Every segment
//! is encoded to bytes and parsed back (checksums and options included). Time is virtual:
//! the loop jumps to the next event, so an hour of timers costs nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use fastpath_engine::tcp::{
    Conn, FourTuple, Listener, Secrets, SeqNum, State, SynVerdict, TcpConfig,
};
use fastpath_engine::time::Instant;
use fastpath_engine::timer::TimerWheel;
use fastpath_engine::wire::tcp::{TcpPacket, TcpRepr};

pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SERVER_PORT: u16 = 80;

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    /// One-way delay.
    pub delay: Duration,
    /// Bits per second; 0 = unlimited.
    pub bandwidth: u64,
}

impl LinkConfig {
    pub fn lossy(loss: f64) -> LinkConfig {
        LinkConfig {
            loss,
            duplicate: 0.0,
            reorder: 0.0,
            delay: Duration::from_millis(5),
            bandwidth: 100_000_000,
        }
    }
}

/// One direction of the link: a serialisation queue then a delay line.
struct Direction {
    busy_until: Instant,
}

/// What one connection should do.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Bytes the client sends to the server.
    pub up: usize,
    /// Bytes the server sends to the client.
    pub down: usize,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Until every connection closed (TIME_WAIT included).
    pub elapsed: Duration,
    /// Until the last byte of every transfer was read.
    pub delivered: Duration,
    pub bytes: u64,
    pub segments: u64,
    pub retransmits: u64,
    pub dropped: u64,
    /// Data segments a receiver got twice (spurious retransmissions or link duplicates).
    pub duplicates: u64,
}

fn pattern(conn: usize, dir: u8, off: usize) -> u8 {
    ((off as u64)
        .wrapping_mul(131)
        .wrapping_add(conn as u64 * 7 + dir as u64)
        % 251) as u8
}

struct Side {
    conn: Conn,
    /// Bytes sent into the connection so far / to send in all.
    sent: usize,
    to_send: usize,
    received: usize,
    to_receive: usize,
    closed_write: bool,
    id: usize,
    dir_out: u8,
    /// When the last expected byte was read.
    done_at: Option<Instant>,
}

impl Side {
    fn new(conn: Conn, id: usize, to_send: usize, to_receive: usize, dir_out: u8) -> Side {
        Side {
            conn,
            sent: 0,
            to_send,
            received: 0,
            to_receive,
            closed_write: false,
            id,
            dir_out,
            done_at: None,
        }
    }

    /// The application: write what fits, read and verify what arrived, close when done.
    fn app(&mut self, scratch: &mut [u8]) {
        while self.sent < self.to_send {
            let n = (self.to_send - self.sent)
                .min(scratch.len())
                .min(self.conn.send_capacity());
            if n == 0 {
                break;
            }
            for (i, b) in scratch[..n].iter_mut().enumerate() {
                *b = pattern(self.id, self.dir_out, self.sent + i);
            }
            let took = self.conn.send(&scratch[..n]);
            self.sent += took;
            if took < n {
                break;
            }
        }
        loop {
            let n = self.conn.recv(scratch);
            if n == 0 {
                break;
            }
            for (i, b) in scratch[..n].iter().enumerate() {
                assert_eq!(
                    *b,
                    pattern(self.id, 1 - self.dir_out, self.received + i),
                    "conn {} byte {} corrupted",
                    self.id,
                    self.received + i
                );
            }
            self.received += n;
            assert!(
                self.received <= self.to_receive,
                "conn {} got more than was sent",
                self.id
            );
        }
        if self.sent == self.to_send
            && !self.closed_write
            && matches!(self.conn.state(), State::Established | State::CloseWait)
        {
            self.conn.close();
            self.closed_write = true;
        }
    }
}

pub struct Sim {
    pub cfg: TcpConfig,
    pub link: LinkConfig,
    rng: Rng,
    now: Instant,
    /// In flight: (arrival time, tiebreak) -> (to_server, bytes).
    wire: BTreeMap<(Instant, u64), (bool, Vec<u8>)>,
    tiebreak: u64,
    dirs: [Direction; 2],
    listener: Listener,
    clients: HashMap<u16, Side>,
    servers: HashMap<u16, Side>,
    transfers: HashMap<u16, (usize, Transfer)>,
    pub outcome: Outcome,
    scratch: Vec<u8>,
    /// The connections' timers, as a worker keeps them: key 2*i for client i, 2*i+1 for
    /// its server side.
    timers: TimerWheel,
    fired: Vec<usize>,
}

impl Sim {
    pub fn new(cfg: TcpConfig, link: LinkConfig, seed: u64) -> Sim {
        Sim {
            cfg,
            link,
            rng: Rng::new(seed),
            now: Instant::ZERO,
            wire: BTreeMap::new(),
            tiebreak: 0,
            dirs: [
                Direction {
                    busy_until: Instant::ZERO,
                },
                Direction {
                    busy_until: Instant::ZERO,
                },
            ],
            listener: Listener::new(
                SocketAddrV4::new(SERVER_IP, SERVER_PORT),
                cfg,
                1024,
                &Secrets::from_master([seed as u8; 32]),
            ),
            clients: HashMap::new(),
            servers: HashMap::new(),
            transfers: HashMap::new(),
            outcome: Outcome::default(),
            scratch: vec![0; 65536],
            timers: TimerWheel::new(),
            fired: Vec::new(),
        }
    }

    /// Replaces the listener with one of a different SYN backlog.
    pub fn set_backlog(&mut self, backlog: usize) {
        self.listener = Listener::new(
            SocketAddrV4::new(SERVER_IP, SERVER_PORT),
            self.cfg,
            backlog,
            &Secrets::from_master([7; 32]),
        );
    }

    pub fn cookies_accepted(&self) -> u64 {
        self.listener.stats.cookies_accepted
    }

    /// Opens a client connection that will perform `t`.
    pub fn connect(&mut self, id: usize, t: Transfer) {
        let port = 40000 + id as u16;
        let tuple = FourTuple {
            local: SocketAddrV4::new(CLIENT_IP, port),
            remote: SocketAddrV4::new(SERVER_IP, SERVER_PORT),
        };
        let iss = SeqNum((self.rng.next() >> 32) as u32);
        let conn = Conn::connect(&self.cfg, tuple, iss, self.now);
        self.clients
            .insert(port, Side::new(conn, id, t.up, t.down, 0));
        self.transfers.insert(port, (id, t));
    }

    fn send_packet(&mut self, to_server: bool, bytes: Vec<u8>) {
        self.outcome.segments += 1;
        let lost = self.rng.chance(self.link.loss);
        if std::env::var_os("SIM_PKT_TRACE").is_some() {
            let (src, dst) = if to_server {
                (CLIENT_IP, SERVER_IP)
            } else {
                (SERVER_IP, CLIENT_IP)
            };
            let p = TcpPacket::parse(&bytes, src, dst).unwrap();
            let r = p.repr;
            eprintln!(
                "{:>10} {} {:?} seq {} ack {} len {} win {}{}",
                self.now.total_micros(),
                if to_server { "C>S" } else { "S>C" },
                r.flags,
                r.seq.0,
                r.ack.0,
                p.payload.len(),
                r.window,
                if lost { " LOST" } else { "" }
            );
        }
        if lost {
            self.outcome.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.link.duplicate) {
            2
        } else {
            1
        };
        let d = &mut self.dirs[to_server as usize];
        let tx = ((bytes.len() as u64 + 40) * 8 * 1_000_000_000)
            .checked_div(self.link.bandwidth)
            .map_or(Duration::ZERO, Duration::from_nanos);
        d.busy_until = d.busy_until.max(self.now) + tx;
        let mut at = d.busy_until + self.link.delay;
        if self.rng.chance(self.link.reorder) {
            at += Duration::from_micros(self.rng.next() % 10_000);
        }
        for _ in 0..copies {
            self.tiebreak += 1;
            self.wire
                .insert((at, self.tiebreak), (to_server, bytes.clone()));
        }
    }

    fn emit(&mut self, to_server: bool, repr: &TcpRepr, payload: &[u8]) {
        let (src, dst) = if to_server {
            (CLIENT_IP, SERVER_IP)
        } else {
            (SERVER_IP, CLIENT_IP)
        };
        let hl = repr.header_len();
        let mut buf = vec![0u8; hl + payload.len()];
        buf[hl..].copy_from_slice(payload);
        let n = repr.emit(&mut buf, payload.len(), src, dst);
        buf.truncate(n);
        self.send_packet(to_server, buf);
    }

    fn drain(&mut self) {
        let mut out = std::mem::take(&mut self.scratch);
        for to_server in [true, false] {
            let ports: Vec<u16> = if to_server {
                self.clients.keys().copied().collect()
            } else {
                self.servers.keys().copied().collect()
            };
            for port in ports {
                let mut burst = 0u32;
                loop {
                    let side = if to_server {
                        self.clients.get_mut(&port)
                    } else {
                        self.servers.get_mut(&port)
                    };
                    let Some(side) = side else { break };
                    side.app(&mut out);
                    if side.received == side.to_receive && side.done_at.is_none() {
                        side.done_at = Some(self.now);
                    }
                    let Some((r, n)) = side.conn.poll_transmit(self.now, &mut out) else {
                        break;
                    };
                    burst += 1;
                    assert!(
                        burst < 1_000_000,
                        "connection {port} keeps transmitting without end: {r:?} len {n}\n{:#?}",
                        side.conn
                    );
                    let payload = out[..n].to_vec();
                    self.emit(to_server, &r, &payload);
                }
            }
        }
        self.scratch = out;
    }

    fn deliver(&mut self, to_server: bool, bytes: &[u8]) {
        let (src, dst) = if to_server {
            (CLIENT_IP, SERVER_IP)
        } else {
            (SERVER_IP, CLIENT_IP)
        };
        let p = TcpPacket::parse(bytes, src, dst).expect("the simulator's own segments parse");
        let seg = p.repr;
        if !to_server {
            if let Some(side) = self.clients.get_mut(&seg.dst_port) {
                side.conn.on_segment(self.now, &seg, p.payload);
            }
            return;
        }
        let port = seg.src_port;
        if let Some(side) = self.servers.get_mut(&port) {
            let was_half_open = side.conn.state() == State::SynReceived;
            side.conn.on_segment(self.now, &seg, p.payload);
            if was_half_open && side.conn.state() != State::SynReceived {
                self.listener.half_open_done();
            }
            return;
        }
        let remote = SocketAddrV4::new(CLIENT_IP, port);
        let (id, t) = self.transfers[&port];
        if seg.flags.syn() && !seg.flags.ack() {
            match self.listener.on_syn(self.now, remote, &seg) {
                SynVerdict::Accept(c) => {
                    self.servers
                        .insert(port, Side::new(*c, id, t.down, t.up, 1));
                }
                SynVerdict::Cookie(sa) => self.emit(false, &sa, &[]),
                SynVerdict::Ignore => {}
            }
        } else if seg.flags.ack() && !seg.flags.rst() {
            if let Some(c) = self.listener.on_ack(self.now, remote, &seg, p.payload) {
                self.servers.insert(port, Side::new(c, id, t.down, t.up, 1));
            } else if let Some(rst) = seg.rst_reply(p.payload.len()) {
                self.emit(false, &rst, &[]);
            }
        }
    }

    /// Runs until every connection is closed on both sides, or `limit` of virtual time.
    /// Returns whether everything finished.
    pub fn run(&mut self, limit: Duration) -> bool {
        let deadline = Instant::ZERO + limit;
        let (mut last_now, mut spins) = (self.now, 0u32);
        loop {
            self.drain();
            // A stack that keeps asking to be woken at the same instant without progress
            // would hang the test: fail with the state instead.
            if self.now == last_now {
                spins += 1;
                if spins > 100_000 {
                    let stuck: Vec<_> = self
                        .clients
                        .values()
                        .chain(self.servers.values())
                        .filter(|s| s.conn.poll_at().is_some_and(|t| t <= self.now))
                        .map(|s| format!("{:?}", s.conn))
                        .take(2)
                        .collect();
                    panic!("simulator stuck at {:?}: {stuck:#?}", self.now);
                }
            } else {
                (last_now, spins) = (self.now, 0);
            }
            let done = self.clients.values().all(|s| s.conn.is_closed())
                && self.servers.len() == self.clients.len()
                && self.servers.values().all(|s| s.conn.is_closed());
            if done {
                break;
            }
            // Every connection was just driven by its application: refresh its timer.
            for (port, c) in &self.clients {
                let key = 2 * (*port - 40000) as usize;
                self.timers.set(key, c.conn.poll_at());
                let server = self.servers.get(port).and_then(|s| s.conn.poll_at());
                self.timers.set(key + 1, server);
            }
            let next_timer = self.timers.next_deadline();
            let next_packet = self.wire.keys().next().map(|k| k.0);
            let Some(next) = [next_timer, next_packet].into_iter().flatten().min() else {
                break;
            };
            if next > deadline {
                for (port, c) in &self.clients {
                    let s = self
                        .servers
                        .get(port)
                        .map(|s| (s.conn.state(), s.received, s.to_receive));
                    eprintln!(
                        "unfinished? {port}: client {:?} {}/{} server {s:?} client {:?}",
                        c.conn.state(),
                        c.received,
                        c.to_receive,
                        c.conn.stats
                    );
                }
                return false;
            }
            if std::env::var_os("SIM_TRACE").is_some()
                && (self.now - Instant::ZERO).as_millis() / 50
                    != (next - Instant::ZERO).as_millis() / 50
            {
                for c in self.clients.values() {
                    eprintln!(
                        "{:?} cwnd {} unacked {} srtt {:?} sent {} snd_cap {}",
                        next,
                        c.conn.cwnd(),
                        c.conn.unacked(),
                        c.conn.srtt(),
                        c.sent,
                        c.conn.send_capacity()
                    );
                }
            }
            self.now = self.now.max(next);
            while let Some(entry) = self.wire.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let (to_server, bytes) = entry.remove();
                self.deliver(to_server, &bytes);
            }
            let now = self.now;
            self.fired.clear();
            self.timers.poll(now, &mut self.fired);
            for &key in &self.fired {
                let port = 40000 + (key / 2) as u16;
                let side = if key % 2 == 0 {
                    self.clients.get_mut(&port)
                } else {
                    self.servers.get_mut(&port)
                };
                if let Some(s) = side {
                    // A packet delivered in this step may have moved the deadline.
                    if s.conn.poll_at().is_some_and(|t| t <= now) {
                        s.conn.on_timeout(now);
                    }
                }
            }
        }
        self.outcome.elapsed = self.now - Instant::ZERO;
        for s in self.clients.values().chain(self.servers.values()) {
            self.outcome.retransmits += s.conn.stats.retransmits;
            self.outcome.duplicates += s.conn.stats.duplicate_segments;
            if std::env::var_os("SIM_STATS").is_some() {
                eprintln!("{:?}", s.conn.stats);
            }
            let done = s.done_at.unwrap_or(self.now) - Instant::ZERO;
            self.outcome.delivered = self.outcome.delivered.max(done);
        }
        true
    }

    /// Checks every transfer completed byte-exact and every connection closed cleanly.
    pub fn verify(&mut self) {
        for (port, c) in &self.clients {
            let s = &self.servers[port];
            assert_eq!(
                c.received, c.to_receive,
                "client {port} got {} of {}",
                c.received, c.to_receive
            );
            assert_eq!(
                s.received,
                s.to_receive,
                "server {port} got {} of {}: server {:?} {:?} client {:?} {:?}",
                s.received,
                s.to_receive,
                s.conn.close_reason(),
                s.conn.stats,
                c.conn.close_reason(),
                c.conn.stats
            );
            for side in [c, s] {
                assert!(
                    side.conn.is_closed(),
                    "{port} not closed: {:?}",
                    side.conn.state()
                );
                let why = side.conn.close_reason();
                assert_eq!(
                    why,
                    Some(fastpath_engine::tcp::CloseReason::Normal),
                    "{port} closed by {why:?}"
                );
                assert_eq!(side.conn.unacked(), 0);
                assert_eq!(side.conn.readable(), 0);
            }
            self.outcome.bytes += (c.received + s.received) as u64;
        }
        assert_eq!(self.listener.half_open(), 0, "half-open connections leaked");
    }
}

//! Whole engines in memory, for tests and examples: real workers (`Worker<MemDevice>`, the
//! same loop as on a NIC) joined by in-memory links, driven in virtual time. No root, no
//! kernel, no sleeping: time jumps to the next deadline when every worker is idle.
//!
//! ```text
//! client engine (worker) ──MemDevice══link══MemDevice── server engine worker 0
//!                                                        server engine worker 1 ...
//! ```
//! Workers of one engine share a socket table and the handoff and loopback queues, as
//! under `Engine::start`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use crate::app::{App, ConnId, Event, Net};
use crate::host::{Host, HostConfig};
use crate::http::Site;
use crate::iface::{Iface, OurAddr, OurAddr6};
use crate::io::memory::MemDevice;
use crate::io::Device;
pub use crate::neighbor::dad::DadConfig;
use crate::stats::Published;
use crate::table::SocketTable;
use crate::tcp::Secrets;
use crate::time::Instant;
use crate::wire::ethernet::MacAddr;
pub use crate::worker::{AddrState, Addrs6};
use crate::worker::{Handoff, Worker, WorkerConfig, WorkerSummary};

pub use crate::io::memory::{link, LinkConfig};

/// The server's address in tests.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The client's address in tests.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The server's link address in tests.
pub const SERVER_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
/// The client's link address in tests.
pub const CLIENT_MAC: MacAddr = [2, 0, 0, 0, 0, 1];

/// One engine: its address, what it serves, its host settings.
pub struct EngineSpec {
    /// The engine's address (a /24).
    pub addr: Ipv4Addr,
    /// The engine's link address.
    pub mac: MacAddr,
    /// Ports it listens on (empty: a client only).
    pub ports: Vec<u16>,
    /// What it serves on its ports.
    pub site: Arc<Site>,
    /// Its host settings (TCP, HTTP, limits).
    pub host: HostConfig,
    /// Its workers' settings.
    pub worker: WorkerConfig,
    /// Depth of each worker's loopback inbox.
    pub loop_depth: usize,
    /// Owned IPv6 addresses with their prefix lengths (neighbour discovery and echo).
    pub addrs6: Vec<(Ipv6Addr, u8)>,
    /// Duplicate address detection for `addrs6` before they are used (default: on, one
    /// probe, 1 s).
    pub dad: DadConfig,
}

impl EngineSpec {
    /// Serves "hello\n" on `addr`:80.
    pub fn server(addr: Ipv4Addr, mac: MacAddr) -> EngineSpec {
        EngineSpec {
            addr,
            mac,
            ports: vec![80],
            site: Arc::new(Site::body("hello\n")),
            host: HostConfig::default(),
            worker: WorkerConfig::default(),
            loop_depth: 1024,
            addrs6: Vec::new(),
            dad: DadConfig::default(),
        }
    }

    /// Listens nowhere: runs apps.
    pub fn client(addr: Ipv4Addr, mac: MacAddr) -> EngineSpec {
        EngineSpec {
            ports: Vec::new(),
            ..EngineSpec::server(addr, mac)
        }
    }
}

/// Workers of any number of engines, stepped together in virtual time.
pub struct Sim {
    /// Virtual time.
    pub now: Instant,
    /// Every engine's workers, in the order they were added.
    pub workers: Vec<Worker<MemDevice>>,
    /// Each worker's engine (an index into `tables`).
    pub engine_of: Vec<usize>,
    /// Each engine's socket table.
    pub tables: Vec<Arc<SocketTable>>,
    /// Each engine's IPv6 addresses and where their duplicate address detection stands.
    pub addrs6: Vec<Arc<Addrs6>>,
    /// While set, frames arriving for worker `.0` are sent on through `.1` (the far end of
    /// another worker's link) instead: a NIC whose steering changed under a connection.
    pub divert: Option<(usize, MemDevice)>,
    /// Time one turn of every worker takes when there was work (so that a busy engine,
    /// a load generator's, still sees time pass).
    pub busy_step: Duration,
}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

impl Sim {
    /// An empty simulation at 10 s of virtual time.
    pub fn new() -> Sim {
        Sim {
            now: Instant::from_secs(10),
            workers: Vec::new(),
            engine_of: Vec::new(),
            tables: Vec::new(),
            addrs6: Vec::new(),
            divert: None,
            busy_step: Duration::from_micros(50),
        }
    }

    /// Adds an engine with one worker per device (its queues), `apps[w]` running in worker
    /// `w`. Returns the workers' indices in `self.workers`.
    pub fn add_engine(
        &mut self,
        spec: EngineSpec,
        devices: Vec<MemDevice>,
        mut apps: Vec<Option<Box<dyn App>>>,
    ) -> Vec<usize> {
        let n = devices.len();
        let table = Arc::new(SocketTable::with_readers(0, n));
        let engine = self.tables.len();
        self.tables.push(table.clone());
        let mesh = Handoff::mesh(n, 1024, spec.loop_depth).expect("eventfds for the wakers");
        let host_cfg = HostConfig {
            workers: n as u16,
            addrs: vec![(spec.addr, 24)],
            addrs6: spec.addrs6.clone(),
            ..spec.host.clone()
        };
        let listen: Vec<std::net::SocketAddr> = spec
            .ports
            .iter()
            .map(|&p| SocketAddrV4::new(spec.addr, p).into())
            .chain(spec.addrs6.iter().flat_map(|&(a, _)| {
                spec.ports
                    .iter()
                    .map(move |&p| std::net::SocketAddr::new(a.into(), p))
            }))
            .collect();
        let our = vec![OurAddr {
            addr: spec.addr,
            prefix: 24,
            owned: true,
        }];
        let shared6 = Addrs6::new(spec.addrs6.iter().map(|(a, _)| *a));
        self.addrs6.push(shared6.clone());
        apps.resize_with(n, || None);
        let mut ids = Vec::new();
        for (w, ((dev, hand), app)) in devices.into_iter().zip(mesh).zip(apps).enumerate() {
            let mut host = Host::new(
                w as u16,
                spec.mac,
                host_cfg.clone(),
                &listen,
                spec.site.clone(),
                table.clone(),
                Secrets::from_master([engine as u8 + 1; 32]),
            );
            host.set_date(1_795_392_000);
            let mut iface = Iface::new(spec.mac, our.clone());
            for &(addr, prefix) in &spec.addrs6 {
                let a = OurAddr6 {
                    addr,
                    prefix,
                    owned: true,
                };
                iface.add_ipv6(a, true);
            }
            // The first worker probes; every worker hears the answers.
            let dad = (w == 0).then(|| {
                crate::neighbor::dad::Dad::new(
                    spec.dad,
                    spec.addrs6.iter().map(|(a, _)| *a),
                    self.now,
                )
            });
            let mut worker = Worker::new(dev, iface, spec.worker.clone(), Published::new())
                .with_host(host, hand)
                .with_ipv6(shared6.clone(), dad);
            if let Some(app) = app {
                worker = worker.with_app(app);
            }
            ids.push(self.workers.len());
            self.workers.push(worker);
            self.engine_of.push(engine);
        }
        ids
    }

    /// Every worker takes one turn at `now`. Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut worked = false;
        for (i, w) in self.workers.iter_mut().enumerate() {
            if let Some((_, via)) = self.divert.as_mut().filter(|(d, _)| *d == i) {
                while let Some(f) = w.device_mut().take() {
                    via.inject(&f);
                }
            }
            worked |= w.poll(self.now);
            w.device_mut().refill();
        }
        worked
            || self
                .workers
                .iter()
                .any(|w| w.device().pending() > 0 || w.has_queued())
    }

    /// Steps until nothing moves, then jumps to the next deadline, until `d` has passed.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until, |_| false);
    }

    /// Like `run_for`, stopping early (returning true) once `done` holds.
    pub fn run_until(&mut self, until: Instant, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        for _ in 0..10_000_000 {
            if done(self) {
                return true;
            }
            if self.step() {
                if self.now >= until {
                    return done(self);
                }
                self.now = (self.now + self.busy_step).min(until);
                continue;
            }
            let next = self.workers.iter().filter_map(|w| w.next_deadline()).min();
            match next {
                // A deadline may be due now yet leave nothing to do (a timer re-armed for
                // later): move on at least a microsecond.
                Some(t) if t <= until => {
                    self.now = t.max(self.now + Duration::from_micros(1)).min(until)
                }
                _ => {
                    self.now = until;
                    self.step();
                    return done(self);
                }
            }
        }
        panic!("the simulation did not settle");
    }

    /// Connections every worker still holds.
    pub fn connections(&self) -> usize {
        self.workers
            .iter()
            .filter_map(|w| w.host())
            .map(|h| h.connections())
            .sum()
    }

    /// Every frame of every device is in exactly one place, and none is held by the loop.
    pub fn assert_frames_settled(&self) {
        for (i, w) in self.workers.iter().enumerate() {
            let a = w.device().accounting();
            assert!(a.balanced(), "worker {i}: {a:?}");
            assert_eq!(a.in_use, 0, "worker {i} holds frames: {a:?}");
        }
    }

    /// Stops every worker and returns what each counted.
    pub fn finish(self) -> Vec<WorkerSummary> {
        self.workers.into_iter().map(|w| w.finish()).collect()
    }
}

/// What a [`Fetch`] got back.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// The connection was established.
    pub connected: bool,
    /// Every byte received.
    pub response: Vec<u8>,
    /// Why the connection closed, once it has.
    pub closed: Option<&'static str>,
}

/// An app that opens one connection, sends `request` once connected (and not before
/// `send_at`), reads until the peer closes, then closes.
pub struct Fetch {
    /// Where to connect.
    pub to: std::net::SocketAddr,
    /// What to send once connected.
    pub request: Vec<u8>,
    /// Not to send before this time.
    pub send_at: Instant,
    conn: Option<ConnId>,
    connected: bool,
    sent: usize,
    /// What came back, shared with the test.
    pub out: Arc<std::sync::Mutex<Fetched>>,
}

impl Fetch {
    /// An app that sends `request` to `to`, and where its result will be.
    pub fn new(
        to: impl Into<std::net::SocketAddr>,
        request: &[u8],
    ) -> (Fetch, Arc<std::sync::Mutex<Fetched>>) {
        let out = Arc::new(std::sync::Mutex::new(Fetched::default()));
        (
            Fetch {
                to: to.into(),
                request: request.to_vec(),
                send_at: Instant::ZERO,
                conn: None,
                connected: false,
                sent: 0,
                out: out.clone(),
            },
            out,
        )
    }

    fn push(&mut self, net: &mut Net<'_>, id: ConnId) {
        while self.sent < self.request.len() {
            let n = net.send(id, &self.request[self.sent..]);
            if n == 0 {
                break;
            }
            self.sent += n;
        }
    }
}

impl App for Fetch {
    fn poll(&mut self, now: Instant, net: &mut Net<'_>) {
        match self.conn {
            None => self.conn = net.connect(self.to).ok(),
            Some(id) if self.connected && now >= self.send_at => self.push(net, id),
            Some(_) => {}
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        (self.connected && self.sent < self.request.len()).then_some(self.send_at)
    }

    fn on_event(&mut self, _now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        let mut out = self.out.lock().expect("not poisoned");
        match event {
            Event::Connected => {
                out.connected = true;
                self.connected = true;
            }
            Event::Writable | Event::Accepted { .. } => {}
            Event::Readable => {
                let mut buf = [0u8; 16384];
                loop {
                    let n = net.recv(id, &mut buf);
                    if n == 0 {
                        break;
                    }
                    out.response.extend_from_slice(&buf[..n]);
                }
            }
            Event::PeerClosed => net.close(id),
            Event::Closed(how) => out.closed = Some(how.as_str()),
        }
    }
}

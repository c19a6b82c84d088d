//! The engine's one way in: an [`EngineConfig`] → [`Engine::start`] → a [`Running`]
//! engine (live counters, `stop` with a grace) → a [`Report`] that is plain data.
//!
//! Starting attaches the XDP steering program to the interface, opens one AF_XDP socket
//! per queue and registers it with the program, then starts one worker per queue, pinned
//! to its core. Everything acts in the calling thread's network namespace. A failure at
//! any step undoes the steps before it (the program is detached, the sockets closed);
//! so does dropping a `Running` without `stop`.
//!
//! ```no_run
//! use fastpath_engine::runtime::{Engine, EngineConfig};
//! let config = EngineConfig::new("eth1", "192.0.2.10/24".parse().unwrap());
//! let running = Engine::start(config)?;
//! std::thread::sleep(std::time::Duration::from_secs(10));
//! let report = running.stop(std::time::Duration::from_secs(5));
//! print!("{}", report.summary());
//! # Ok::<(), fastpath_engine::runtime::StartError>(())
//! ```

mod caps;
mod config;
mod control;
mod error;
mod metrics;
mod report;
mod user;
mod v6;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fastpath_xdp::{AddrMode, AttachedMode, SteerConfig, Steering};

use crate::afxdp::{self, Xsk, XskConfig};
use crate::host::{Host, HostConfig};
use crate::http::Site;
use crate::iface::{Iface, OurAddr};
use crate::pcap::PcapWriter;
use crate::stats::{Counters, Published};
use crate::table::SocketTable;
use crate::tcp::Secrets;
use crate::worker::{inspect_channel, Handoff, StopSignal, Worker, WorkerConfig};

pub use crate::neighbor::dad::DadConfig;
pub use crate::worker::{AddrState, Addrs6};
pub use crate::worker::{FrameHandler, WorkerSummary, DEFAULT_RX_BACKLOG};
pub use caps::missing_capabilities;
pub use config::{
    AfXdpConfig, AppFactory, Cidr, Cidr6, EngineConfig, IpCidr, Queues, ReloadHook, ReloadOutcome,
    Service, XdpConfig, XdpMode, DEFAULT_FRAMES,
};
pub use control::{default_control_path, VERSION as CONTROL_VERSION};
pub use error::StartError;
pub use report::{AddrReport, AtExit, QueueInfo, QueueReport, Report, XdpReport};
pub use user::RunAs;

/// Segments a worker's handoff queue holds (frames that reached the wrong worker).
const HANDOFF_DEPTH: usize = 4096;

/// Starts engines.
pub struct Engine;

impl Engine {
    /// Attaches to `config.iface` and starts one worker per queue. Returns once every
    /// worker runs; the engine serves until [`Running::stop`].
    pub fn start(config: EngineConfig) -> Result<Running, StartError> {
        start(config)
    }
}

/// A running engine: its workers, the attached program, the shared socket table.
pub struct Running {
    // Workers stop before the program detaches (see `Drop` and `stop`).
    workers: Vec<WorkerThread>,
    queues: Vec<QueueInfo>,
    table: Arc<SocketTable>,
    steering: Steering,
    stop: Arc<StopSignal>,
    iface: String,
    addrs: Vec<AddrReport>,
    xdp_mode: AttachedMode,
    started: Instant,
    /// The control channel and the metrics listener (stopped before the workers).
    control: Option<control::Control>,
    metrics: Option<metrics::Metrics>,
}

/// One of the engine's IPv4 addresses and whether it owns it (the kernel lacks it).
struct Ours4 {
    cidr: Cidr,
    owned: bool,
}

struct WorkerThread {
    handle: JoinHandle<WorkerSummary>,
    published: Arc<Published>,
}

impl Running {
    /// Counters summed over the workers, as last published (every 100 ms).
    pub fn stats(&self) -> Counters {
        let mut t = Counters::default();
        for w in &self.workers {
            t.add(&w.published.load());
        }
        t
    }

    /// Each worker's counters, in the order of [`Running::queues`].
    pub fn queue_stats(&self) -> Vec<Counters> {
        self.workers.iter().map(|w| w.published.load()).collect()
    }

    /// The queues and how each was bound.
    pub fn queues(&self) -> &[QueueInfo] {
        &self.queues
    }

    /// Whether a worker has ended. Workers end only when stopped, or by panicking.
    pub fn worker_ended(&self) -> bool {
        self.workers.iter().any(|w| w.handle.is_finished())
    }

    /// Stops accepting, lets in-flight responses finish for up to `grace`, waits for the
    /// workers, detaches the program, and says what happened.
    pub fn stop(mut self, grace: Duration) -> Report {
        self.stop_operations();
        self.stop.request(grace);
        let counters = self
            .steering
            .counters()
            .ok()
            .map(|c| c.iter().collect::<Vec<_>>());
        let outcomes: Vec<Result<WorkerSummary, String>> = self
            .workers
            .drain(..)
            .map(|w| w.handle.join().map_err(panic_text))
            .collect();
        if let Err(e) = self.steering.detach() {
            tracing::error!("{e}");
        }
        let mut total = Counters::default();
        let mut at_exit = AtExit {
            table_entries: self.table.len(),
            ..AtExit::default()
        };
        let queues = std::mem::take(&mut self.queues)
            .into_iter()
            .zip(outcomes)
            .map(|(info, outcome)| {
                if let Ok(s) = &outcome {
                    total.add(&s.counters);
                    at_exit.connections += s.time_wait_left + s.connections_left;
                    at_exit.timer_entries += s.timers_left;
                }
                let (worker, failure) = match outcome {
                    Ok(s) => (Some(s), None),
                    Err(e) => (None, Some(e)),
                };
                QueueReport {
                    info,
                    worker,
                    failure,
                }
            })
            .collect();
        let (mode, native_refused) = match &self.xdp_mode {
            AttachedMode::Native => ("native", None),
            AttachedMode::Generic { native_refused } => ("generic", native_refused.clone()),
        };
        Report {
            iface: self.iface.clone(),
            addrs: self.addrs.clone(),
            xdp: XdpReport {
                mode,
                native_refused,
                counters,
            },
            seconds: self.started.elapsed().as_secs_f64(),
            queues,
            total,
            at_exit,
        }
    }
}

impl Running {
    /// Closes the control socket (removing it) and the metrics listener.
    fn stop_operations(&mut self) {
        if let Some(mut c) = self.control.take() {
            c.stop();
        }
        if let Some(mut m) = self.metrics.take() {
            m.stop();
        }
    }
}

impl Drop for Running {
    /// Dropped without `stop`: the workers stop at once, then the program detaches.
    fn drop(&mut self) {
        self.stop_operations();
        self.stop.request(Duration::ZERO);
        for w in self.workers.drain(..) {
            let _ = w.handle.join();
        }
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    format!("worker panicked: {msg}")
}

fn start(cfg: EngineConfig) -> Result<Running, StartError> {
    let missing = missing_capabilities();
    if !missing.is_empty() {
        return Err(StartError::MissingCapabilities(missing));
    }
    check(&cfg)?;
    // The control socket first: a second engine for the same socket is refused before it
    // touches the interface.
    let control = cfg
        .control
        .as_deref()
        .map(control::Control::bind)
        .transpose()?;
    let iface = cfg.iface.as_str();
    let interface = |what: &'static str| {
        move |err| StartError::Interface {
            iface: iface.to_string(),
            what,
            err,
        }
    };
    let ifindex = afxdp::ifindex(iface).ok_or_else(|| StartError::NoInterface(iface.into()))?;
    let queue_count = afxdp::rx_queue_count(iface).map_err(interface("the queue count"))?;
    let queues = match &cfg.queues {
        Queues::All => (0..queue_count).collect(),
        Queues::Only(list) => list.clone(),
    };
    if let Some(&bad) = queues.iter().find(|&&q| q >= queue_count) {
        return Err(StartError::NoSuchQueue {
            iface: iface.into(),
            queue: bad,
            queues: queue_count,
        });
    }
    if queues.is_empty() {
        return Err(StartError::NoQueues);
    }
    let cores = cores(&cfg, &queues)?;
    let mac = afxdp::mac_address(iface).map_err(interface("the MAC address"))?;

    let plan6 = v6::Plan6::new(&cfg)?;
    let kernel_addrs = afxdp::ipv4_addresses(iface).unwrap_or_default();
    let addrs: Vec<Ours4> = cfg
        .addrs
        .iter()
        .map(|&cidr| Ours4 {
            cidr,
            owned: !kernel_addrs.iter().any(|(a, _)| *a == cidr.addr),
        })
        .collect();
    // The responder listens on every address of both families.
    let all_ips: Vec<IpAddr> = addrs
        .iter()
        .map(|a| IpAddr::V4(a.cidr.addr))
        .chain(plan6.addrs.iter().map(|(c, _)| IpAddr::V6(c.addr)))
        .collect();
    let listen: Vec<SocketAddr> = all_ips
        .iter()
        .flat_map(|&ip| {
            cfg.listen_ports()
                .iter()
                .map(move |&p| SocketAddr::new(ip, p))
        })
        .collect();
    for a in &addrs {
        if a.owned {
            tracing::info!(
                "{} is not on {iface} in the kernel: the engine owns it and answers ARP and ICMP echo itself",
                a.cidr
            );
        } else {
            tracing::info!(
                "{} is shared with the kernel on {iface}: the kernel keeps ARP, ICMP and other ports; the engine takes TCP port(s) {:?}",
                a.cidr,
                cfg.listen_ports()
            );
        }
    }

    let steered: Vec<(std::net::IpAddr, u16)> = if let Service::Frames(h) = &cfg.service {
        addrs
            .iter()
            .map(|a| (a.cidr.addr.into(), h.port()))
            .collect()
    } else {
        // The responder's ports, then those the applications may listen on.
        let app = all_ips
            .iter()
            .flat_map(|&ip| cfg.app_ports.iter().map(move |&p| (ip, p)));
        listen
            .iter()
            .map(|a| (a.ip(), a.port()))
            .chain(app)
            .collect()
    };
    let mut steering = Steering::load(&SteerConfig {
        addrs: addrs
            .iter()
            .map(|a| {
                let mode = if a.owned {
                    AddrMode::Owned
                } else {
                    AddrMode::Shared
                };
                (a.cidr.addr.into(), mode)
            })
            .chain(plan6.addrs.iter().map(|&(c, owned)| {
                let mode = if owned {
                    AddrMode::Owned
                } else {
                    AddrMode::Shared
                };
                (c.addr.into(), mode)
            }))
            .collect(),
        ports: steered,
        local_port_range: Some(cfg.local_ports),
        sockets_per_queue: 1,
    })?;
    // Attach before binding sockets: a foreign program is reported as such, not as a busy
    // queue. An error from here on detaches (Steering's Drop).
    let xdp_mode = steering.attach(ifindex, cfg.xdp.mode, cfg.xdp.force)?;
    tracing::info!("XDP steering program attached to {iface} in {xdp_mode} mode");

    // Until a queue's socket is registered, its frames fall back to the kernel.
    let mut sockets = Vec::new();
    for &q in &queues {
        let mut c = XskConfig::new(iface, q);
        c.mode = cfg.afxdp.mode;
        c.frame_count = cfg.afxdp.frames;
        c.rx_ring = cfg.afxdp.rx_ring;
        c.fill_ring = cfg.afxdp.fill_ring;
        if cfg.afxdp.busy_poll {
            c.busy_poll = Some(afxdp::BusyPoll {
                usecs: 20,
                budget: 64,
            });
        }
        let xsk = Xsk::open(&c).map_err(|err| StartError::Socket {
            iface: iface.into(),
            queue: q,
            err,
        })?;
        match xsk.fallback_reason() {
            Some(why) => tracing::info!(
                "{iface} queue {q}: AF_XDP {} mode ({why})",
                xsk.granted_mode()
            ),
            None => tracing::info!("{iface} queue {q}: AF_XDP {} mode", xsk.granted_mode()),
        }
        if xsk.hugepages() {
            tracing::debug!("{iface} queue {q}: UMEM on huge pages");
        }
        steering.register_socket(q, xsk.fd())?;
        sockets.push(xsk);
    }

    let pcap = match &cfg.pcap {
        Some(path) => Some(Arc::new(Mutex::new(PcapWriter::create(path).map_err(
            |err| StartError::Pcap {
                path: path.clone(),
                err,
            },
        )?))),
        None => None,
    };
    let host_cfg = HostConfig {
        tcp: cfg.tcp,
        http: cfg.http.clone(),
        max_conns: cfg.max_conns,
        max_time_wait: cfg.max_time_wait,
        backlog: cfg.backlog.max(1),
        addrs: cfg.addrs.iter().map(|c| (c.addr, c.prefix)).collect(),
        gateway: cfg.gateway,
        addrs6: plan6
            .addrs
            .iter()
            .map(|(c, _)| (c.addr, c.prefix))
            .collect(),
        gateway6: cfg.gateway6,
        local_ports: cfg.local_ports,
        workers: queues.len() as u16,
        app_ports: Some(cfg.app_ports.clone()),
    };
    let site = match &cfg.service {
        Service::Http(site) => site.clone(),
        Service::None | Service::Frames(_) => Arc::new(Site::hello()),
    };
    let our: Vec<OurAddr> = addrs
        .iter()
        .map(|a| OurAddr {
            addr: a.cidr.addr,
            prefix: a.cidr.prefix,
            owned: a.owned,
        })
        .collect();
    let wcfg = WorkerConfig {
        busy_poll: cfg.afxdp.busy_poll,
        rx_backlog: cfg.afxdp.rx_backlog,
        frames: match &cfg.service {
            Service::Frames(h) => Some(h.clone()),
            _ => None,
        },
        ..WorkerConfig::default()
    };
    let table = Arc::new(SocketTable::with_readers(
        cfg.max_conns.saturating_mul(queues.len()).min(1 << 18),
        queues.len(),
    ));
    let handoffs =
        Handoff::mesh(queues.len(), HANDOFF_DEPTH, cfg.loopback_inbox).map_err(|err| {
            StartError::Os {
                what: "creating the queues between workers",
                err,
            }
        })?;
    let wakers = handoffs
        .first()
        .map(|h| h.wakers.clone())
        .unwrap_or_default();
    let mut handoffs = handoffs.into_iter();
    let mut inspect = Vec::new();
    let secrets = random_secrets()?;
    let stop = StopSignal::new();
    let mut running = Running {
        workers: Vec::new(),
        queues: Vec::new(),
        table: table.clone(),
        steering,
        stop: stop.clone(),
        iface: iface.to_string(),
        addrs: addrs
            .iter()
            .map(|a| AddrReport {
                cidr: IpCidr::V4(a.cidr),
                owned: a.owned,
            })
            .chain(plan6.addrs.iter().map(|&(c, owned)| AddrReport {
                cidr: IpCidr::V6(c),
                owned,
            }))
            .collect(),
        xdp_mode: xdp_mode.clone(),
        started: Instant::now(),
        control,
        metrics: None,
    };
    let n = queues.len();
    for (w, ((xsk, &q), core)) in sockets.into_iter().zip(&queues).zip(cores).enumerate() {
        let published = Published::new();
        let info = QueueInfo {
            queue: q,
            core,
            afxdp_mode: xsk.granted_mode(),
            fallback: xsk.fallback_reason().map(str::to_string),
        };
        let host = Host::new(
            w as u16,
            mac,
            host_cfg.clone(),
            &listen,
            site.clone(),
            table.clone(),
            secrets.clone(),
        );
        let mut wcfg = wcfg.clone();
        // Only the first worker sends a frame handler's initial frames.
        wcfg.initial_frames = w == 0;
        let mut iface6 = Iface::new(mac, our.clone());
        iface6.set_seed(secrets.icmp_seed() ^ w as u64);
        plan6.add_to(&mut iface6);
        // The first worker probes for duplicates; every worker hears the answers.
        let mut worker = Worker::new(xsk, iface6, wcfg, published.clone())
            .with_host(host, handoffs.next().expect("one handoff per worker"))
            .with_ipv6(plan6.shared.clone(), (w == 0).then(|| plan6.dad(&cfg)));
        if let Some(p) = &pcap {
            worker = worker.with_pcap(p.clone());
        }
        let (asker, inspector) = inspect_channel(wakers.get(w).cloned());
        worker = worker.with_inspector(inspector);
        inspect.push(asker);
        if let Some(app) = cfg.apps.as_ref().and_then(|f| f.make(w, n)) {
            worker = worker.with_app(app);
        }
        let stop = stop.clone();
        let run_as = cfg.user.clone();
        let (dropped_tx, dropped_rx) = std::sync::mpsc::sync_channel(1);
        // A failure here drops `running`: the workers already started stop, the program
        // detaches.
        let handle = std::thread::Builder::new()
            .name(format!("fastpath-q{q}"))
            .spawn(move || {
                if let Some(c) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                        tracing::warn!("queue {q}: could not pin to CPU {c}");
                    }
                }
                if let Some(u) = run_as {
                    // Everything privileged is done: the socket is bound, its rings
                    // mapped, the program attached. A worker that cannot drop root
                    // does not serve.
                    let dropped = afxdp::drop_thread_privileges(u.uid, u.gid);
                    let failed = dropped.is_err();
                    let _ = dropped_tx.send(dropped);
                    if failed {
                        return worker.finish();
                    }
                }
                worker.run(&stop)
            })
            .map_err(|err| StartError::Os {
                what: "starting a worker thread",
                err,
            })?;
        running.workers.push(WorkerThread {
            handle,
            published: published.clone(),
        });
        running.queues.push(info);
        if let Some(u) = &cfg.user {
            match dropped_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    return Err(StartError::User {
                        name: u.name.clone(),
                        err: err.to_string(),
                    })
                }
                Err(_) => {
                    return Err(StartError::User {
                        name: u.name.clone(),
                        err: "the worker ended first".into(),
                    })
                }
            }
        }
    }
    if let Some(u) = &cfg.user {
        tracing::info!(
            "workers run as {} (uid {}, gid {}) with no capability",
            u.name,
            u.uid,
            u.gid
        );
    }
    // RFC 4862 5.4: the owned IPv6 addresses are used once found unique; a duplicate
    // fails the start (dropping `running` stops the workers and detaches).
    plan6.wait(&cfg)?;
    start_operations(&cfg, &mut running, &xdp_mode, inspect)?;
    Ok(running)
}

/// The control channel and the metrics listener, reading the started engine.
fn start_operations(
    cfg: &EngineConfig,
    running: &mut Running,
    xdp_mode: &AttachedMode,
    inspect: Vec<crate::worker::InspectHandle>,
) -> Result<(), StartError> {
    if running.control.is_none() && cfg.metrics.is_none() {
        return Ok(());
    }
    let (mode, native_refused) = match xdp_mode {
        AttachedMode::Native => ("native", None),
        AttachedMode::Generic { native_refused } => ("generic", native_refused.clone()),
    };
    let view = Arc::new(control::View {
        iface: running.iface.clone(),
        addrs: running.addrs.clone(),
        ports: cfg.listen_ports().to_vec(),
        local_ports: cfg.local_ports,
        xdp_mode: mode,
        native_refused,
        busy_poll: cfg.afxdp.busy_poll,
        queues: running.queues.clone(),
        published: running
            .workers
            .iter()
            .map(|w| w.published.clone())
            .collect(),
        inspect,
        table: running.table.clone(),
        started: running.started,
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        control: cfg.control.clone(),
        metrics: cfg.metrics,
        reload: cfg.reload.clone(),
    });
    if let Some(c) = &mut running.control {
        c.serve(view.clone())?;
    }
    if let Some(addr) = cfg.metrics {
        running.metrics = Some(metrics::Metrics::start(addr, view)?);
    }
    Ok(())
}

/// What can be refused before touching the interface.
fn check(cfg: &EngineConfig) -> Result<(), StartError> {
    if cfg.addrs.is_empty() {
        return Err(StartError::NoAddress);
    }
    if cfg.max_conns == 0 {
        return Err(StartError::NoConnections);
    }
    let (lo, hi) = cfg.local_ports;
    if lo == 0 || lo > hi {
        return Err(StartError::BadLocalPorts { lo, hi });
    }
    if let Some(&p) = cfg
        .app_ports
        .iter()
        .find(|p| **p == 0 || cfg.listen_ports().contains(p))
    {
        return Err(StartError::AppPort(p));
    }
    Ok(())
}

/// The core of each queue's worker.
fn cores(cfg: &EngineConfig, queues: &[u32]) -> Result<Vec<Option<usize>>, StartError> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    match &cfg.cores {
        Some(list) => {
            if list.len() < queues.len() {
                return Err(StartError::TooFewCores {
                    cores: list.len(),
                    queues: queues.len(),
                });
            }
            if let Some(&bad) = list.iter().find(|&&c| c >= cpus) {
                return Err(StartError::NoSuchCpu { cpu: bad, cpus });
            }
            Ok(list.iter().map(|&c| Some(c)).collect())
        }
        None => Ok(queues.iter().map(|&q| Some(q as usize % cpus)).collect()),
    }
}

/// The keys for ISNs, SYN cookies and the ephemeral port start (RFC 6528, RFC 4987),
/// from a master fresh at every start.
fn random_secrets() -> Result<Secrets, StartError> {
    use std::io::Read;
    let mut master = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut master))
        .map_err(|err| StartError::Os {
            what: "reading /dev/urandom for the TCP secrets",
            err,
        })?;
    Ok(Secrets::from_master(master))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EngineConfig {
        EngineConfig::new("x", "10.0.0.2/24".parse().unwrap())
    }

    #[test]
    fn refused_before_touching_anything() {
        let mut c = cfg();
        c.max_conns = 0;
        assert!(matches!(check(&c), Err(StartError::NoConnections)));
        let mut c = cfg();
        c.addrs.clear();
        assert!(matches!(check(&c), Err(StartError::NoAddress)));
        let mut c = cfg();
        c.local_ports = (5, 4);
        assert!(matches!(check(&c), Err(StartError::BadLocalPorts { .. })));
        assert!(check(&cfg()).is_ok());
    }

    #[test]
    fn one_core_per_queue() {
        let mut c = cfg();
        assert_eq!(cores(&c, &[0]).unwrap(), vec![Some(0)]);
        c.cores = Some(vec![0]);
        assert!(matches!(
            cores(&c, &[0, 1]),
            Err(StartError::TooFewCores {
                cores: 1,
                queues: 2
            })
        ));
        c.cores = Some(vec![0, 100_000]);
        assert!(matches!(
            cores(&c, &[0, 1]),
            Err(StartError::NoSuchCpu { cpu: 100_000, .. })
        ));
    }
}

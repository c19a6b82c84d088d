//! `fastpath serve`: attach to an interface and run one worker per queue until stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fastpath_engine::afxdp::{self, GrantedMode, Xsk, XskConfig};
use fastpath_engine::app::App;
use fastpath_engine::host::{Host, HostConfig};
use fastpath_engine::http::{HttpConfig, Site};
use fastpath_engine::iface::{Iface, OurAddr};
use fastpath_engine::pcap::PcapWriter;
use fastpath_engine::stats::{Counters, Published};
use fastpath_engine::table::SocketTable;
use fastpath_engine::tcp::TcpConfig;
use fastpath_engine::worker::{Handoff, Worker, WorkerConfig, WorkerSummary};
use fastpath_xdp::{AddrMode, AttachedMode, SteerConfig, Steering};

use crate::cli::ServeArgs;

/// One queue's worker as started.
pub struct QueueInfo {
    pub queue: u32,
    pub core: Option<usize>,
    pub mode: GrantedMode,
    pub fallback: Option<String>,
}

/// A running engine: the attached program and its workers.
pub struct Running {
    // Workers stop before the program detaches (field order is drop order).
    workers: Vec<(QueueInfo, JoinHandle<WorkerSummary>, Arc<Published>)>,
    table: Arc<SocketTable>,
    steering: Steering,
    stop: Arc<AtomicBool>,
    xdp_mode: AttachedMode,
}

/// What the engine did, for the summary at exit.
pub struct Report {
    pub xdp_mode: AttachedMode,
    /// Entries left in the shared socket table when the workers had stopped.
    pub table_left: usize,
    pub queues: Vec<(QueueInfo, Result<WorkerSummary, String>)>,
    pub steering: Option<fastpath_xdp::Counters>,
}

impl Running {
    /// Counters summed over workers (as last published).
    pub fn totals(&self) -> Counters {
        let mut t = Counters::default();
        for (_, _, p) in &self.workers {
            t.add(&p.load());
        }
        t
    }

    /// Whether a worker thread has ended (it only does so on its own by panicking).
    pub fn worker_ended(&self) -> bool {
        self.workers.iter().any(|(_, h, _)| h.is_finished())
    }

    pub fn queues(&self) -> impl Iterator<Item = &QueueInfo> {
        self.workers.iter().map(|(q, _, _)| q)
    }

    /// Stops the workers, waits for them, detaches the program.
    pub fn stop(mut self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        let steering_counters = self.steering.counters().ok();
        let queues = self
            .workers
            .drain(..)
            .map(|(info, handle, _)| {
                let r = handle.join().map_err(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    format!("worker panicked: {msg}")
                });
                (info, r)
            })
            .collect();
        if let Err(e) = self.steering.detach() {
            tracing::error!("{e}");
        }
        Report {
            table_left: self.table.len(),
            xdp_mode: self.xdp_mode.clone(),
            queues,
            steering: steering_counters,
        }
    }
}

/// `serve`'s options from a command line written by another command (`load`, `reflect`),
/// so every default is the one `serve` documents.
pub fn args_from(argv: &[String]) -> anyhow::Result<Box<ServeArgs>> {
    use clap::Parser;
    match crate::cli::Cli::try_parse_from(argv)
        .context("building the engine's options")?
        .command
    {
        crate::cli::Command::Serve(a) => Ok(a),
        _ => unreachable!("the command line names serve"),
    }
}

/// Builds the application a worker runs beside the server, if any: given (worker, workers).
pub type AppFactory<'a> = &'a mut dyn FnMut(usize, usize) -> Option<Box<dyn App>>;

/// Starts the engine on `args.iface` in the calling thread's network namespace.
pub fn start(args: &ServeArgs, stop: Arc<AtomicBool>) -> anyhow::Result<Running> {
    start_with(args, stop, &mut |_, _| None)
}

/// Like `start`, with an application in each worker (the load generator).
pub fn start_with(
    args: &ServeArgs,
    stop: Arc<AtomicBool>,
    apps: AppFactory<'_>,
) -> anyhow::Result<Running> {
    crate::caps::check()?;
    let ifname = args.iface.as_str();
    let ifindex = afxdp::ifindex(ifname)
        .with_context(|| format!("no interface '{ifname}' here (see `ip link`)"))?;
    let queue_count = afxdp::rx_queue_count(ifname)
        .with_context(|| format!("reading the queue count of {ifname}"))?;
    let queues = args
        .queues
        .resolve(queue_count, &format!("{ifname} queue"))
        .map_err(|e| anyhow::anyhow!("{e} (see `ethtool -l {ifname}`)"))?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores: Vec<Option<usize>> = match &args.cores {
        Some(list) => {
            if list.ids().len() < queues.len() {
                bail!(
                    "--cores names {} core(s) for {} queue(s): give one core per queue",
                    list.ids().len(),
                    queues.len()
                );
            }
            if let Some(bad) = list.ids().iter().find(|&&c| c as usize >= cpus) {
                bail!("--cores: CPU {bad} does not exist (this machine has {cpus})");
            }
            list.ids().iter().map(|&c| Some(c as usize)).collect()
        }
        None => queues.iter().map(|&q| Some(q as usize % cpus)).collect(),
    };

    let site = Arc::new(site_from(args)?);
    let mut host_cfg = host_config(args)?;
    host_cfg.addrs = vec![(args.ip.addr, args.ip.prefix)];
    host_cfg.gateway = args.gateway;
    host_cfg.local_ports = (args.local_ports.lo, args.local_ports.hi);
    host_cfg.workers = queues.len() as u16;

    let mac = afxdp::mac_address(ifname).with_context(|| format!("reading the MAC of {ifname}"))?;
    let kernel_addrs = afxdp::ipv4_addresses(ifname).unwrap_or_default();
    let owned = !kernel_addrs.iter().any(|(a, _)| *a == args.ip.addr);
    if owned {
        tracing::info!(
            "{} is not on {ifname} in the kernel: the engine owns it and answers ARP and ICMP echo itself",
            args.ip
        );
    } else {
        tracing::info!(
            "{} is shared with the kernel on {ifname}: the kernel keeps ARP, ICMP and other ports; the engine takes TCP port(s) {:?}",
            args.ip,
            args.ports
        );
    }

    let cfg = SteerConfig {
        addrs: vec![(
            args.ip.addr,
            if owned {
                AddrMode::Owned
            } else {
                AddrMode::Shared
            },
        )],
        ports: if args.no_listen {
            Vec::new()
        } else {
            args.ports.iter().map(|&p| (args.ip.addr, p)).collect()
        },
        local_port_range: Some((args.local_ports.lo, args.local_ports.hi)),
        sockets_per_queue: 1,
    };
    let mut steering = Steering::load(&cfg)?;
    // Attach before binding sockets: a foreign program is reported as such, not as a busy
    // queue. An error from here on detaches (Steering's Drop).
    let xdp_mode = steering.attach(ifindex, args.xdp_mode, args.force)?;
    tracing::info!("XDP steering program attached to {ifname} in {xdp_mode} mode");

    // Until a queue's socket is registered, its frames fall back to the kernel.
    let mut sockets = Vec::new();
    for &q in &queues {
        let mut c = XskConfig::new(ifname, q);
        c.mode = args.mode;
        c.frame_count = args.frames;
        if args.busy_poll {
            c.busy_poll = Some(afxdp::BusyPoll {
                usecs: 20,
                budget: 64,
            });
        }
        let xsk = Xsk::open(&c).with_context(|| format!("queue {q} of {ifname}"))?;
        match xsk.fallback_reason() {
            Some(why) => tracing::info!(
                "{ifname} queue {q}: AF_XDP {} mode ({why})",
                xsk.granted_mode()
            ),
            None => tracing::info!("{ifname} queue {q}: AF_XDP {} mode", xsk.granted_mode()),
        }
        if xsk.hugepages() {
            tracing::debug!("{ifname} queue {q}: UMEM on huge pages");
        }
        steering.register_socket(q, xsk.fd())?;
        sockets.push(xsk);
    }

    let pcap = match &args.pcap {
        Some(path) => Some(Arc::new(Mutex::new(
            PcapWriter::create(path).with_context(|| format!("creating {}", path.display()))?,
        ))),
        None => None,
    };
    let our = OurAddr {
        addr: args.ip.addr,
        prefix: args.ip.prefix,
        owned,
    };
    let wcfg = WorkerConfig {
        busy_poll: args.busy_poll,
        grace: secs("--grace", args.grace)?,
        reflect: args.reflect,
        ..WorkerConfig::default()
    };
    let table = Arc::new(SocketTable::with_capacity(
        host_cfg.max_conns.saturating_mul(queues.len()).min(1 << 18),
    ));
    let mut handoffs = Handoff::mesh(queues.len(), 4096, args.loopback_inbox)
        .context("creating the queues between workers")?
        .into_iter();
    let secret = random_secret()?;
    let listen: Vec<std::net::SocketAddrV4> = if args.no_listen {
        Vec::new()
    } else {
        args.ports
            .iter()
            .map(|&p| std::net::SocketAddrV4::new(args.ip.addr, p))
            .collect()
    };
    let mut workers = Vec::new();
    for (w, ((xsk, &q), core)) in sockets.into_iter().zip(&queues).zip(cores).enumerate() {
        let published = Published::new();
        let info = QueueInfo {
            queue: q,
            core,
            mode: xsk.granted_mode(),
            fallback: xsk.fallback_reason().map(str::to_string),
        };
        let host = Host::new(
            w as u16,
            mac,
            host_cfg.clone(),
            &listen,
            site.clone(),
            table.clone(),
            secret,
        );
        let mut wcfg = wcfg.clone();
        if w == 0 {
            // Only the first worker starts the bouncing.
            wcfg.inject = args.inject.clone();
        }
        let mut worker = Worker::new(xsk, Iface::new(mac, vec![our]), wcfg, published.clone())
            .with_host(host, handoffs.next().expect("one handoff per worker"));
        if let Some(p) = &pcap {
            worker = worker.with_pcap(p.clone());
        }
        if let Some(app) = apps(w, queues.len()) {
            worker = worker.with_app(app);
        }
        let stop = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("fastpath-q{q}"))
            .spawn(move || {
                if let Some(c) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                        tracing::warn!("queue {q}: could not pin to CPU {c}");
                    }
                }
                worker.run(&stop)
            })
            .context("starting a worker thread")?;
        workers.push((info, handle, published));
    }
    Ok(Running {
        workers,
        table,
        steering,
        stop,
        xdp_mode,
    })
}

/// One stats line: rates since the last line, drops by reason.
/// What to serve: `--root`, `--body`, or the default hello.
fn site_from(args: &ServeArgs) -> anyhow::Result<Site> {
    Ok(match (&args.root, &args.body) {
        (Some(dir), _) => {
            let site = Site::load_dir(dir, args.root_max_bytes)?;
            if let Site::Root { files, bytes } = &site {
                tracing::info!(
                    "serving {} file(s), {bytes} bytes, from {} (in memory)",
                    files.len(),
                    dir.display()
                );
            }
            site
        }
        (None, Some(text)) => Site::body(text),
        (None, None) => Site::hello(),
    })
}

pub(crate) fn secs(flag: &str, v: f64) -> anyhow::Result<Duration> {
    if !v.is_finite() || v < 0.0 {
        bail!("{flag} {v}: give a number of seconds, 0 or more");
    }
    Ok(Duration::from_secs_f64(v))
}

fn host_config(args: &ServeArgs) -> anyhow::Result<HostConfig> {
    if args.max_conns == 0 {
        bail!("--max-conns 0: the engine could hold no connection; give 1 or more");
    }
    let tcp = TcpConfig {
        time_wait: secs("--time-wait", args.time_wait)?,
        data_retries: args.tcp_retries,
        ecn: args.ecn,
        ..TcpConfig::default()
    };
    let http = HttpConfig {
        header_timeout: secs("--header-timeout", args.header_timeout)?,
        keepalive_timeout: secs("--keepalive-timeout", args.keepalive_timeout)?,
        send_timeout: secs("--send-timeout", args.send_timeout)?,
        max_body: args.max_body,
        ..HttpConfig::default()
    };
    Ok(HostConfig {
        tcp,
        http,
        max_conns: args.max_conns,
        max_time_wait: args.max_time_wait,
        backlog: args.backlog.max(1),
        ..HostConfig::default()
    })
}

/// The key for ISNs and SYN cookies (RFC 6528, RFC 4987): fresh at every start.
fn random_secret() -> anyhow::Result<[u8; 32]> {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .context("reading /dev/urandom for the TCP secret")?;
    Ok(key)
}

pub fn stats_line(
    elapsed: Duration,
    now: &Counters,
    before: &Counters,
    interval: Duration,
) -> String {
    let secs = interval.as_secs_f64().max(1e-3);
    let rate = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / secs;
    format!(
        "[{:>4.0}s] {:.0} req/s, {} conns open ({:.0} new/s) | rx {:.0} tx {:.0} frames/s | 2xx {} 4xx {} 5xx {} | arp {} icmp {} rst {} | drops: malformed {} fragment {} unsupported {} tx_full {} handoff {}",
        elapsed.as_secs_f64(),
        rate(now.http_requests, before.http_requests),
        now.conns_accepted.saturating_sub(now.conns_closed),
        rate(now.conns_accepted, before.conns_accepted),
        rate(now.rx_frames, before.rx_frames),
        rate(now.tx_frames, before.tx_frames),
        now.http_2xx,
        now.http_4xx,
        now.http_5xx,
        now.arp_replies,
        now.icmp_echo_replies,
        now.tcp_rst_sent,
        now.drop_malformed,
        now.drop_fragment,
        now.drop_unsupported,
        now.drop_tx_full,
        now.handoff_dropped,
    )
}

/// The summary printed at exit.
pub fn print_report(r: &Report) {
    println!("fastpath summary (XDP program in {} mode):", r.xdp_mode);
    let mut total = Counters::default();
    for (q, res) in &r.queues {
        match res {
            Ok(s) => {
                total.add(&s.counters);
                let a = &s.frames;
                println!(
                    "  queue {}: AF_XDP {} mode{}, core {}, rx {} tx {} frames; frames free {} kernel-rx {} in-use {} kernel-tx {} of {}{}",
                    q.queue,
                    q.mode,
                    q.fallback.as_deref().map(|w| format!(" ({w})")).unwrap_or_default(),
                    q.core.map_or("-".into(), |c| c.to_string()),
                    s.counters.rx_frames,
                    s.counters.tx_frames,
                    a.free,
                    a.kernel_rx,
                    a.in_use,
                    a.kernel_tx,
                    a.total,
                    if a.balanced() { "" } else { " (UNBALANCED)" }
                );
                let c = &s.counters;
                println!(
                    "    connections {} accepted, {} closed, {} left in TIME_WAIT, {} left in other states, {} refused, {} skipped TIME_WAIT; requests {} (2xx {}, 4xx {}, 5xx {}); handoffs out {} in {} dropped {}",
                    c.conns_accepted,
                    c.conns_closed,
                    s.time_wait_left,
                    s.connections_left,
                    c.conns_refused,
                    c.conns_tw_overflow,
                    c.http_requests,
                    c.http_2xx,
                    c.http_4xx,
                    c.http_5xx,
                    c.handoff_out,
                    c.handoff_in,
                    c.handoff_dropped
                );
                println!(
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
                println!(
                    "    tcp recovery: timeouts {}, tail loss probes {}, spurious retransmits {} (D-SACK), undone {}, duplicates received {}; ECN: CE received {}, reductions {}",
                    c.tcp_rto_expiries,
                    c.tcp_tail_loss_probes,
                    c.tcp_spurious_retransmits,
                    c.tcp_undos,
                    c.tcp_duplicates_received,
                    c.tcp_ce_received,
                    c.tcp_ecn_reductions
                );
                println!(
                    "    http timeouts: header {}, idle {}, send {}",
                    c.http_header_timeouts, c.http_idle_timeouts, c.http_send_timeouts
                );
                if c.loopback_out + c.loopback_in + c.conns_opened > 0 {
                    println!(
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
                    println!("    malformed by reason: {}", bad.join(", "));
                }
            }
            Err(e) => println!("  queue {}: {e}", q.queue),
        }
    }
    println!(
        "  total: rx {} frames ({} bytes), tx {} frames ({} bytes); arp replies {}, echo replies {}, resets {}; connections {}, requests {}",
        total.rx_frames, total.rx_bytes, total.tx_frames, total.tx_bytes, total.arp_replies,
        total.icmp_echo_replies, total.tcp_rst_sent, total.conns_accepted, total.http_requests
    );
    let (held, timers) = r
        .queues
        .iter()
        .filter_map(|(_, q)| q.as_ref().ok())
        .fold((0, 0), |(h, t), s| {
            (h + s.time_wait_left + s.connections_left, t + s.timers_left)
        });
    println!(
        "  at exit: {held} connections held, {} socket table entries{}, {timers} timer wheel entries",
        r.table_left,
        if r.table_left == held {
            ""
        } else {
            " (MISMATCH)"
        }
    );
    if let Some(c) = &r.steering {
        let parts: Vec<String> = c
            .iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("  XDP program: {}", parts.join(", "));
    }
}

pub fn main(args: &ServeArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    if args.self_load {
        return crate::load::self_load(args, stop);
    }
    let running = start(args, stop.clone())?;
    tracing::info!(
        "serving {} on {} ({} queue(s)); Ctrl-C to stop",
        args.ip,
        args.iface,
        running.queues().count()
    );
    let started = Instant::now();
    let interval = Duration::from_secs(args.stats_interval.max(1));
    let mut last = Counters::default();
    let mut last_at = Instant::now();
    let deadline = args
        .duration
        .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
    while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(50));
        if running.worker_ended() {
            tracing::error!("a worker stopped unexpectedly: shutting down");
            break;
        }
        if args.stats_interval > 0 && last_at.elapsed() >= interval {
            let now = running.totals();
            println!(
                "{}",
                stats_line(started.elapsed(), &now, &last, last_at.elapsed())
            );
            last = now;
            last_at = Instant::now();
        }
    }
    let report = running.stop();
    print_report(&report);
    if report.queues.iter().any(|(_, r)| r.is_err()) {
        bail!("a worker failed (see above); the XDP program was detached");
    }
    Ok(())
}

//! `fastpath serve`: the engine's configuration from flags, start, stats lines until a
//! signal or `--duration`, the summary (and `--report-json`) at exit.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fastpath_engine::afxdp::XskError;
use fastpath_engine::http::{
    AccessLogger, HttpConfig, LiveSite, LoadOptions, LogFormat, Site, SiteError, QUEUE_RECORDS,
};
use fastpath_engine::runtime::{
    AfXdpConfig, Engine, EngineConfig, Queues, ReloadHook, ReloadOutcome, Running, Service,
    StartError, XdpConfig,
};
use fastpath_engine::stats::Counters;
use fastpath_engine::tcp::TcpConfig;
use fastpath_xdp::XdpError;

use crate::cli::{AccessLogFormat, Addresses, ServeArgs};
use crate::lists::{IdList, Selection};

/// The engine `serve`'s flags describe.
pub fn engine_config(args: &ServeArgs) -> anyhow::Result<EngineConfig> {
    let mut c = EngineConfig::new(&args.iface, args.ipv4()?);
    c.addrs = args.ipv4_all();
    c.addrs6 = args.ipv6_all();
    (c.gateway, c.gateway6) = args.gateways()?;
    c.queues = queues(&args.queues);
    c.cores = cores(&args.cores);
    c.ports = args.ports.clone();
    c.local_ports = (args.local_ports.lo, args.local_ports.hi);
    c.afxdp = AfXdpConfig {
        mode: args.mode,
        frames: args.frames,
        rx_ring: args.rx_ring,
        fill_ring: args.fill_ring,
        rx_backlog: args.rx_backlog,
        busy_poll: args.busy_poll,
    };
    c.xdp = XdpConfig {
        mode: args.xdp_mode,
        force: args.force,
    };
    c.tcp = TcpConfig {
        time_wait: secs("--time-wait", args.time_wait)?,
        data_retries: args.tcp_retries,
        ecn: args.ecn,
        cc: args.cc,
        ..TcpConfig::default()
    };
    c.http = HttpConfig {
        header_timeout: secs("--header-timeout", args.header_timeout)?,
        keepalive_timeout: secs("--keepalive-timeout", args.keepalive_timeout)?,
        send_timeout: secs("--send-timeout", args.send_timeout)?,
        max_body: args.max_body,
        cache_control: args.cache_control.clone(),
        ..HttpConfig::default()
    };
    c.max_conns = args.max_conns;
    c.max_time_wait = args.max_time_wait;
    c.backlog = args.backlog;
    c.loopback_inbox = args.loopback_inbox;
    c.pcap = args.pcap.clone();
    if let Some(path) = &args.control {
        c.control = Some(path.clone());
    }
    c.metrics = args.metrics;
    if let Some(name) = &args.user {
        c.user = Some(
            fastpath_engine::runtime::RunAs::lookup(name)
                .map_err(|e| anyhow::anyhow!("--user: {e}"))?,
        );
    }
    c.service = Service::Http(Arc::new(site_from(args)?));
    Ok(c)
}

/// `--cores`: one CPU per queue, in the order of the queues.
pub fn cores(list: &Option<IdList>) -> Option<Vec<usize>> {
    list.as_ref()
        .map(|l| l.ids().iter().map(|&c| c as usize).collect())
}

/// `--queues`.
pub fn queues(s: &Selection) -> Queues {
    match s {
        Selection::All => Queues::All,
        Selection::Only(list) => Queues::Only(list.ids().to_vec()),
    }
}

/// Starts the engine, with a start failure said in terms of the command's flags.
pub fn start(config: EngineConfig) -> anyhow::Result<Running> {
    Engine::start(config).map_err(start_error)
}

/// The engine's start error in the command line's words: what to change, by flag.
pub fn start_error(e: StartError) -> anyhow::Error {
    let text = match &e {
        StartError::MissingCapabilities(caps) => format!(
            "missing {}: run as root (sudo fastpath ...) or grant them with \
             `setcap cap_net_admin,cap_net_raw,cap_bpf,cap_sys_admin+ep $(which fastpath)`",
            caps.join(", ")
        ),
        StartError::NoSuchQueue { iface, .. } => format!("{e} (see `ethtool -l {iface}`)"),
        StartError::NoQueues => "--queues names no queue".to_string(),
        StartError::TooFewCores { cores, queues } => {
            format!("--cores names {cores} core(s) for {queues} queue(s): give one core per queue")
        }
        StartError::NoSuchCpu { cpu, cpus } => {
            format!("--cores: CPU {cpu} does not exist (this machine has {cpus})")
        }
        StartError::NoConnections => {
            "--max-conns 0: the engine could hold no connection; give 1 or more".to_string()
        }
        StartError::BadLocalPorts { .. } => format!("--local-ports: {e}"),
        StartError::Socket { iface, queue, err } => match err {
            XskError::QueueOutOfRange { queues, .. } => format!(
                "{iface} has {queues} RX queue(s) (0-{}), so queue {queue} does not exist; \
                 pick --queues within that range or raise it with `ethtool -L {iface} combined N`",
                queues.saturating_sub(1)
            ),
            XskError::ZeroCopyUnsupported { driver, err, .. } => format!(
                "queue {queue} of {iface}: the driver ({driver}) refused AF_XDP zero-copy \
                 ({err}); use --mode copy, or --mode auto to fall back by itself"
            ),
            XskError::QueueBusy { .. } => format!(
                "queue {queue} of {iface} already has an AF_XDP socket (another fastpath?); \
                 stop it or choose other --queues"
            ),
            XskError::Config(msg) => format!("--frames, --rx-ring, --fill-ring: {msg}"),
            _ => e.to_string(),
        },
        StartError::Xdp(XdpError::Occupied { ifname, id, name }) => format!(
            "interface {ifname} already has XDP program {id} ('{name}') attached; fastpath will \
             not replace another program. If nothing else uses it (e.g. a fastpath that was \
             killed), detach it with `ip link set dev {ifname} xdp off` or rerun with --force"
        ),
        StartError::Xdp(XdpError::Attach { mode: "native", .. }) => {
            format!("{e} (--xdp-mode generic, or auto to fall back by itself)")
        }
        _ => e.to_string(),
    };
    anyhow::anyhow!(text)
}

/// The engine's site error in the command line's words.
pub fn site_error(e: SiteError) -> anyhow::Error {
    match &e {
        SiteError::TooLarge {
            with_copies: false, ..
        } => anyhow::anyhow!("--root {e} (raise --root-max-bytes)"),
        SiteError::TooLarge {
            with_copies: true, ..
        } => anyhow::anyhow!("--root {e} (raise --root-max-bytes, or drop --compress)"),
        SiteError::Read(_) => anyhow::anyhow!("--root {e}"),
    }
}

/// What to serve: `--root` (replaceable by a reload), `--body`, or the default hello.
fn site_from(args: &ServeArgs) -> anyhow::Result<Site> {
    Ok(match (&args.root, &args.body) {
        (Some(dir), _) => {
            let site = Site::load(dir, &load_options(args)).map_err(site_error)?;
            tracing::info!("serving {} (in memory)", describe(dir, &site));
            Site::Live(Arc::new(LiveSite::new(site)))
        }
        (None, Some(text)) => Site::body(text),
        (None, None) => Site::hello(),
    })
}

/// "N file(s), B bytes, from DIR (E with a precompressed copy)".
fn describe(dir: &Path, site: &Site) -> String {
    let Site::Root { files, bytes } = site else {
        return dir.display().to_string();
    };
    let encoded = files
        .values()
        .filter(|r| r.file.as_ref().is_some_and(|f| f.has_variants()))
        .count();
    format!(
        "{} file(s), {bytes} bytes, from {} ({encoded} with a precompressed copy)",
        files.len(),
        dir.display()
    )
}

/// The site a reload replaces, if the configuration serves one (`--root`).
fn live_site(config: &EngineConfig) -> Option<Arc<LiveSite>> {
    match &config.service {
        Service::Http(site) => match &**site {
            Site::Live(live) => Some(live.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Loads `--root` again into a new generation and swaps it in, for SIGHUP and for the
/// control channel's `reload` (`fastpath reload`); one at a time. Requests from then on
/// see the new tree, responses already queued finish with the old one. A tree that fails
/// to load leaves the old one serving, and the log (and the answer) says why.
pub struct Reloader {
    args: ServeArgs,
    live: Option<Arc<LiveSite>>,
    one_at_a_time: Mutex<()>,
}

impl Reloader {
    fn new(args: &ServeArgs, live: Option<Arc<LiveSite>>) -> Reloader {
        Reloader {
            args: args.clone(),
            live,
            one_at_a_time: Mutex::new(()),
        }
    }

    /// Reloads, logging what happened under `asked_by`'s name, and says what happened.
    pub fn run(&self, asked_by: &str) -> ReloadOutcome {
        let _one = self.one_at_a_time.lock().unwrap_or_else(|e| e.into_inner());
        let (Some(live), Some(dir)) = (&self.live, &self.args.root) else {
            let message = "this engine serves no --root: only --root is reloaded".to_string();
            tracing::warn!("{asked_by}: nothing to reload ({message})");
            return ReloadOutcome {
                ok: false,
                generation: 0,
                message,
            };
        };
        let started = Instant::now();
        match Site::load(dir, &load_options(&self.args)) {
            Ok(site) => {
                let what = describe(dir, &site);
                let generation = live.replace(site);
                let message = format!(
                    "reloaded {what} in {:.0} ms: generation {generation} serving",
                    started.elapsed().as_secs_f64() * 1e3
                );
                tracing::info!("{asked_by}: {message}");
                ReloadOutcome {
                    ok: true,
                    generation,
                    message,
                }
            }
            Err(e) => {
                let generation = live.generation();
                let message = format!(
                    "reload failed, generation {generation} still serving: {:#}",
                    site_error(e)
                );
                tracing::error!("{asked_by}: {message}");
                ReloadOutcome {
                    ok: false,
                    generation,
                    message,
                }
            }
        }
    }
}

/// `--access-log`: the logger thread, started before the workers.
fn access_logger(args: &ServeArgs) -> anyhow::Result<Option<AccessLogger>> {
    let Some(path) = &args.access_log else {
        return Ok(None);
    };
    let format = match args.access_log_format {
        AccessLogFormat::Combined => LogFormat::Combined,
        AccessLogFormat::Json => LogFormat::Json,
    };
    let logger = AccessLogger::open(path, format, QUEUE_RECORDS).with_context(|| {
        format!(
            "--access-log {}: cannot open it for appending; give a writable file",
            path.display()
        )
    })?;
    tracing::info!("access log: {} ({format:?})", path.display());
    Ok(Some(logger))
}

/// The thread that reloads on SIGHUP: loading a big tree (with --compress) takes seconds,
/// and neither stats lines nor a stop signal should wait for it. One request pending at
/// most (a SIGHUP during a reload asks for one more, which reads the newest files); the
/// thread ends when the sender is dropped.
fn reloader(reload: Arc<Reloader>) -> anyhow::Result<std::sync::mpsc::SyncSender<()>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("fastpath-reload".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                reload.run("SIGHUP");
            }
        })
        .context("starting the reload thread")?;
    Ok(tx)
}

/// How `--root` is loaded.
pub fn load_options(args: &ServeArgs) -> LoadOptions {
    LoadOptions {
        max_bytes: args.root_max_bytes,
        compress: args.compress,
    }
}

pub(crate) fn secs(flag: &str, v: f64) -> anyhow::Result<Duration> {
    if !v.is_finite() || v < 0.0 {
        bail!("{flag} {v}: give a number of seconds, 0 or more");
    }
    Ok(Duration::from_secs_f64(v))
}

/// Sets the returned flag on SIGINT and SIGTERM.
pub fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    Ok(stop)
}

/// Writes `value` to `path` as JSON.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("--report-json: creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, value)
        .with_context(|| format!("--report-json: writing {}", path.display()))?;
    std::io::Write::write_all(&mut w, b"\n")?;
    Ok(())
}

/// One stats line: rates since the last line, drops by reason.
pub fn stats_line(
    elapsed: Duration,
    now: &Counters,
    before: &Counters,
    interval: Duration,
) -> String {
    let secs = interval.as_secs_f64().max(1e-3);
    let rate = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / secs;
    format!(
        "[{:>4.0}s] {:.0} req/s, {} conns open ({:.0} new/s) | rx {:.0} tx {:.0} frames/s | 2xx {} 3xx {} 4xx {} 5xx {} | arp {} icmp {} rst {} | drops: malformed {} fragment {} unsupported {} tx_full {} handoff {} | kernel drops: ring full {} other {}",
        elapsed.as_secs_f64(),
        rate(now.http_requests, before.http_requests),
        now.conns_accepted.saturating_sub(now.conns_closed),
        rate(now.conns_accepted, before.conns_accepted),
        rate(now.rx_frames, before.rx_frames),
        rate(now.tx_frames, before.tx_frames),
        now.http_2xx,
        now.http_3xx,
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
        now.xsk_rx_ring_full,
        now.xsk_rx_dropped,
    )
}

pub fn main(args: &ServeArgs) -> anyhow::Result<()> {
    let stop = stop_on_signals()?;
    if args.self_load {
        return crate::load::self_load(args, stop);
    }
    let grace = secs("--grace", args.grace)?;
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("installing the SIGHUP handler")?;
    let usr1 = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, usr1.clone())
        .context("installing the SIGUSR1 handler")?;
    let mut config = engine_config(args)?;
    let reload = Arc::new(Reloader::new(args, live_site(&config)));
    config.reload = Some(ReloadHook::new({
        let reload = reload.clone();
        move || reload.run("fastpath reload")
    }));
    let logger = access_logger(args)?;
    config.http.access_log = logger.as_ref().map(AccessLogger::handle);
    if let Some(path) = &config.control {
        tracing::info!(
            "control socket {} (fastpath stat, ss, reload)",
            path.display()
        );
    }
    if let Some(addr) = &config.metrics {
        tracing::info!("metrics at http://{addr}/metrics");
    }
    let running = start(config)?;
    tracing::info!(
        "serving {} on {} ({} queue(s)); Ctrl-C to stop",
        args.ip
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        args.iface,
        running.queues().len()
    );
    let reloads = reloader(reload)?;
    let started = Instant::now();
    let interval = Duration::from_secs(args.stats_interval.max(1));
    let mut last = Counters::default();
    let mut last_at = Instant::now();
    let deadline = args
        .duration
        .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
    loop {
        // The stop flag first: a signal that came during the sleep is a stop, whatever
        // the workers did meanwhile.
        if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if hup.swap(false, Ordering::SeqCst) {
            // Full: a reload is already asked for and will read the newest files.
            let _ = reloads.try_send(());
        }
        if usr1.swap(false, Ordering::SeqCst) {
            match &logger {
                Some(l) => l.reopen(),
                None => tracing::warn!("SIGUSR1: no --access-log to reopen"),
            }
        }
        if running.worker_ended() {
            tracing::error!("a worker stopped unexpectedly: shutting down");
            break;
        }
        if args.stats_interval > 0 && last_at.elapsed() >= interval {
            let now = running.stats();
            let mut line = stats_line(started.elapsed(), &now, &last, last_at.elapsed());
            if let Some(l) = &logger {
                let s = l.stats();
                line += &format!(
                    " | log lines {} dropped {}",
                    s.written,
                    s.dropped + s.failed
                );
            }
            println!("{line}");
            last = now;
            last_at = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = running.stop(grace);
    print!("{}", report.summary());
    // The workers have stopped: the logger writes what they queued, then stops.
    let log_stats = logger.map(|l| l.finish());
    if let (Some(s), Some(path)) = (&log_stats, &args.access_log) {
        println!(
            "access log {}: {} line(s) written, {} dropped (queue full), {} lost to write errors",
            path.display(),
            s.written,
            s.dropped,
            s.failed
        );
    }
    if let Some(path) = &args.report_json {
        match &log_stats {
            Some(s) => {
                let mut v = serde_json::to_value(&report)?;
                v["access_log"] = serde_json::to_value(s)?;
                write_json(path, &v)?;
            }
            None => write_json(path, &report)?,
        }
    }
    if report.failed() {
        bail!("a worker failed (see above); the XDP program was detached");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn serve_args(argv: &[&str]) -> Box<ServeArgs> {
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        match cli.command {
            crate::cli::Command::Serve(a) => a,
            _ => panic!("a serve command"),
        }
    }

    /// `fastpath serve`'s documented defaults are the engine's: a program embedding the
    /// engine with `EngineConfig::new` gets what the command line gets.
    #[test]
    fn flag_defaults_are_the_engines_defaults() {
        let args = serve_args(&["fastpath", "serve", "--iface", "x", "--ip", "10.0.0.2/24"]);
        let from_flags = engine_config(&args).unwrap();
        let defaults = EngineConfig::new("x", "10.0.0.2/24".parse().unwrap());
        assert_eq!(format!("{from_flags:?}"), format!("{defaults:?}"));
        assert_eq!(secs("--grace", args.grace).unwrap(), Duration::from_secs(5));
    }

    #[test]
    fn flags_reach_the_config() {
        let args = serve_args(&[
            "fastpath",
            "serve",
            "--iface",
            "x",
            "--ip",
            "10.0.0.2/24",
            "--queues",
            "0,1",
            "--cores",
            "1,0",
            "--port",
            "8080",
            "--max-conns",
            "7",
            "--time-wait",
            "0.5",
            "--body",
            "hi",
        ]);
        let c = engine_config(&args).unwrap();
        assert_eq!(c.queues, Queues::Only(vec![0, 1]));
        // The list parser sorts; cores follow the queues in order.
        assert_eq!(c.cores, Some(vec![0, 1]));
        assert_eq!(c.ports, vec![8080]);
        assert_eq!(c.max_conns, 7);
        assert_eq!(c.tcp.time_wait, Duration::from_millis(500));
        assert!(matches!(&c.service, Service::Http(s) if format!("{s:?}").contains("104, 105")));
    }

    #[test]
    fn file_serving_flags_reach_the_config_and_bad_ones_say_what_to_do() {
        let dir = std::env::temp_dir().join(format!("fastpath-serve-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "hi").unwrap();
        let root = dir.to_str().unwrap();
        let args = serve_args(&[
            "fastpath",
            "serve",
            "--iface",
            "x",
            "--ip",
            "10.0.0.2/24",
            "--root",
            root,
            "--compress",
            "--cache-control",
            "max-age=60",
        ]);
        let c = engine_config(&args).unwrap();
        assert_eq!(c.http.cache_control.as_deref(), Some("max-age=60"));
        assert!(live_site(&c).is_some(), "--root is reloadable");
        assert_eq!(
            load_options(&args),
            LoadOptions {
                max_bytes: 1 << 30,
                compress: true
            }
        );
        let bad = serve_args(&[
            "fastpath",
            "serve",
            "--iface",
            "x",
            "--ip",
            "10.0.0.2/24",
            "--access-log",
            "/nonexistent-dir/access.log",
        ]);
        let e = access_logger(&bad).err().expect("refused");
        assert!(
            format!("{e:#}").starts_with("--access-log /nonexistent-dir/access.log: cannot open"),
            "{e:#}"
        );
        let too_small = serve_args(&[
            "fastpath",
            "serve",
            "--iface",
            "x",
            "--ip",
            "10.0.0.2/24",
            "--root",
            root,
            "--root-max-bytes",
            "1",
        ]);
        let e = engine_config(&too_small).expect_err("refused");
        assert!(format!("{e:#}").contains("raise --root-max-bytes"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What `fastpath reload` is answered: the new generation, the old one still serving
    /// after a failed load, and no --root said as such.
    #[test]
    fn a_reload_says_what_it_did() {
        let dir =
            std::env::temp_dir().join(format!("fastpath-serve-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "hi").unwrap();
        let root = dir.to_str().unwrap();
        let argv = ["fastpath", "serve", "--iface", "x", "--ip", "10.0.0.2/24"];
        let mut args = serve_args(&[&argv[..], &["--root", root]].concat());
        let c = engine_config(&args).unwrap();
        let live = live_site(&c).unwrap();
        let r = Reloader::new(&args, Some(live.clone()));
        std::fs::write(dir.join("two.html"), "there").unwrap();
        let out = r.run("test");
        assert!(out.ok, "{out:?}");
        assert_eq!((out.generation, live.generation()), (2, 2));
        assert!(out.message.contains("2 file(s)"), "{out:?}");
        args.root_max_bytes = 1;
        let out = Reloader::new(&args, Some(live.clone())).run("test");
        assert!(!out.ok);
        assert_eq!(out.generation, 2);
        assert!(
            out.message
                .starts_with("reload failed, generation 2 still serving: --root"),
            "{out:?}"
        );
        let none = serve_args(&argv);
        let out = Reloader::new(&none, None).run("test");
        assert!(
            !out.ok && out.message.contains("serves no --root"),
            "{out:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn start_errors_name_the_flag() {
        let e = start_error(StartError::TooFewCores {
            cores: 1,
            queues: 2,
        });
        assert!(e.to_string().starts_with("--cores names 1 core(s)"), "{e}");
        let e = start_error(StartError::NoSuchQueue {
            iface: "veth0".into(),
            queue: 5,
            queues: 2,
        });
        assert_eq!(
            e.to_string(),
            "veth0 queue 5 does not exist: there are 2 (0-1) (see `ethtool -l veth0`)"
        );
        let e = start_error(StartError::NoConnections);
        assert!(e.to_string().starts_with("--max-conns 0"), "{e}");
        let e = start_error(StartError::Socket {
            iface: "veth0".into(),
            queue: 0,
            err: XskError::Config("RX ring size 100 (use a power of two)".into()),
        });
        assert!(
            e.to_string()
                .starts_with("--frames, --rx-ring, --fill-ring: RX ring"),
            "{e}"
        );
        let e = start_error(StartError::Socket {
            iface: "veth0".into(),
            queue: 0,
            err: XskError::ZeroCopyUnsupported {
                ifname: "veth0".into(),
                driver: "veth".into(),
                err: std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
            },
        });
        assert!(
            e.to_string()
                .ends_with("use --mode copy, or --mode auto to fall back by itself"),
            "{e}"
        );
        let e = start_error(StartError::Xdp(XdpError::Occupied {
            ifname: "veth0".into(),
            id: 7,
            name: "other".into(),
        }));
        assert!(e.to_string().ends_with("or rerun with --force"), "{e}");
    }

    /// The engine's own messages name no command-line flag: the CLI adds them.
    #[test]
    fn engine_errors_speak_the_engines_words() {
        let io = || std::io::Error::from_raw_os_error(libc::EOPNOTSUPP);
        let engine = [
            XskError::QueueOutOfRange {
                ifname: "veth0".into(),
                queue: 3,
                queues: 2,
            }
            .to_string(),
            XskError::ZeroCopyUnsupported {
                ifname: "veth0".into(),
                driver: "veth".into(),
                err: io(),
            }
            .to_string(),
            XskError::QueueBusy {
                ifname: "veth0".into(),
                queue: 0,
            }
            .to_string(),
            XdpError::Occupied {
                ifname: "veth0".into(),
                id: 7,
                name: "other".into(),
            }
            .to_string(),
            fastpath_engine::app::ConnectError::NoRoute(
                std::net::Ipv4Addr::new(192, 0, 2, 1).into(),
            )
            .to_string(),
            fastpath_engine::app::ConnectError::NoPorts.to_string(),
            SiteError::TooLarge {
                root: "/srv".into(),
                bytes: 10,
                max_bytes: 5,
                with_copies: true,
            }
            .to_string(),
            fastpath_engine::app::ConnectError::TooManyConnections.to_string(),
        ];
        for m in engine {
            assert!(!m.contains("--"), "names a flag: {m}");
        }
        let e = site_error(SiteError::TooLarge {
            root: "/srv".into(),
            bytes: 10,
            max_bytes: 5,
            with_copies: false,
        });
        assert!(e.to_string().starts_with("--root /srv: 10 bytes"), "{e}");
        assert!(e.to_string().ends_with("(raise --root-max-bytes)"), "{e}");
    }
}

//! `fastpath load` (the engine as an HTTP client through AF_XDP) and
//! `fastpath serve --self-load` (the same load generator against the engine's own
//! listener, over the loopback fast path).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fastpath_engine::app::App;
use fastpath_engine::runtime::{AppFactory, EngineConfig, Report, Service, XdpConfig};

use crate::cli::{Addresses, IpCidr, LoadArgs, ServeArgs};
use crate::loadgen::{LoadApp, LoadConfig, LoadReport, Progress};
use crate::serve::{self, secs};

/// `http://ADDR[:PORT]/PATH` -> (address, path, Host header); an IPv6 ADDR in brackets
/// (RFC 3986 3.2.2: `http://[2001:db8::10]:80/`).
pub fn parse_url(url: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let rest = url.strip_prefix("http://").with_context(|| {
        format!("--url {url}: write http://ADDR[:PORT]/PATH (https is not supported)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let port_of = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .with_context(|| format!("--url {url}: '{p}' is not a port"))
    };
    let (ip, port): (IpAddr, u16) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .with_context(|| format!("--url {url}: no closing ']' after the IPv6 address"))?;
        let ip: Ipv6Addr = host
            .parse()
            .with_context(|| format!("--url {url}: '[{host}]' is not an IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => port_of(p)?,
            None if after.is_empty() => 80,
            None => bail!("--url {url}: write [ADDR]:PORT"),
        };
        (ip.into(), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, port_of(p)?),
            None => (authority, 80),
        };
        let ip: Ipv4Addr = host.parse().with_context(|| {
            format!("--url {url}: '{host}' is not an IPv4 address (IPv6 goes in brackets; the engine does not resolve names)")
        })?;
        (ip.into(), port)
    };
    if path.contains(char::is_whitespace) {
        bail!("--url {url}: the path has whitespace; percent-encode it");
    }
    Ok((SocketAddr::new(ip, port), path, authority.to_string()))
}

/// What every worker's share of the load is built from.
#[derive(Clone)]
struct Plan {
    cfg: LoadConfig,
    rate: Option<f64>,
    progress: Arc<Progress>,
    out: Arc<Mutex<LoadReport>>,
}

impl Plan {
    /// Worker `w` of `n`: its share of the connections and of the rate.
    fn app(&self, w: usize, n: usize) -> Option<Box<dyn App>> {
        let share = self.share(w, n);
        if share == 0 {
            return None;
        }
        let total = self.cfg.connections;
        let cfg = LoadConfig {
            connections: share,
            rate: self.rate.map(|r| r * share as f64 / total as f64),
            ..self.cfg.clone()
        };
        Some(Box::new(LoadApp::new(
            cfg,
            self.progress.clone(),
            self.out.clone(),
        )))
    }

    fn share(&self, w: usize, n: usize) -> usize {
        let total = self.cfg.connections;
        total / n + usize::from(w < total % n)
    }

    /// Load instances among `n` workers (those with a share).
    fn instances(&self, n: usize) -> usize {
        (0..n).filter(|&w| self.share(w, n) > 0).count()
    }
}

/// The engine's report and the load's, for `--report-json`.
#[derive(serde::Serialize)]
struct Reports<'a> {
    engine: &'a Report,
    load: &'a LoadReport,
}

/// Runs the load in an engine started from `config` (with the load in its workers), with
/// a progress line each second; returns the merged report. Stops the engine and prints
/// its summary.
fn run(
    mut config: EngineConfig,
    stop: Arc<AtomicBool>,
    plan: Plan,
    duration: Duration,
    grace: Duration,
    report_json: Option<&std::path::Path>,
) -> anyhow::Result<LoadReport> {
    let apps = plan.clone();
    config.apps = Some(AppFactory::new(move |w, n| apps.app(w, n)));
    let running = serve::start(config)?;
    let instances = plan.instances(running.queues().len());
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let limit = duration + Duration::from_secs(15);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if plan
            .out
            .lock()
            .map(|r| r.instances as usize >= instances)
            .unwrap_or(true)
        {
            break;
        }
        if stop.load(Ordering::SeqCst) || running.worker_ended() || started.elapsed() > limit {
            break;
        }
        if last.0.elapsed() >= Duration::from_secs(1) {
            let p = &plan.progress;
            let done = p.requests.load(Ordering::Relaxed);
            println!(
                "[{:>4.0}s] {:.0} req/s, {} connections, {} requests, {} errors",
                started.elapsed().as_secs_f64(),
                (done - last.1) as f64 / last.0.elapsed().as_secs_f64(),
                p.connections.load(Ordering::Relaxed),
                done,
                p.errors.load(Ordering::Relaxed)
            );
            last = (Instant::now(), done);
        }
    }
    // Let the closing handshakes finish before the workers stop.
    std::thread::sleep(Duration::from_millis(200));
    let report = running.stop(grace);
    print!("{}", report.summary());
    let r = plan.out.lock().map(|r| r.clone()).unwrap_or_default();
    if let Some(path) = report_json {
        serve::write_json(
            path,
            &Reports {
                engine: &report,
                load: &r,
            },
        )?;
    }
    if report.failed() {
        bail!("a worker failed (see above); the XDP program was detached");
    }
    if (r.instances as usize) < instances {
        bail!("the load did not finish: stopped early");
    }
    Ok(r)
}

fn finish(report: &LoadReport) -> anyhow::Result<()> {
    println!("{}", report.render().trim_end());
    if report.requests == 0 {
        let why: Vec<String> = report
            .errors
            .iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect();
        bail!(
            "no request completed{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join(", "))
            }
        );
    }
    Ok(())
}

fn check(connections: usize, pipeline: usize, rate: Option<f64>) -> anyhow::Result<()> {
    if connections == 0 {
        bail!("--connections 0: give 1 or more");
    }
    if pipeline == 0 {
        bail!("--pipeline 0: give 1 or more");
    }
    if let Some(r) = rate {
        if !(r.is_finite() && r > 0.0) {
            bail!("--rate {r}: give requests per second above 0");
        }
    }
    Ok(())
}

pub fn main(args: &LoadArgs) -> anyhow::Result<()> {
    check(args.connections, args.pipeline, args.rate)?;
    let (target, path, host) = parse_url(&args.url)?;
    let duration = secs("--duration", args.duration)?;
    let (v4, v6) = (args.ipv4()?, args.ipv6_all());
    if target.is_ipv6() && v6.is_empty() {
        bail!(
            "--url {}: an IPv6 server needs an IPv6 --ip for the engine too (e.g. --ip 2001:db8::20/64)",
            args.url
        );
    }
    let kernel4 = fastpath_engine::afxdp::ipv4_addresses(&args.iface).unwrap_or_default();
    let kernel6 = fastpath_engine::afxdp::ipv6_addresses(&args.iface).unwrap_or_default();
    let shared = args.ips().iter().find(|c| match c {
        IpCidr::V4(c) => kernel4.iter().any(|(a, _)| *a == c.addr),
        IpCidr::V6(c) => kernel6.contains(&c.addr),
    });
    if let Some(c) = shared {
        bail!(
            "--ip {c}: the kernel has this address on {}, so ARP (neighbour discovery) \
             replies for it go to the kernel and the engine could not resolve the server; \
             give the engine a free address of the subnet instead",
            args.iface
        );
    }
    // The engine side: `serve`'s defaults, listening on nothing.
    let mut config = EngineConfig::new(&args.iface, v4);
    config.addrs = args.ipv4_all();
    config.addrs6 = v6;
    config.queues = serve::queues(&args.queues);
    config.cores = serve::cores(&args.cores);
    (config.gateway, config.gateway6) = args.gateways()?;
    config.local_ports = (args.local_ports.lo, args.local_ports.hi);
    config.afxdp.mode = args.mode;
    config.afxdp.busy_poll = args.busy_poll;
    config.tcp.ecn = args.ecn;
    config.tcp.cc = args.cc;
    config.xdp = XdpConfig {
        mode: args.xdp_mode,
        force: args.force,
    };
    config.service = Service::None;
    let stop = serve::stop_on_signals()?;
    tracing::info!(
        "loading {} with {} connection(s) for {:.1} s from {} on {}",
        args.url,
        args.connections,
        duration.as_secs_f64(),
        args.ips()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        args.iface
    );
    let plan = Plan {
        cfg: LoadConfig {
            target,
            host,
            path,
            connections: args.connections,
            duration,
            pipeline: args.pipeline,
            rate: args.rate,
            close: args.close,
            timeout: secs("--timeout", args.timeout)?,
        },
        rate: args.rate,
        progress: Arc::new(Progress::default()),
        out: Arc::new(Mutex::new(LoadReport::default())),
    };
    // `serve`'s default grace for the closing handshakes.
    let grace = Duration::from_secs(5);
    let report = run(
        config,
        stop,
        plan,
        duration,
        grace,
        args.report_json.as_deref(),
    )?;
    finish(&report)
}

/// `fastpath serve --self-load`.
pub fn self_load(args: &ServeArgs, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    check(args.load_connections, args.load_pipeline, args.load_rate)?;
    let duration = secs("--load-duration", args.load_duration)?;
    let own = args.ipv4()?.addr;
    let target = SocketAddr::new(
        args.load_target.unwrap_or(own.into()),
        args.ports.first().copied().unwrap_or(80),
    );
    let ours = match target.ip() {
        IpAddr::V4(ip) => args.ipv4_all().iter().any(|c| c.addr == ip),
        IpAddr::V6(ip) => args.ipv6_all().iter().any(|c| c.addr == ip),
    };
    if !target.ip().is_loopback() && !ours {
        bail!(
            "--load-target {}: give one of the engine's own addresses ({own}, ...), one in 127.0.0.0/8 or ::1",
            target.ip(),
        );
    }
    tracing::info!(
        "self-load: {} connection(s) to {target}{} for {:.1} s, in memory (loopback fast path)",
        args.load_connections,
        args.load_path,
        duration.as_secs_f64()
    );
    let plan = Plan {
        cfg: LoadConfig {
            target,
            host: target.to_string(),
            path: args.load_path.clone(),
            connections: args.load_connections,
            duration,
            pipeline: args.load_pipeline,
            rate: args.load_rate,
            close: args.load_close,
            timeout: Duration::from_secs(10),
        },
        rate: args.load_rate,
        progress: Arc::new(Progress::default()),
        out: Arc::new(Mutex::new(LoadReport::default())),
    };
    let config = serve::engine_config(args)?;
    let grace = secs("--grace", args.grace)?;
    let report = run(
        config,
        stop,
        plan,
        duration,
        grace,
        args.report_json.as_deref(),
    )?;
    finish(&report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (a, p, h) = parse_url("http://10.0.0.2:8080/x?y=1").unwrap();
        assert_eq!(
            (a.to_string(), p.as_str(), h.as_str()),
            ("10.0.0.2:8080".into(), "/x?y=1", "10.0.0.2:8080")
        );
        let (a, p, _) = parse_url("http://10.0.0.2").unwrap();
        assert_eq!((a.port(), p.as_str()), (80, "/"));
        for bad in [
            "https://10.0.0.2/",
            "http://example.com/",
            "http://10.0.0.2:0/",
            "10.0.0.2",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let (a, p, h) = parse_url("http://[2001:db8::10]:8080/x").unwrap();
        assert_eq!(
            (a.to_string(), p.as_str(), h.as_str()),
            ("[2001:db8::10]:8080".into(), "/x", "[2001:db8::10]:8080")
        );
        let (a, p, h) = parse_url("http://[2001:db8::10]").unwrap();
        assert_eq!(
            (a.to_string(), p.as_str(), h.as_str()),
            ("[2001:db8::10]:80".into(), "/", "[2001:db8::10]")
        );
        for (bad, why) in [
            ("http://[nope]/", "not an IPv6"),
            ("http://[2001:db8::10/", "no closing"),
            ("http://[2001:db8::10]x/", "[ADDR]:PORT"),
            ("http://2001:db8::10/", "in brackets"),
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}

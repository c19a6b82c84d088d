//! `fastpath demo`: the embedded default. Builds two namespaces joined by a veth pair,
//! runs the engine on one end with addresses it owns (IPv4 and IPv6), drives it from the
//! other end with the kernel's own tools (arping, ping and ping -6, then wrk or a built-in
//! HTTP client over each family), prints what it measured, and removes everything it
//! made, also on Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use fastpath_engine::http::Site;
use fastpath_engine::runtime::{missing_capabilities, Cidr, EngineConfig, Report, Service};
use fastpath_testbed::{netns, VethPair};

use crate::cli::{DemoArgs, DemoClient};
use crate::serve;

pub fn main(args: &DemoArgs) -> anyhow::Result<()> {
    // Before building anything: the namespaces need the same rights as the engine.
    let missing = missing_capabilities();
    if !missing.is_empty() {
        return Err(serve::start_error(
            fastpath_engine::runtime::StartError::MissingCapabilities(missing),
        ));
    }
    let stop = serve::stop_on_signals()?;
    let pair = VethPair::new("demo");
    println!(
        "demo: namespaces {} (engine, {}) and {} (peer, {} = {}), joined by a veth pair",
        pair.engine_ns().name(),
        pair.engine_if(),
        pair.peer_ns().name(),
        pair.peer_if(),
        pair.peer_addr()
    );
    let engine_addr = pair.engine_addr();
    // The peer queues what it sends (as `fastpath doctor` advises for a veth peer): without
    // a qdisc, its sends that find the engine side's XDP ring full are dropped in its own
    // kernel, where the engine cannot count them (docs/kernel-notes.md).
    let mut qdisc = vec!["tc", "qdisc", "add", "dev", pair.peer_if(), "root"];
    qdisc.extend(crate::doctor::PEER_QDISC.split(' '));
    pair.peer_ns().run_ok(&qdisc);
    // IPv6 beside IPv4: `fd00:X:Y::2/64` for the pair's `10.X.Y.0/24`, the peer's kernel
    // at `::1` of it (when this build's steering program steers IPv6).
    let o = pair.addr(0).octets();
    let net6 = |host: u16| Ipv6Addr::new(0xfd00, o[1].into(), o[2].into(), 0, 0, 0, 0, host);
    let engine6 = fastpath_xdp::STEERS_IPV6.then(|| net6(2));
    if engine6.is_some() {
        let peer6 = format!("{}/64", net6(1));
        pair.peer_ns().run_ok(&[
            "ip",
            "-6",
            "addr",
            "add",
            &peer6,
            "dev",
            pair.peer_if(),
            "nodad",
        ]);
    }
    // `fastpath serve`'s defaults (the engine's), with the demo's body.
    let mut config = EngineConfig::new(pair.engine_if(), Cidr::new(engine_addr, 24));
    config.addrs6 = engine6
        .map(|addr| fastpath_engine::runtime::Cidr6 { addr, prefix: 64 })
        .into_iter()
        .collect();
    config.service = Service::Http(Arc::new(Site::body("Hello from fastpath\n")));
    config.afxdp.mode = args.mode;

    let ns_path = format!("/var/run/netns/{}", pair.engine_ns().name());
    let engine_stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let report = std::thread::scope(|s| -> anyhow::Result<Report> {
        let engine = s.spawn({
            let engine_stop = engine_stop.clone();
            move || {
                netns::enter(&ns_path);
                match serve::start(config) {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok(()));
                        while !engine_stop.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Ok(running.stop(Duration::from_secs(5)))
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{e:#}")));
                        Err(e)
                    }
                }
            }
        });
        let started = ready_rx.recv_timeout(Duration::from_secs(30));
        let outcome = match started {
            Ok(Ok(())) => drive(
                &pair,
                (engine_addr, engine6),
                args.duration,
                args.client,
                &stop,
            ),
            Ok(Err(e)) => Err(anyhow::anyhow!("the engine did not start: {e}")),
            Err(_) => Err(anyhow::anyhow!("the engine did not start within 30 s")),
        };
        engine_stop.store(true, Ordering::SeqCst);
        let report = engine
            .join()
            .map_err(|_| anyhow::anyhow!("the engine thread panicked"))?;
        outcome?;
        report
    })?;
    print!("{}", report.summary());
    let attached = pair.xdp_attached();
    drop(pair);
    anyhow::ensure!(!attached, "the XDP program was left attached");
    println!("demo: removed the namespaces and the veth pair");
    Ok(())
}

/// Runs the peer's side: ARP, ping (and ping -6), then HTTP load over each family (half
/// of `duration` each), each bounded in time.
fn drive(
    pair: &VethPair,
    (addr, addr6): (Ipv4Addr, Option<Ipv6Addr>),
    duration: f64,
    client: DemoClient,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let target = addr.to_string();
    // ARP: the peer resolves the engine's address; the reply comes from the engine.
    let out = pair.peer_ns().exec(&[
        "arping",
        "-c",
        "3",
        "-w",
        "3",
        "-I",
        pair.peer_if(),
        &target,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mac = pair
        .engine_mac()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let arp_ok = text.to_lowercase().contains(&mac);
    println!(
        "demo: arping {target}: {} (engine MAC {mac})",
        if arp_ok {
            "answered by the engine"
        } else {
            "NO ANSWER"
        }
    );

    // 100 pings, 10 ms apart.
    let count = 100u64;
    let started = Instant::now();
    let out = pair.peer_ns().exec(&[
        "ping",
        "-q",
        "-c",
        &count.to_string(),
        "-i",
        "0.01",
        "-W",
        "1",
        &target,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("transmitted") || l.contains("rtt"))
        .collect();
    println!(
        "demo: ping {target} for {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        summary.join("; ")
    );
    let mut ping_ok = out.status.success();
    if let Some(a6) = addr6 {
        // 20 echo requests over IPv6, after neighbour discovery resolved the engine.
        let out = pair.peer_ns().exec(&[
            "ping",
            "-6",
            "-q",
            "-c",
            "20",
            "-i",
            "0.01",
            "-W",
            "1",
            &a6.to_string(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let summary: Vec<&str> = text.lines().filter(|l| l.contains("transmitted")).collect();
        println!("demo: ping -6 {a6}: {}", summary.join("; "));
        ping_ok &= out.status.success();
    } else {
        println!("demo: this build's steering program does not steer IPv6: IPv4 only");
    }

    // HTTP: wrk when installed, otherwise the built-in client, over each family.
    let use_wrk = match client {
        DemoClient::Wrk => true,
        DemoClient::Builtin => false,
        DemoClient::Auto => which("wrk"),
    };
    let families = [Some(IpAddr::V4(addr)), addr6.map(IpAddr::V6)];
    let each = if addr6.is_some() {
        duration / 2.0
    } else {
        duration
    };
    let mut http_ok = true;
    for ip in families.into_iter().flatten() {
        let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        let load = if use_wrk && !which("wrk") {
            Err(anyhow::anyhow!(
                "--client wrk: wrk is not installed (apt-get install wrk), or use --client builtin"
            ))
        } else if use_wrk {
            wrk(pair, ip, each)
        } else {
            builtin_client(pair, ip, each, stop)
        };
        http_ok &= match &load {
            Ok(l) => {
                println!(
                    "demo: HTTP load over {family} with {} for {:.1} s, {} connections: {:.0} requests/s, latency p50 {} p90 {} p99 {}, {} errors",
                    l.tool, l.seconds, l.connections, l.rps, l.p50, l.p90, l.p99, l.errors
                );
                l.rps > 0.0 && l.errors == 0
            }
            Err(e) => {
                println!("demo: HTTP load over {family} failed: {e:#}");
                false
            }
        };
    }
    if stop.load(Ordering::SeqCst) {
        println!("demo: interrupted");
    }
    anyhow::ensure!(
        arp_ok && ping_ok && http_ok,
        "the engine did not answer as expected"
    );
    Ok(())
}

/// What a load run measured.
struct Load {
    tool: &'static str,
    seconds: f64,
    connections: usize,
    rps: f64,
    p50: String,
    p90: String,
    p99: String,
    errors: u64,
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

/// The URL of the engine's responder at `ip` (an IPv6 address in brackets).
fn url(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("http://{a}/"),
        IpAddr::V6(a) => format!("http://[{a}]/"),
    }
}

/// wrk from the peer namespace: 2 threads, 64 keep-alive connections.
fn wrk(pair: &VethPair, target: IpAddr, duration: f64) -> anyhow::Result<Load> {
    let secs = (duration.ceil() as u64).max(1);
    let out = pair.peer_ns().exec(&[
        "timeout",
        &(secs + 20).to_string(),
        "wrk",
        "-t2",
        "-c64",
        &format!("-d{secs}s"),
        "--latency",
        &url(target),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |key: &str| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .and_then(|l| l.trim_start()[key.len()..].split_whitespace().next())
            .map(str::to_string)
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no request rate in wrk's output: {text}"))?;
    let socket_errors: u64 = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(|l| {
            l.split([',', ' '])
                .filter_map(|w| w.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let non2xx: u64 = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Load {
        tool: "wrk",
        seconds: secs as f64,
        connections: 64,
        rps,
        p50: field("50%").unwrap_or_default(),
        p90: field("90%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
        errors: socket_errors + non2xx,
    })
}

/// A bounded keep-alive client run from the peer namespace when wrk is not installed:
/// 8 connections, one request in flight on each, for `duration` seconds.
fn builtin_client(
    pair: &VethPair,
    addr: IpAddr,
    duration: f64,
    stop: &AtomicBool,
) -> anyhow::Result<Load> {
    use std::io::{Read, Write};
    const CONNS: usize = 8;
    let until = Instant::now() + Duration::from_secs_f64(duration.max(0.5));
    let results: Vec<anyhow::Result<(Vec<Duration>, u64)>> = pair.peer_ns().enter_thread(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..CONNS)
                .map(|_| {
                    s.spawn(move || -> anyhow::Result<(Vec<Duration>, u64)> {
                        let mut c = std::net::TcpStream::connect_timeout(
                            &(addr, 80).into(),
                            Duration::from_secs(3),
                        )?;
                        c.set_read_timeout(Some(Duration::from_secs(3)))?;
                        c.set_nodelay(true)?;
                        let host = url(addr);
                        let host = host.trim_start_matches("http://").trim_end_matches('/');
                        let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
                        let mut lat = Vec::new();
                        let mut errors = 0;
                        let mut buf = vec![0u8; 4096];
                        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                            let t = Instant::now();
                            c.write_all(req.as_bytes())?;
                            let mut got = Vec::new();
                            let complete = loop {
                                let n = c.read(&mut buf)?;
                                if n == 0 {
                                    break false;
                                }
                                got.extend_from_slice(&buf[..n]);
                                if let Some(end) = find(&got, b"\r\n\r\n") {
                                    let head =
                                        String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                                    let len: usize = head
                                        .lines()
                                        .find_map(|l| l.strip_prefix("content-length:"))
                                        .and_then(|v| v.trim().parse().ok())
                                        .unwrap_or(0);
                                    if got.len() >= end + 4 + len {
                                        break head.starts_with("http/1.1 200");
                                    }
                                }
                            };
                            if !complete {
                                errors += 1;
                                break;
                            }
                            lat.push(t.elapsed());
                        }
                        Ok((lat, errors))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("client panicked")))
                })
                .collect()
        })
    });
    let mut all = Vec::new();
    let mut errors = 0;
    for r in results {
        let (lat, e) = r?;
        all.extend(lat);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| -> String {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or("-".into(), |d| format!("{:.0}us", d.as_secs_f64() * 1e6))
    };
    let seconds = duration.max(0.5);
    Ok(Load {
        tool: "the built-in client",
        seconds,
        connections: CONNS,
        rps: all.len() as f64 / seconds,
        p50: pct(0.50),
        p90: pct(0.90),
        p99: pct(0.99),
        errors,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

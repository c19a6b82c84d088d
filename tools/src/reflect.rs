//! `fastpath reflect`: the bench-only ceiling of the AF_XDP path. Every TCP frame for this
//! end's address and port 9 goes straight back out, addresses and ports swapped, with no
//! parsing beyond that and no TCP. Two ends reflecting at each other, one of them
//! injecting a few hundred frames at start, keep both paths full; the frames per second
//! each end moves is what any protocol work on this path can at most reach.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fastpath_engine::worker::{Inject, REFLECT_PORT};

use crate::cli::ReflectArgs;
use crate::serve::{self, secs};

pub fn main(args: &ReflectArgs) -> anyhow::Result<()> {
    let duration = secs("--duration", args.duration)?;
    let mut argv: Vec<String> = [
        "fastpath",
        "serve",
        "--iface",
        &args.iface,
        "--ip",
        &args.ip.to_string(),
        "--stats-interval",
        "0",
        "--port",
        &REFLECT_PORT.to_string(),
        "--mode",
        &args.mode.to_string(),
        "--queues",
        &args.queues.to_string(),
        "--grace",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(c) = &args.cores {
        argv.extend(["--cores".into(), c.to_string()]);
    }
    if args.busy_poll {
        argv.push("--busy-poll".into());
    }
    let mut serve_args = serve::args_from(&argv)?;
    serve_args.reflect = true;
    if args.inject > 0 {
        let (Some(to_ip), Some(to_mac)) = (args.to_ip, &args.to_mac) else {
            bail!("--inject needs --to-ip and --to-mac (the other end, which reflects too)");
        };
        let mac = parse_mac(to_mac)
            .with_context(|| format!("--to-mac {to_mac}: write aa:bb:cc:dd:ee:ff"))?;
        let src_mac = fastpath_engine::afxdp::mac_address(&args.iface)
            .with_context(|| format!("reading the MAC of {}", args.iface))?;
        serve_args.inject = Some(Inject {
            count: args.inject,
            src_mac,
            dst_mac: mac,
            src: args.ip.addr,
            dst: to_ip,
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let running = serve::start(&serve_args, stop.clone())?;
    let started = Instant::now();
    // The first second fills the path; the rate is taken over the rest.
    let warm = Duration::from_secs(1).min(duration / 2);
    let mut base = None;
    while started.elapsed() < duration && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if running.worker_ended() {
            break;
        }
        if base.is_none() && started.elapsed() >= warm {
            base = Some((Instant::now(), running.totals()));
        }
    }
    let end = (Instant::now(), running.totals());
    let report = running.stop();
    serve::print_report(&report);
    let (t0, c0) = base.unwrap_or((started, Default::default()));
    let secs = end.0.duration_since(t0).as_secs_f64().max(1e-9);
    let rx = end.1.rx_frames.saturating_sub(c0.rx_frames) as f64 / secs;
    let tx = end.1.tx_frames.saturating_sub(c0.tx_frames) as f64 / secs;
    println!(
        "reflected: {rx:.0} frames/s in, {tx:.0} frames/s out (over {secs:.1} s after a warm-up)"
    );
    if end.1.rx_frames == 0 {
        bail!("no frame arrived: is the other end reflecting, and did one end --inject?");
    }
    Ok(())
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

//! `fastpath reflect`: the bench-only ceiling of the AF_XDP path. Every TCP frame for this
//! end's address and port 9 goes straight back out, addresses and ports swapped, with no
//! parsing beyond that and no TCP. Two ends reflecting at each other, one of them
//! injecting a few hundred frames at start, keep both paths full; the frames per second
//! each end moves is what any protocol work on this path can at most reach.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fastpath_engine::runtime::{EngineConfig, InjectTo, Service};

use crate::cli::ReflectArgs;
use crate::serve::{self, secs};

pub fn main(args: &ReflectArgs) -> anyhow::Result<()> {
    let duration = secs("--duration", args.duration)?;
    let inject = if args.inject > 0 {
        let (Some(to_ip), Some(to_mac)) = (args.to_ip, &args.to_mac) else {
            bail!("--inject needs --to-ip and --to-mac (the other end, which reflects too)");
        };
        let mac = parse_mac(to_mac)
            .with_context(|| format!("--to-mac {to_mac}: write aa:bb:cc:dd:ee:ff"))?;
        Some(InjectTo {
            count: args.inject,
            addr: to_ip,
            mac,
        })
    } else {
        None
    };
    let mut config = EngineConfig::new(&args.iface, args.ip);
    config.queues = serve::queues(&args.queues);
    config.cores = serve::cores(&args.cores);
    config.afxdp.mode = args.mode;
    config.afxdp.busy_poll = args.busy_poll;
    config.service = Service::Reflect(inject);
    let stop = serve::stop_on_signals()?;
    let running = serve::start(config)?;
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
            base = Some((Instant::now(), running.stats()));
        }
    }
    let end = (Instant::now(), running.stats());
    let report = running.stop(Duration::ZERO);
    print!("{}", report.summary());
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

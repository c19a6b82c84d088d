//! `fastpath demo`: the embedded default. Builds two namespaces joined by a veth pair,
//! runs the engine on one end with an address it owns, drives it from the other end with
//! the kernel's own tools, prints what it measured, and removes everything it made, also
//! on Ctrl-C.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use fastpath_testbed::{netns, VethPair};

use clap::Parser;

use crate::cli::{Cli, Command, DemoArgs};
use crate::serve;

pub fn main(args: &DemoArgs) -> anyhow::Result<()> {
    crate::caps::check()?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
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
    // The same defaults a user gets from `fastpath serve`, through the same parser.
    let cli = Cli::try_parse_from([
        "fastpath",
        "serve",
        "--iface",
        pair.engine_if(),
        "--ip",
        &format!("{engine_addr}/24"),
        "--stats-interval",
        "0",
        "--body",
        "Hello from fastpath\n",
    ])
    .context("building the demo's serve arguments")?;
    let Command::Serve(serve_args) = cli.command else {
        unreachable!("parsed a serve command")
    };
    let mut serve_args = *serve_args;
    serve_args.mode = args.mode;

    let ns_path = format!("/var/run/netns/{}", pair.engine_ns().name());
    let engine_stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let report = std::thread::scope(|s| -> anyhow::Result<serve::Report> {
        let engine = s.spawn({
            let engine_stop = engine_stop.clone();
            move || {
                netns::enter(&ns_path);
                match serve::start(&serve_args, engine_stop.clone()) {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok(()));
                        while !engine_stop.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Ok(running.stop())
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
            Ok(Ok(())) => drive(&pair, engine_addr, args.duration, &stop),
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
    serve::print_report(&report);
    let attached = pair.xdp_attached();
    drop(pair);
    anyhow::ensure!(!attached, "the XDP program was left attached");
    println!("demo: removed the namespaces and the veth pair");
    Ok(())
}

/// Runs the peer's side: ARP, ping, and a TCP connect, each bounded in time.
fn drive(pair: &VethPair, addr: Ipv4Addr, duration: f64, stop: &AtomicBool) -> anyhow::Result<()> {
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

    // Ping for the requested duration, 100 per second.
    let count = ((duration.max(0.5)) * 100.0) as u64;
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
    let ping_ok = out.status.success();

    // TCP: no responder is built yet, so the engine answers a connect with a reset.
    let probe = format!("exec 3<>/dev/tcp/{target}/80");
    let out = pair.peer_ns().exec(&["timeout", "3", "bash", "-c", &probe]);
    let refused = String::from_utf8_lossy(&out.stderr).contains("refused");
    println!(
        "demo: TCP connect to {target}:80: {}",
        if refused {
            "refused with a reset by the engine (the HTTP responder is not built yet)"
        } else {
            "UNEXPECTED (no reset)"
        }
    );
    if stop.load(Ordering::SeqCst) {
        println!("demo: interrupted");
    }
    anyhow::ensure!(
        arp_ok && ping_ok && refused,
        "the engine did not answer as expected"
    );
    Ok(())
}

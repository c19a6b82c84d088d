//! Two instances of the stack across a seeded lossy link (see common/sim.rs): every byte
//! arrives, every connection closes cleanly, nothing is left half-open.

mod common;

use std::time::Duration;

use common::sim::{LinkConfig, Sim, Transfer};
use fastpath_engine::tcp::cc::Algorithm;
use fastpath_engine::tcp::TcpConfig;

/// A short TIME_WAIT keeps virtual runs brief; the RTO ceiling shrinks with it so that,
/// as with Linux's defaults (60 s TIME_WAIT), TIME_WAIT outlasts a retransmitted FIN's
/// backoff. Otherwise a FIN whose ACK was lost arrives after TIME_WAIT and gets a RST.
fn cfg() -> TcpConfig {
    TcpConfig {
        time_wait: Duration::from_secs(2),
        max_rto: Duration::from_secs(1),
        ..TcpConfig::default()
    }
}

fn run_one(
    link: LinkConfig,
    seed: u64,
    transfers: &[Transfer],
    cfg: TcpConfig,
    limit_s: u64,
) -> common::sim::Outcome {
    let mut sim = Sim::new(cfg, link, seed);
    for (i, t) in transfers.iter().enumerate() {
        sim.connect(i, *t);
    }
    let finished = sim.run(Duration::from_secs(limit_s));
    assert!(
        finished,
        "seed {seed} loss {}: did not finish within {limit_s} s of virtual time",
        link.loss
    );
    sim.verify();
    sim.outcome
}

#[test]
fn sizes_from_1kb_to_50mb_both_ways_on_a_clean_link() {
    for (i, size) in [1_000usize, 100_000, 5_000_000, 50_000_000]
        .into_iter()
        .enumerate()
    {
        let o = run_one(
            LinkConfig::lossy(0.0),
            i as u64 + 1,
            &[Transfer {
                up: size,
                down: size / 2,
            }],
            cfg(),
            600,
        );
        assert_eq!(
            o.retransmits, 0,
            "no loss, no retransmission ({size} bytes)"
        );
    }
}

#[test]
fn loss_up_to_30_percent_still_delivers_every_byte() {
    let only: Option<u64> = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok());
    for (seed, loss) in [(11, 0.01), (12, 0.05), (13, 0.10), (14, 0.20), (15, 0.30)] {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let size = if loss >= 0.2 { 100_000 } else { 1_000_000 };
        let o = run_one(
            LinkConfig::lossy(loss),
            seed,
            &[Transfer {
                up: size,
                down: size,
            }],
            cfg(),
            3600,
        );
        assert!(
            o.retransmits > 0,
            "loss {loss}: losses must cause retransmissions"
        );
    }
}

#[test]
fn reordering_duplication_and_many_connections_at_once() {
    let link = LinkConfig {
        loss: 0.02,
        duplicate: 0.05,
        reorder: 0.2,
        delay: Duration::from_millis(10),
        bandwidth: 50_000_000,
    };
    let transfers: Vec<Transfer> = (0..40)
        .map(|i| Transfer {
            up: 1000 * (i + 1),
            down: 20_000 * (i % 7 + 1),
        })
        .collect();
    run_one(link, 99, &transfers, cfg(), 3600);
}

#[test]
fn newreno_and_without_sack_or_timestamps() {
    let mut c = cfg();
    c.cc = Algorithm::NewReno;
    run_one(
        LinkConfig::lossy(0.05),
        21,
        &[Transfer {
            up: 500_000,
            down: 500_000,
        }],
        c,
        3600,
    );
    let mut c = cfg();
    c.sack = false;
    c.timestamps = false;
    c.window_scaling = false;
    run_one(
        LinkConfig::lossy(0.05),
        22,
        &[Transfer {
            up: 300_000,
            down: 300_000,
        }],
        c,
        3600,
    );
}

/// BBR (`--cc bbr`) under loss, reordering and duplication: every byte, clean closes.
#[test]
fn bbr_delivers_every_byte_under_loss_and_reordering() {
    let c = TcpConfig {
        cc: Algorithm::Bbr,
        ..cfg()
    };
    for (seed, loss, reorder) in [
        (31, 0.01, 0.0),
        (32, 0.05, 0.0),
        (33, 0.10, 0.05),
        (34, 0.02, 0.2),
    ] {
        let link = LinkConfig {
            reorder,
            duplicate: 0.01,
            ..LinkConfig::lossy(loss)
        };
        let o = run_one(
            link,
            seed,
            &[Transfer {
                up: 1_000_000,
                down: 500_000,
            }],
            c,
            3600,
        );
        assert!(
            o.retransmits > 0,
            "loss {loss}: losses must cause retransmissions"
        );
    }
    // Random loss does not cut BBR's window: the same seeded 5% loss, in virtual time,
    // takes CUBIC several times longer (a property of the model, not a speed target).
    let link = LinkConfig::lossy(0.05);
    let one = [Transfer {
        up: 2_000_000,
        down: 0,
    }];
    let bbr = run_one(link, 35, &one, c, 3600).delivered;
    let cubic = run_one(link, 35, &one, cfg(), 3600).delivered;
    assert!(
        bbr * 4 < cubic,
        "5% loss: BBR took {bbr:?}, CUBIC {cubic:?}"
    );
}

#[test]
fn syn_flood_sized_backlog_uses_cookies_and_still_connects() {
    // A backlog of 1 with 20 connections at once: most handshakes complete through cookies.
    let mut sim = Sim::new(cfg(), LinkConfig::lossy(0.0), 5);
    sim.set_backlog(1);
    for i in 0..20 {
        sim.connect(
            i,
            Transfer {
                up: 5000,
                down: 5000,
            },
        );
    }
    assert!(sim.run(Duration::from_secs(600)));
    sim.verify();
    assert!(
        sim.cookies_accepted() >= 10,
        "cookies used: {}",
        sim.cookies_accepted()
    );
}

/// The goodput table kept in docs/tcp-simulator.md, over loss and reordering, beside the
/// Mathis bound. Part of every test run, so each row's transfer must complete byte-exact
/// (`run_one` verifies every byte and a clean close); the figures themselves are printed,
/// not judged: `cargo test --release -p fastpath-engine --test tcp_sim -- --nocapture sim_table`.
#[test]
fn sim_table() {
    println!(
        "| congestion control | loss each way | reordered | transfer | time to deliver (s) | goodput (Mbit/s) | Mathis bound (Mbit/s) | segments (both ways) | retransmits | duplicates received |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let rows: [(f64, f64); 10] = [
        (0.0, 0.0),
        (0.01, 0.0),
        (0.02, 0.0),
        (0.05, 0.0),
        (0.10, 0.0),
        (0.0, 0.01),
        (0.0, 0.05),
        (0.0, 0.20),
        (0.01, 0.05),
        (0.02, 0.20),
    ];
    let runs = [Algorithm::Cubic, Algorithm::Bbr]
        .into_iter()
        .flat_map(|cc| rows.into_iter().enumerate().map(move |r| (cc, r)));
    for (cc, (i, (loss, reorder))) in runs {
        let size = 10_000_000;
        let link = LinkConfig {
            reorder,
            ..LinkConfig::lossy(loss)
        };
        let o = run_one(
            link,
            1000 + i as u64,
            &[Transfer { up: size, down: 0 }],
            TcpConfig { cc, ..cfg() },
            36_000,
        );
        let secs = o.delivered.as_secs_f64();
        // Mathis et al.: MSS / RTT * sqrt(3/2) / sqrt(p), for a 1448-byte payload and the
        // link's 10 ms round trip; a reference for loss-limited Reno-like throughput.
        let mathis = if loss > 0.0 {
            format!(
                "{:.2}",
                1448.0 * 8.0 / 0.010 * (1.5f64).sqrt() / loss.sqrt() / 1e6
            )
        } else {
            "-".to_string()
        };
        println!(
            "| {} | {:.0}% | {:.0}% | {} MB up | {:.2} | {:.2} | {mathis} | {} | {} | {} |",
            format!("{cc:?}").to_lowercase(),
            loss * 100.0,
            reorder * 100.0,
            size / 1_000_000,
            secs,
            size as f64 * 8.0 / secs / 1e6,
            o.segments,
            o.retransmits,
            o.duplicates
        );
    }
}

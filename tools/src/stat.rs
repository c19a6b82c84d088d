//! `fastpath stat`: what a running engine is (interface, queues, cores, modes, addresses,
//! ports, uptime) and its counters per queue, refreshed every second with rates since the
//! last refresh; `--once` for one snapshot, `--json` for machines.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::control::{Client, Target};

#[derive(clap::Args, Debug, Clone)]
pub struct StatArgs {
    #[command(flatten)]
    pub target: Target,

    /// One snapshot (counters since start), then exit.
    #[arg(long)]
    pub once: bool,

    /// The engine's status as JSON (one object per line when refreshing).
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: &StatArgs) -> anyhow::Result<()> {
    let stop = crate::serve::stop_on_signals()?;
    let mut client = Client::connect(&args.target)?;
    let mut last: Option<(Value, Instant)> = None;
    loop {
        let now = client.ask("status")?;
        let at = Instant::now();
        if args.json {
            println!("{now}");
        } else {
            print!("{}", render(&now, last.as_ref().map(|(v, t)| (v, at - *t))));
        }
        if args.once {
            return Ok(());
        }
        last = Some((now, at));
        // Wake often enough to see a signal, ask once a second.
        while at.elapsed() < Duration::from_secs(1) {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The status for people: a header, then one row per queue and a total; with `before`,
/// rates over the interval, otherwise counts since start.
pub fn render(s: &Value, before: Option<(&Value, Duration)>) -> String {
    let mut o = String::new();
    let addrs: Vec<String> = s["addrs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{}/{} ({})",
                a["addr"].as_str().unwrap_or("?"),
                a["prefix"],
                if a["owned"] == true {
                    "owned"
                } else {
                    "shared"
                }
            )
        })
        .collect();
    let ports: Vec<String> = s["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.to_string())
        .collect();
    let _ = writeln!(
        o,
        "fastpath {} on {} (pid {}), up {}: XDP {} mode{}, busy-poll {}",
        s["version"].as_str().unwrap_or("?"),
        s["iface"].as_str().unwrap_or("?"),
        s["pid"],
        uptime(s["uptime_s"].as_f64().unwrap_or(0.0)),
        s["xdp"]["mode"].as_str().unwrap_or("?"),
        s["xdp"]["native_refused"]
            .as_str()
            .map(|w| format!(" (native refused: {w})"))
            .unwrap_or_default(),
        if s["busy_poll"] == true { "on" } else { "off" },
    );
    let _ = writeln!(
        o,
        "  addresses {}; ports {}; local ports {}-{}; socket table {} entries",
        addrs.join(", "),
        if ports.is_empty() {
            "none".to_string()
        } else {
            ports.join(",")
        },
        s["local_ports"][0],
        s["local_ports"][1],
        s["table_entries"]
    );
    let rates = before.map(|(b, d)| (b, d.as_secs_f64().max(1e-3)));
    let _ = writeln!(
        o,
        "  {:>5} {:>4} {:<9} {:>10} {:>10} {:>9} {:>9} {:>9} {:>8} {:>7} {:>7} {:>8} {:>9}",
        "queue",
        "core",
        "af_xdp",
        if rates.is_some() {
            "rx pkt/s"
        } else {
            "rx pkts"
        },
        if rates.is_some() {
            "tx pkt/s"
        } else {
            "tx pkts"
        },
        if rates.is_some() { "rx Mb/s" } else { "rx MB" },
        if rates.is_some() { "tx Mb/s" } else { "tx MB" },
        if rates.is_some() { "req/s" } else { "requests" },
        "conns",
        "tw",
        "retrans",
        "drops",
        "frames"
    );
    let queues = s["queues"].as_array().cloned().unwrap_or_default();
    let before_q = |i: usize| rates.map(|(b, _)| b["queues"][i]["counters"].clone());
    for (i, q) in queues.iter().enumerate() {
        let label = format!(
            "{:>5} {:>4} {:<9}",
            q["queue"].to_string(),
            q["core"].as_u64().map_or("-".into(), |c| c.to_string()),
            q["afxdp_mode"].as_str().unwrap_or("?")
        );
        row(
            &mut o,
            &label,
            &q["counters"],
            before_q(i).as_ref(),
            rates.map(|r| r.1),
            &q["gauges"],
        );
    }
    if queues.len() > 1 {
        let gauges = sum_gauges(&queues);
        let label = format!("{:>5} {:>4} {:<9}", "total", "", "");
        row(
            &mut o,
            &label,
            &s["total"],
            rates.map(|(b, _)| &b["total"]),
            rates.map(|r| r.1),
            &gauges,
        );
    }
    o
}

/// Drops the engine counts by reason and those the kernel counts on its AF_XDP socket
/// (XDP_STATISTICS), summed.
fn drops(c: &Value) -> u64 {
    [
        "xsk_rx_dropped",
        "xsk_rx_invalid",
        "xsk_tx_invalid",
        "drop_malformed",
        "drop_fragment",
        "drop_not_ours",
        "drop_martian",
        "drop_unsupported",
        "drop_tx_full",
        "handoff_dropped",
        "loopback_dropped",
    ]
    .iter()
    .map(|k| num(&c[k]))
    .sum()
}

fn row(
    o: &mut String,
    label: &str,
    c: &Value,
    before: Option<&Value>,
    secs: Option<f64>,
    g: &Value,
) {
    let count = |k: &str| -> String {
        let now = num(&c[k]);
        match (before, secs) {
            (Some(b), Some(s)) => format!("{:.0}", now.saturating_sub(num(&b[k])) as f64 / s),
            _ => now.to_string(),
        }
    };
    let bytes = |k: &str| -> String {
        let now = num(&c[k]);
        match (before, secs) {
            (Some(b), Some(s)) => {
                format!(
                    "{:.1}",
                    now.saturating_sub(num(&b[k])) as f64 * 8.0 / s / 1e6
                )
            }
            _ => format!("{:.1}", now as f64 / 1e6),
        }
    };
    let gauge = |k: &str| g[k].as_u64().map_or("?".to_string(), |v| v.to_string());
    let frames = if g["frames"].is_object() {
        format!(
            "{}/{}",
            num(&g["frames"]["free"]),
            num(&g["frames"]["total"])
        )
    } else {
        "?".into()
    };
    let _ = writeln!(
        o,
        "  {label} {:>10} {:>10} {:>9} {:>9} {:>9} {:>8} {:>7} {:>7} {:>8} {:>9}",
        count("rx_frames"),
        count("tx_frames"),
        bytes("rx_bytes"),
        bytes("tx_bytes"),
        count("http_requests"),
        gauge("connections"),
        gauge("time_wait"),
        num(&c["tcp_retransmits"]),
        drops(c),
        frames,
    );
}

fn sum_gauges(queues: &[Value]) -> Value {
    let sum = |f: &dyn Fn(&Value) -> &Value| -> Option<u64> {
        queues.iter().map(|q| f(&q["gauges"]).as_u64()).sum()
    };
    let mut g = serde_json::Map::new();
    for k in ["connections", "time_wait"] {
        if let Some(v) = sum(&|g| &g[k]) {
            g.insert(k.into(), v.into());
        }
    }
    if let (Some(free), Some(total)) = (
        sum(&|g| &g["frames"]["free"]),
        sum(&|g| &g["frames"]["total"]),
    ) {
        g.insert(
            "frames".into(),
            serde_json::json!({"free": free, "total": total}),
        );
    }
    Value::Object(g)
}

fn uptime(s: f64) -> String {
    let s = s as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn drops_add_the_kernels_to_the_engines() {
        let c = json!({"drop_malformed": 2, "xsk_rx_dropped": 5, "handoff_dropped": 1});
        assert_eq!(super::drops(&c), 8);
    }

    fn status(rx: u64) -> serde_json::Value {
        json!({
            "version": "0.1.0", "iface": "veth0", "pid": 42, "uptime_s": 61.0,
            "xdp": {"mode": "native", "native_refused": null}, "busy_poll": false,
            "addrs": [{"addr": "10.0.0.2", "prefix": 24, "owned": true}],
            "ports": [80], "local_ports": [61000, 64999], "table_entries": 3,
            "queues": [{"queue": 0, "core": 1, "afxdp_mode": "copy",
                        "counters": {"rx_frames": rx, "http_requests": rx / 2},
                        "gauges": {"connections": 3, "time_wait": 1,
                                   "frames": {"free": 10, "total": 4096}}}],
            "total": {"rx_frames": rx},
        })
    }

    #[test]
    fn a_snapshot_shows_counts_and_a_refresh_shows_rates() {
        let once = super::render(&status(1000), None);
        assert!(
            once.contains("on veth0 (pid 42), up 1m01s: XDP native mode"),
            "{once}"
        );
        assert!(
            once.contains("addresses 10.0.0.2/24 (owned); ports 80;"),
            "{once}"
        );
        assert!(once.contains("rx pkts"), "{once}");
        let row = once.lines().last().unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cols[..4], &["0", "1", "copy", "1000"], "{row}");
        assert_eq!(cols[cols.len() - 1], "10/4096");
        let before = status(0);
        let rates = super::render(
            &status(1000),
            Some((&before, std::time::Duration::from_secs(2))),
        );
        assert!(rates.contains("rx pkt/s"), "{rates}");
        let cols: Vec<String> = rates
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect();
        assert_eq!(cols[3], "500", "1000 frames in 2 s");
        assert_eq!(cols[7], "250", "500 requests in 2 s");
    }

    #[test]
    fn the_total_row_sums_the_queues_gauges() {
        let q = |c: u64, free: u64| {
            json!({"gauges": {"connections": c, "time_wait": 0,
                              "frames": {"free": free, "total": 100}}})
        };
        let g = super::sum_gauges(&[q(1, 10), q(3, 20)]);
        assert_eq!(g["connections"], 4);
        assert_eq!(g["frames"], json!({"free": 30, "total": 200}));
        let missing = super::sum_gauges(&[q(1, 10), json!({"gauges": null})]);
        assert!(
            missing["connections"].is_null(),
            "unknown when a worker did not answer"
        );
    }
}

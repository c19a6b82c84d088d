//! Floods and attacks on the veth pair (issue: holds up under loss, floods and hostile
//! input): a spoofed-source SYN flood beside real connections, blind in-window RST and SYN
//! against a live connection (RFC 5961), 2,000 slowloris connections beside `wrk`, the
//! connection limit, a burst the frozen engine cannot take (kernel drops counted), and a
//! SIGTERM in the middle of a burst. Each is bounded in count and time; traffic stays inside the
//! test's namespaces; they run one at a time (each loads both cores).

mod common;

use std::time::Duration;

use common::{
    assert_nothing_held, mac_text, one_at_a_time, peer_script, per_queue, serve, stop_report,
    total, web_root,
};
use fastpath_testbed::{privileged, ChildGuard, VethPair};

const SIGTERM: i32 = 15;

/// Starts `syn_flood.py` from the peer namespace at the engine for `secs` seconds and
/// waits until its first batch is on the wire (it says "flooding"). Its last output line
/// is the number of SYNs it sent.
fn start_syn_flood(pair: &VethPair, secs: &str) -> ChildGuard {
    start_syn_flood_at(pair, &pair.engine_addr().to_string(), secs)
}

/// [`start_syn_flood`] at `target`, an address of either family.
fn start_syn_flood_at(pair: &VethPair, target: &str, secs: &str) -> ChildGuard {
    let mac = mac_text(pair.engine_mac());
    let mut flood = pair.peer_ns().spawn(&[
        "timeout",
        "60",
        "python3",
        &peer_script("syn_flood.py"),
        pair.peer_if(),
        &mac,
        target,
        secs,
    ]);
    let flooding = flood.wait_for_output(Duration::from_secs(30), |out, _| {
        out.lines().any(|l| l == "flooding")
    });
    assert!(
        flooding,
        "the flood did not start: {:?}",
        flood.stop(Duration::from_secs(1))
    );
    flood
}

/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn syn_flood_beside_new_connections_uses_cookies_and_stays_bounded() {
    if !privileged::check("syn_flood_beside_new_connections_uses_cookies_and_stays_bounded") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("synf");
    let engine = serve(&pair, &["--backlog", "128"]);
    let pid = engine.pid();
    let rss_before = rss_kb(pid);
    let target = pair.engine_addr().to_string();
    let mut flood = start_syn_flood(&pair, "6");
    // Real clients meanwhile: a new connection for every request, so each one's SYN
    // competes with the flood for the backlog.
    let url = format!("http://{target}/");
    let wrk = pair.peer_ns().exec(&[
        "timeout",
        "30",
        "wrk",
        "-t1",
        "-c8",
        "-d4s",
        "-H",
        "Connection: close",
        &url,
    ]);
    let (status, fout, ferr) = flood.wait_exit(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{fout}{ferr}");
    let sent: u64 = fout
        .lines()
        .last()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let rss_after = rss_kb(pid);
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let wout = String::from_utf8_lossy(&wrk.stdout);
    println!(
        "{sent} spoofed SYNs; RSS {rss_before} kB before, {rss_after} kB after\n{wout}\n{out}"
    );
    let requests: u64 = wout
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.to_string())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let errors: u64 = wout
        .lines()
        .filter(|l| l.contains("Socket errors") || l.contains("Non-2xx"))
        .flat_map(|l| {
            l.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum();
    assert!(sent > 10_000, "the flood ran: {sent}");
    assert!(requests > 200, "{wout}");
    assert!(
        errors * 100 <= requests,
        "at least 99% of the real requests succeeded: {errors} errors in {requests}"
    );
    let cookies = total(&report, "syn_cookies_sent");
    assert!(cookies > 1000, "SYN cookies used: {cookies}\n{report:#}");
    for peak in per_queue(&report, "half_open_peak") {
        assert!(peak <= 128, "the backlog never exceeded its limit: {peak}");
    }
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory bounded: {rss_before} -> {rss_after} kB"
    );
}

#[test]
fn syn_flood_over_ipv6_uses_cookies_and_real_clients_are_served() {
    if !privileged::check("syn_flood_over_ipv6_uses_cookies_and_real_clients_are_served") {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("synf6");
    let o = pair.addr(0).octets();
    let (peer6, engine6) = (
        format!("fd00:{}:{}::1", o[1], o[2]),
        format!("fd00:{}:{}::2", o[1], o[2]),
    );
    pair.peer_ns().run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        &format!("{peer6}/64"),
        "dev",
        pair.peer_if(),
        "nodad",
    ]);
    let engine = serve(
        &pair,
        &["--backlog", "128", "--ip", &format!("{engine6}/64")],
    );
    let mut flood = start_syn_flood_at(&pair, &engine6, "5");
    // Real clients meanwhile, over IPv6: a new connection for every request.
    let url = format!("http://[{engine6}]/");
    let wrk = pair.peer_ns().exec(&[
        "timeout",
        "30",
        "wrk",
        "-t1",
        "-c8",
        "-d3s",
        "-H",
        "Connection: close",
        &url,
    ]);
    let (status, fout, ferr) = flood.wait_exit(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{fout}{ferr}");
    let sent: u64 = fout
        .lines()
        .last()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let wout = String::from_utf8_lossy(&wrk.stdout);
    let requests: u64 = wout
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.to_string())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(sent > 10_000, "the flood ran: {sent}");
    assert!(
        requests > 100,
        "real clients served over IPv6 meanwhile: {wout}"
    );
    assert!(!wout.contains("Socket errors"), "{wout}");
    let cookies = total(&report, "syn_cookies_sent");
    assert!(
        cookies > 1000,
        "SYN cookies over IPv6: {cookies}\n{report:#}"
    );
    for peak in per_queue(&report, "half_open_peak") {
        assert!(peak <= 128, "the backlog never exceeded its limit: {peak}");
    }
}

#[test]
fn a_client_that_never_reads_is_reset_after_the_send_timeout() {
    // A live peer with its window shut answers every zero-window probe, so TCP alone
    // would hold the connection and its response for ever (RFC 9293 3.8.6.1).
    if !privileged::check("a_client_that_never_reads_is_reset_after_the_send_timeout") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("noread");
    let (dir, _cleanup) = web_root("noread", &[("10m.bin", 10_000_000), ("index.html", 6)]);
    let engine = serve(
        &pair,
        &["--root", dir.to_str().unwrap(), "--send-timeout", "2"],
    );
    let target = pair.engine_addr().to_string();
    let out = pair.peer_ns().exec(&[
        "timeout",
        "60",
        "python3",
        &peer_script("never_reads.py"),
        &target,
        "6",
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let index = pair.peer_ns().exec(&[
        "curl",
        "-sS",
        "--max-time",
        "10",
        &format!("http://{target}/index.html"),
    ]);
    let (ok, summary, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{summary}{err}");
    println!("{said}{summary}");
    let got: u64 = said
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(
        said.starts_with("reset ") && got < 10_000_000,
        "the stalled response was reset: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        total(&report, "http_send_timeouts"),
        1,
        "one send timeout counted: {report:#}"
    );
    assert_eq!(index.stdout.len(), 6, "others are served: {index:?}");
    assert_nothing_held(&report);
}

#[test]
fn blind_in_window_rst_and_syn_leave_a_live_connection_alone() {
    if !privileged::check("blind_in_window_rst_and_syn_leave_a_live_connection_alone") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("blind");
    let engine = serve(&pair, &[]);
    let mac = mac_text(pair.engine_mac());
    let target = pair.engine_addr().to_string();
    let out = pair.peer_ns().exec(&[
        "timeout",
        "30",
        "python3",
        &peer_script("blind_rst_syn.py"),
        pair.peer_if(),
        &target,
        &mac,
    ]);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let (ok, sout, serr, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{sout}{serr}");
    println!("{so}{sout}");
    assert_eq!(so.trim(), "alive", "{so}{se}\n{sout}");
    let challenges = total(&report, "tcp_challenge_acks");
    let limited = total(&report, "tcp_challenge_suppressed");
    assert!(challenges >= 2, "challenge ACKs counted: {report:#}");
    assert!(limited > 0, "and rate-limited: {report:#}");
    assert!(
        challenges <= 1000 + 2,
        "at most the limit a second: {report:#}"
    );
}

#[test]
fn two_thousand_slowloris_connections_are_timed_out_while_wrk_is_served() {
    if !privileged::check("two_thousand_slowloris_connections_are_timed_out_while_wrk_is_served") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("slow");
    let engine = serve(&pair, &["--header-timeout", "4"]);
    let target = pair.engine_addr().to_string();
    let mut slow = pair.peer_ns().spawn(&[
        "timeout",
        "60",
        "python3",
        &peer_script("slowloris.py"),
        &target,
        "2000",
        "1",
        "20",
    ]);
    // The slow connections say when all of them are open.
    let open = slow.wait_for_output(Duration::from_secs(30), |out, _| {
        out.lines().any(|l| l == "open 2000")
    });
    assert!(
        open,
        "the slow connections did not open: {:?}",
        slow.stop(Duration::from_secs(1))
    );
    let url = format!("http://{target}/");
    let wrk = pair
        .peer_ns()
        .exec(&["timeout", "30", "wrk", "-t1", "-c16", "-d3s", &url]);
    let (status, sout, serr) = slow.wait_exit(Duration::from_secs(60));
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let wout = String::from_utf8_lossy(&wrk.stdout);
    println!("{wout}\n{out}");
    assert!(status.is_some_and(|s| s.success()), "{sout}{serr}");
    assert_eq!(
        sout.lines().last(),
        Some("2000"),
        "every slow connection closed by the header timeout"
    );
    assert!(
        !wout.contains("Socket errors") && !wout.contains("Non-2xx"),
        "wrk served normally: {wout}"
    );
    let timeouts = total(&report, "http_4xx");
    assert!(timeouts >= 2000, "408s counted: {report:#}");
}

#[test]
fn the_connection_limit_refuses_new_connections_and_keeps_the_others() {
    if !privileged::check("the_connection_limit_refuses_new_connections_and_keeps_the_others") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("limit");
    // The limit is per worker; the peer spreads connections over both queues.
    let engine = serve(&pair, &["--max-conns", "25"]);
    let pid = engine.pid();
    let target = pair.engine_addr().to_string();
    let out = pair.peer_ns().exec(&[
        "timeout",
        "60",
        "python3",
        &peer_script("conn_limit.py"),
        &target,
        "80",
    ]);
    let rss = rss_kb(pid);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let (ok, sout, serr, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{sout}{serr}");
    println!("{so}RSS {rss} kB\n{sout}");
    let nums: Vec<u64> = so
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [connected, refused, answered] = nums[..] else {
        panic!("{so}{se}\n{sout}");
    };
    assert!((25..=50).contains(&connected), "{so}");
    assert_eq!(connected + refused, 80, "{so}");
    assert_eq!(answered, connected, "the connections held are served: {so}");
    let counted = total(&report, "conns_refused");
    assert_eq!(counted, refused, "each refusal counted: {report:#}");
}

#[test]
fn a_burst_the_worker_cannot_take_is_counted_as_kernel_drops() {
    // The engine is frozen (SIGSTOP) while a flood arrives, so its 64-entry RX ring fills
    // (the fill ring lends the kernel 128 frames: the ring, not the frames, runs out first)
    // and the kernel drops the rest. Those drops must be visible, by reason, in the report,
    // and every frame the XDP program redirected must be either received or counted.
    if !privileged::check("a_burst_the_worker_cannot_take_is_counted_as_kernel_drops") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("kdrop");
    let engine = serve(
        &pair,
        &["--frames", "512", "--rx-ring", "64", "--fill-ring", "128"],
    );
    let pid = engine.pid();
    let target = pair.engine_addr().to_string();
    let mut flood = start_syn_flood(&pair, "1");
    fastpath_testbed::proc::signal(pid, libc::SIGSTOP);
    let (status, fout, ferr) = flood.wait_exit(Duration::from_secs(30));
    fastpath_testbed::proc::signal(pid, libc::SIGCONT);
    assert!(status.is_some_and(|s| s.success()), "{fout}{ferr}");
    let sent: u64 = fout
        .lines()
        .last()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    // The engine answers again (a fact, not a sleep): a real request gets through.
    let url = format!("http://{target}/");
    let got = pair
        .peer_ns()
        .exec(&["curl", "-s", "--max-time", "10", "--retry", "3", &url]);
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(got.status.success(), "served after the burst\n{out}");
    let ring_full = total(&report, "xsk_rx_ring_full");
    let other = total(&report, "xsk_rx_dropped");
    let received = total(&report, "rx_frames");
    assert!(sent > 1000, "the flood ran: {sent}");
    assert!(ring_full > 0, "the full ring was counted\n{report:#}");
    assert!(
        out.contains("kernel drops (XDP_STATISTICS): RX ring full"),
        "{out}"
    );
    let redirected = report["xdp"]["counters"]["redirected"]
        .as_u64()
        .unwrap_or_else(|| panic!("no XDP program counters\n{report:#}"));
    // Frames still in the RX ring at exit are neither received nor dropped: at most a
    // ring's worth.
    let accounted = received + ring_full + other;
    assert!(
        accounted <= redirected && redirected <= accounted + 64,
        "redirected {redirected} = received {received} + ring full {ring_full} + other {other}"
    );
    println!("{sent} SYNs while frozen: received {received}, ring full {ring_full}, other {other}, redirected {redirected}");
}

#[test]
fn sigterm_in_the_middle_of_a_burst_is_a_clean_stop() {
    // A stop while the worker is busiest must read as a stop, never as a worker failure
    // (the main loop once checked for an ended worker before the stop flag).
    if !privileged::check("sigterm_in_the_middle_of_a_burst_is_a_clean_stop") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("tburst");
    let engine = serve(&pair, &[]);
    let mut flood = start_syn_flood(&pair, "3");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    let _ = flood.wait_exit(Duration::from_secs(30));
    assert!(ok, "a clean exit\n{out}{err}");
    assert!(!err.contains("stopped unexpectedly"), "{err}");
    assert!(
        total(&report, "rx_frames") > 0,
        "the burst reached the engine"
    );
    assert!(!pair.xdp_attached(), "detached");
}

#[test]
fn a_burst_of_requests_past_the_ring_is_held_in_memory_and_every_one_answered() {
    // 3,000 keep-alive connections each send one request at once into a 256-entry RX
    // ring: far more than the ring holds while the worker answers. The worker moves the
    // rest of the ring into its RX backlog (memory the size of the frames) and answers
    // from there in order; every request gets its answer, every frame is accounted for.
    if !privileged::check(
        "a_burst_of_requests_past_the_ring_is_held_in_memory_and_every_one_answered",
    ) {
        return;
    }
    let _serial = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("fastpath-burst-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let client = dir.join("scale-client");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/scale-client.c");
    let built = std::process::Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&client)
        .arg(source)
        .output()
        .expect("cc runs");
    assert!(built.status.success(), "{built:?}");
    let pair = VethPair::new("rxbl");
    let mut engine = serve(
        &pair,
        &[
            "--frames",
            "2048",
            "--rx-ring",
            "256",
            "--fill-ring",
            "512",
            "--max-conns",
            "5000",
        ],
    );
    // The client moves from phase to phase on each line it reads: connect, then one
    // request on every connection at once, then close.
    let run = format!(
        "printf 'go\\ngo\\n' | timeout 120 {} {} 80 3000 {} 500 60",
        client.display(),
        pair.engine_addr(),
        pair.peer_addr()
    );
    let out = pair.peer_ns().exec(&["sh", "-c", &run]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    // The client closed everything at once: wait for the engine to let go of it all.
    let closed = engine.wait_for_output(Duration::from_secs(30), |out, _| {
        out.lines()
            .rev()
            .find(|l| l.contains(" conns open "))
            .is_some_and(|l| l.contains("] 0 req/s, 0 conns open") || l.contains(", 0 conns open"))
    });
    let (ok, sout, serr, report) = stop_report(engine, SIGTERM);
    assert!(closed, "every connection closed\n{sout}");
    assert!(ok, "{sout}{serr}");
    let phase = |name: &str| -> Vec<u64> {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| {
                panic!(
                    "no {name} line: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    assert_eq!(phase("connected")[..2], [3000, 0], "{text}");
    assert_eq!(
        phase("answered")[..2],
        [3000, 0],
        "every request answered: {text}"
    );
    assert!(
        total(&report, "rx_backlog_frames") > 0,
        "the burst went through the backlog\n{sout}"
    );
    assert!(
        sout.contains("RX backlog (frames moved out of a backed-up ring)"),
        "{sout}"
    );
    assert_eq!(total(&report, "http_2xx"), 3000, "{sout}");
    // Every frame the XDP program redirected was received or counted as a kernel drop.
    let redirected = report["xdp"]["counters"]["redirected"].as_u64().unwrap();
    let accounted = total(&report, "rx_frames")
        + total(&report, "xsk_rx_ring_full")
        + total(&report, "xsk_rx_dropped");
    assert!(
        accounted <= redirected && redirected <= accounted + 256,
        "redirected {redirected}, accounted {accounted}\n{sout}"
    );
    assert_nothing_held(&report);
}

//! Faults and hostile input on the veth pair (issue: holds up under loss, floods and
//! hostile input). Each test is bounded in count and time; traffic stays inside the
//! test's own namespaces.

mod common;

use std::time::Duration;

use common::{
    assert_nothing_held, conns_open_after, frames_balanced_and_free, one_at_a_time, peer_conns,
    peer_script, serve, stop, stop_report, total, web_root, worker_field, Cleanup,
};
use fastpath_testbed::proc::wait_until;
use fastpath_testbed::{privileged, VethPair};

const SIGTERM: i32 = 15;

/// Drops a random `percent` of frames in each direction in the peer namespace.
fn lossy(pair: &VethPair, percent: u32) {
    let rules = format!(
        "table inet fploss {{
            chain in {{ type filter hook input priority 0; numgen random mod 100 < {percent} drop; }}
            chain out {{ type filter hook output priority 0; numgen random mod 100 < {percent} drop; }}
        }}"
    );
    pair.peer_ns().run_ok(&["nft", &rules]);
}

#[test]
fn five_percent_loss_each_way_every_body_arrives_intact() {
    if !privileged::check("five_percent_loss_each_way_every_body_arrives_intact") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("loss");
    let dir = std::env::temp_dir().join(format!("fastpath-loss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let body: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(dir.join("1m.bin"), &body).unwrap();
    let want = {
        let out = std::process::Command::new("sha256sum")
            .arg(dir.join("1m.bin"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let engine = serve(&pair, &["--root", dir.to_str().unwrap()]);
    lossy(&pair, 5);
    let target = pair.engine_addr().to_string();
    let fetch = peer_script("fetch_sha256.py");
    let out = pair.peer_ns().exec(&[
        "timeout", "300", "python3", &fetch, &target, "/1m.bin", "8", "25", &want,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, sout, serr) = stop(engine, SIGTERM);
    assert_eq!(
        text.trim(),
        "200",
        "200 bodies of 1 MB, each intact: {}\nengine:\n{sout}{serr}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ok, "{sout}{serr}");
    println!("{sout}");
}

#[test]
fn restart_under_load_leaves_nothing_attached_and_serves_again() {
    if !privileged::check("restart_under_load_leaves_nothing_attached_and_serves_again") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("rst");
    let url = format!("http://{}/", pair.engine_addr());
    // The kernel's own traffic on the same interface: an address of its own there, pinged
    // from the peer all through the two runs and the gap between them.
    let kernel_addr = pair.addr(5);
    pair.add_engine_kernel_addr(kernel_addr);
    let kernel_target = kernel_addr.to_string();
    let mut ping =
        pair.peer_ns()
            .spawn(&["ping", "-c", "60", "-i", "0.2", "-W", "1", &kernel_target]);
    let engine = serve(&pair, &[]);
    let mut load = pair
        .peer_ns()
        .spawn(&["timeout", "10", "wrk", "-t1", "-c16", "-d4s", &url]);
    // Under load: all of wrk's connections are up (the peer's kernel says so).
    let loaded = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        peer_conns(&pair, "established") >= 16
    });
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(loaded, "wrk never had its 16 connections: {out}{err}");
    assert!(ok, "{out}{err}");
    assert!(
        !pair.xdp_attached(),
        "nothing attached between the two runs"
    );
    let _ = load.wait_exit(Duration::from_secs(15));
    let engine = serve(&pair, &[]);
    let out = pair
        .peer_ns()
        .exec(&["curl", "-sS", "--max-time", "10", &url]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello from fastpath\n"
    );
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let (status, pout, perr) = ping.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()) && pout.contains("60 received"),
        "the kernel's own traffic was unaffected throughout: {pout}{perr}"
    );
}

#[test]
fn a_hundred_thousand_requests_down_one_connection() {
    if !privileged::check("a_hundred_thousand_requests_down_one_connection") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("one");
    let engine = serve(&pair, &[]);
    let url = format!("http://{}/", pair.engine_addr());
    let out = pair.peer_ns().exec(&[
        "timeout", "120", "ab", "-q", "-k", "-c", "1", "-n", "100000", &url,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Complete requests:      100000"), "{text}");
    assert!(text.contains("Failed requests:        0"), "{text}");
    assert!(text.contains("Keep-Alive requests:    100000"), "{text}");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert_eq!(total(&report, "http_requests"), 100000, "{report:#}");
}

/// Frames the engine's workers counted as malformed, all reasons together.
fn malformed_by_reason(report: &serde_json::Value) -> u64 {
    report["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["worker"]["malformed"].as_object())
        .flat_map(|m| m.values().filter_map(|n| n.as_u64()))
        .sum()
}

#[test]
fn a_hundred_thousand_malformed_frames_interleaved_with_real_requests() {
    if !privileged::check("a_hundred_thousand_malformed_frames_interleaved_with_real_requests") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("junk");
    // Every frame the engine saw and sent, to explain a failure.
    let pcap = std::env::temp_dir().join(format!("fastpath-junk-{}.pcap", std::process::id()));
    let pcap_s = pcap.to_string_lossy().into_owned();
    let engine = serve(&pair, &["--pcap", &pcap_s]);
    let target = pair.engine_addr().to_string();
    let mac = pair
        .engine_mac()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let peer = pair.peer_addr().to_string();
    let mut flood = pair.peer_ns().spawn(&[
        "timeout",
        "120",
        "python3",
        &peer_script("malformed_frames.py"),
        pair.peer_if(),
        &mac,
        &peer,
        &target,
        "100000",
    ]);
    // Real requests while the junk flows.
    let url = format!("http://{target}/");
    // The flood overruns the RX ring now and then (frames dropped there, counted by the
    // kernel), and a SYN lost that way is retried after 1 s, 3 s, 7 s: a request may be
    // slow, but it must be answered.
    let mut answered = 0;
    let mut failures = Vec::new();
    for _ in 0..50 {
        let out = pair.peer_ns().exec(&[
            "curl",
            "-sS",
            "--max-time",
            "30",
            "-w",
            "\n%{local_port}",
            &url,
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        match text.split_once("Hello from fastpath\n\n") {
            Some(("", _)) => answered += 1,
            _ => {
                let port = text.rsplit('\n').next().unwrap_or("").to_string();
                failures.push((port, String::from_utf8_lossy(&out.stderr).into_owned()));
            }
        }
    }
    let (status, fout, ferr) = flood.wait_exit(Duration::from_secs(130));
    assert!(status.is_some_and(|s| s.success()), "{fout}{ferr}");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    let mut trace = String::new();
    for (port, _) in &failures {
        let t = std::process::Command::new("tcpdump")
            .args(["-nr", &pcap_s, &format!("tcp port {port}")])
            .output();
        if let Ok(t) = t {
            trace.push_str(&String::from_utf8_lossy(&t.stdout));
        }
    }
    std::fs::remove_file(&pcap).ok();
    assert_eq!(
        answered, 50,
        "every real request answered: {failures:?}\nengine:\n{out}{err}\nframes of the failed ports:\n{trace}"
    );
    assert!(ok, "{out}{err}");
    let by_reason = malformed_by_reason(&report);
    assert!(by_reason > 0, "drops counted by reason: {report:#}");
    println!("{out}");
}

#[test]
fn a_hundred_thousand_malformed_ipv6_frames_interleaved_with_real_requests() {
    // The IPv6 twin of the test above: frames to the engine's IPv6 address broken in every
    // layer it parses (truncated, bad payload length, checksums, data offsets, options,
    // extension-header chains too long or running past the end, fragments, hop-by-hop
    // not first, unknown next headers, odd ICMPv6, VLAN stacks, wrong version), while
    // `curl -6` fetches a page 50 times: every request answered, the drops counted.
    if !privileged::check("a_hundred_thousand_malformed_ipv6_frames_interleaved_with_real_requests")
    {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("junk6");
    let o = pair.addr(0).octets();
    let peer6 = format!("fd00:{}:{}::1", o[1], o[2]);
    let target = format!("fd00:{}:{}::2", o[1], o[2]);
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
    let engine = serve(&pair, &["--ip", &format!("{target}/64")]);
    let mac = pair
        .engine_mac()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let mut flood = pair.peer_ns().spawn(&[
        "timeout",
        "120",
        "python3",
        &peer_script("malformed_frames6.py"),
        pair.peer_if(),
        &mac,
        &peer6,
        &target,
        "100000",
    ]);
    let url = format!("http://[{target}]/");
    let mut answered = 0;
    let mut failures = Vec::new();
    for _ in 0..50 {
        let out = pair
            .peer_ns()
            .exec(&["curl", "-6", "-g", "-sS", "--max-time", "30", &url]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text == "Hello from fastpath\n" {
            answered += 1;
        } else {
            failures.push(format!("{text:?} {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let (status, fout, ferr) = flood.wait_exit(Duration::from_secs(130));
    assert!(status.is_some_and(|s| s.success()), "{fout}{ferr}");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert_eq!(
        answered, 50,
        "every real request answered: {failures:?}\n{out}{err}"
    );
    assert!(ok, "{out}{err}");
    let by_reason = malformed_by_reason(&report);
    let xdp_refused: u64 = report["xdp"]["counters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("malformed") || k.starts_with("ip6_ext"))
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    assert!(
        by_reason + xdp_refused > 10_000,
        "the junk was counted by reason (engine {by_reason}, steering program {xdp_refused}): {report:#}"
    );
    println!("{out}");
}

#[test]
fn a_vanished_peer_is_given_up_after_the_retry_limit_and_a_new_client_is_served() {
    if !privileged::check(
        "a_vanished_peer_is_given_up_after_the_retry_limit_and_a_new_client_is_served",
    ) {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("vanish");
    let (dir, _cleanup) = web_root("vanish", &[("10m.bin", 10_000_000), ("index.html", 6)]);
    let engine = serve(
        &pair,
        &["--root", dir.to_str().unwrap(), "--tcp-retries", "4"],
    );
    let target = pair.engine_addr().to_string();
    // A slow download, then the peer's link goes down under it once half a megabyte
    // has arrived.
    let partial = dir.join("partial.bin");
    let partial_s = partial.to_string_lossy().into_owned();
    let mut download = pair.peer_ns().spawn(&[
        "timeout",
        "60",
        "curl",
        "-s",
        "-o",
        &partial_s,
        "--limit-rate",
        "1M",
        &format!("http://{target}/10m.bin"),
    ]);
    let under_way = wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() >= 512 * 1024)
    });
    assert!(under_way, "the download never got going");
    let before_down = engine.stdout_so_far().len();
    pair.peer_ns()
        .run_ok(&["ip", "link", "set", pair.peer_if(), "down"]);
    drop(download.stop(Duration::from_millis(100)));
    // 4 retransmissions with backoff from a ~200 ms RTO: given up within ~7 s. Wait for
    // the stats line that says the connection is gone.
    let given_up = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        conns_open_after(&engine.stdout_so_far(), before_down) == Some(0)
    });
    assert!(given_up, "still holding the vanished peer's connection");
    pair.peer_ns()
        .run_ok(&["ip", "link", "set", pair.peer_if(), "up"]);
    let up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        pair.peer_ns()
            .run_ok(&["ip", "-o", "link", "show", "dev", pair.peer_if()])
            .contains("state UP")
    });
    assert!(up, "the peer's link did not come back up");
    let out = pair.peer_ns().exec(&[
        "curl",
        "-sS",
        "--max-time",
        "10",
        "--retry",
        "3",
        &format!("http://{target}/index.html"),
    ]);
    let (ok, summary, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{summary}{err}");
    println!("{summary}");
    assert_eq!(out.stdout.len(), 6, "a new client is served: {out:?}");
    assert!(
        total(&report, "conns_timed_out") >= 1,
        "the vanished peer's connection was given up: {report:#}"
    );
    // The peer vanished either with data in flight (retransmissions) or with its window
    // closed by the rate-limited reader (window probes): 4 of one or the other before
    // giving up.
    let tries = total(&report, "tcp_retransmits") + total(&report, "tcp_window_probes");
    assert!(tries >= 4, "after retransmitting or probing: {report:#}");
    assert_nothing_held(&report);
}

#[test]
fn twenty_percent_loss_completes_or_times_out_cleanly_and_everything_is_reclaimed() {
    if !privileged::check(
        "twenty_percent_loss_completes_or_times_out_cleanly_and_everything_is_reclaimed",
    ) {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("loss20");
    let (dir, _cleanup) = web_root("loss20", &[("100k.bin", 100_000)]);
    // The engine's per-second stats line is watched while it runs.
    let engine = serve(
        &pair,
        &[
            "--root",
            dir.to_str().unwrap(),
            "--tcp-retries",
            "5",
            "--keepalive-timeout",
            "5",
        ],
    );
    lossy(&pair, 20);
    let url = format!("http://{}/100k.bin", pair.engine_addr());
    // Eight clients at once, each given 15 s: a body arrives whole, or the client gives up
    // cleanly (curl's timeout); never a wrong body.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            pair.peer_ns().spawn(&[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "--max-time",
                "15",
                "-w",
                "%{http_code} %{size_download}",
                &url,
            ])
        })
        .collect();
    let mut complete = 0;
    let mut timed_out = 0;
    for mut c in clients {
        let (status, out, _) = c.wait_exit(Duration::from_secs(30));
        match status.and_then(|s| s.code()) {
            Some(0) => {
                assert_eq!(out.trim(), "200 100000", "a whole body");
                complete += 1;
            }
            Some(28) => timed_out += 1,
            other => panic!("curl ended with {other:?}: {out}"),
        }
    }
    // The clients are gone (their close, under loss, may take many tries to arrive):
    // within the retry limit and the idle timeout every connection is reclaimed. Watch
    // the stats lines printed from now on until one says so, for at most 90 s.
    let clients_gone = engine.stdout_so_far().len();
    let reclaimed = wait_until(Duration::from_secs(90), Duration::from_millis(100), || {
        conns_open_after(&engine.stdout_so_far(), clients_gone) == Some(0)
    });
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    let summary = format!("{out}{err}");
    assert!(ok, "{summary}");
    assert!(
        reclaimed,
        "every connection reclaimed within 90 s: {summary}"
    );
    println!("{complete} complete, {timed_out} timed out\n{summary}");
    assert_eq!(complete + timed_out, 8);
    let left_other: u64 = worker_field(&report, "connections_left").iter().sum();
    assert_eq!(left_other, 0, "nothing wedged: {report:#}");
    assert!(frames_balanced_and_free(&report), "{report:#}");
    assert_eq!(
        report["at_exit"]["table_entries"], report["at_exit"]["connections"],
        "the socket table matches the connections held: {report:#}"
    );
}

#[test]
fn ecn_with_a_linux_client_ce_is_echoed_and_the_engine_slows_down() {
    // RFC 3168 end to end with a real kernel peer. A router on the path (nftables in the
    // peer namespace) marks ECT(0) packets CE both ways. A client that does not ask for
    // ECN (Linux's default tcp_ecn=2) sends and gets Not-ECT packets, so nothing is
    // marked; one that asks (tcp_ecn=1) gets the engine's ECE answer and ECT(0) data:
    // the marks on its requests reach the engine (which echoes them), and those on the
    // engine's data reach the client, whose ECE makes the engine reduce its window.
    // Every body arrives intact both times.
    if !privileged::check("ecn_with_a_linux_client_ce_is_echoed_and_the_engine_slows_down") {
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("ecn");
    let (dir, _cleanup) = web_root("ecn", &[("1m.bin", 1_000_000)]);
    // Marks on the way in (the engine's data: 3%) and on the way out (the client's
    // requests: every one, so that the check cannot miss by chance), so both ends see CE.
    pair.peer_ns().run_ok(&[
        "nft",
        "table inet fpecn { \
         chain pre { type filter hook prerouting priority -300; \
           ip ecn ect0 numgen random mod 100 < 3 ip ecn set ce; }; \
         chain post { type filter hook postrouting priority 300; \
           ip ecn ect0 ip ecn set ce; }; }",
    ]);
    let url = format!("http://{}/1m.bin", pair.engine_addr());
    let want = std::fs::read(dir.join("1m.bin")).unwrap();
    for (asks, marks_expected) in [("2", false), ("1", true)] {
        pair.peer_ns()
            .run_ok(&["sysctl", "-qw", &format!("net.ipv4.tcp_ecn={asks}")]);
        let engine = serve(&pair, &["--root", dir.to_str().unwrap()]);
        for _ in 0..5 {
            let out = pair
                .peer_ns()
                .exec(&["curl", "-s", "--max-time", "60", &url]);
            assert!(out.status.success(), "curl failed with tcp_ecn={asks}");
            assert!(
                out.stdout == want,
                "a body arrived corrupted (tcp_ecn={asks})"
            );
        }
        let (ok, sout, serr, report) = stop_report(engine, SIGTERM);
        assert!(ok, "{sout}{serr}");
        let (ce, reductions) = (
            total(&report, "tcp_ce_received"),
            total(&report, "tcp_ecn_reductions"),
        );
        println!("tcp_ecn={asks}: CE received {ce}, reductions {reductions}");
        if marks_expected {
            assert!(
                ce > 0 && reductions > 0,
                "tcp_ecn=1: CE received {ce}, reductions {reductions}\n{sout}"
            );
        } else {
            assert_eq!(
                (ce, reductions),
                (0, 0),
                "tcp_ecn=2: nothing was ECN-capable\n{sout}"
            );
        }
    }
}

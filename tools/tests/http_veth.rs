//! The HTTP responder on a veth pair with the kernel's TCP and real clients as the peer
//! (issue: workers, socket table, HTTP responder). Every test builds its own namespaces,
//! bounds its load in count and time, and cleans up on every exit path.

mod common;

use std::time::Duration;

use common::{
    peer_conns, peer_script, per_queue, serve, stop, stop_report, total, worker_field, Cleanup,
};
use fastpath_testbed::proc::wait_until;
use fastpath_testbed::{privileged, VethPair};

const SIGTERM: i32 = 15;

/// Runs `peers/http_client.py` (a raw-socket HTTP peer for what curl, wrk and ab cannot
/// do) against the engine with `args`.
fn py(pair: &VethPair, args: &[&str]) -> String {
    let target = pair.engine_addr().to_string();
    let script = peer_script("http_client.py");
    let mut argv = vec!["timeout", "60", "python3", &script, &target];
    argv.extend_from_slice(args);
    let out = pair.peer_ns().exec(&argv);
    assert!(
        out.status.success(),
        "python client {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl(pair: &VethPair, args: &[&str]) -> String {
    let mut argv = vec!["curl", "-sS", "--max-time", "10"];
    argv.extend_from_slice(args);
    let out = pair.peer_ns().exec(&argv);
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_get_head_and_http_1_0() {
    if !privileged::check("curl_get_head_and_http_1_0") {
        return;
    }
    let pair = VethPair::new("curl");
    let engine = serve(&pair, &["--body", "veth says hi\n"]);
    let url = format!("http://{}/", pair.engine_addr());
    let got = curl(&pair, &["-i", &url]);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    for h in [
        "Server: fastpath\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Length: 13\r\n",
        "Connection: keep-alive\r\n",
        "Date: ",
    ] {
        assert!(got.contains(h), "missing {h:?} in {got}");
    }
    assert!(got.ends_with("\r\n\r\nveth says hi\n"), "{got}");
    let head = curl(&pair, &["-I", &url]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("Content-Length: 13\r\n"));
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head:?}");
    let old = curl(&pair, &["-i", "--http1.0", &url]);
    assert!(
        old.contains("Connection: close\r\n") && old.ends_with("veth says hi\n"),
        "{old}"
    );
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert_eq!(total(&report, "http_requests"), 3, "{report:#}");
    // Three curls, one after another: at least three turns of the loop did work, and the
    // worker slept between them; the summary shows the histogram.
    let turns: u64 = [
        "loop_lt_16us",
        "loop_lt_64us",
        "loop_lt_256us",
        "loop_lt_1ms",
        "loop_lt_4ms",
        "loop_lt_16ms",
        "loop_ge_16ms",
    ]
    .iter()
    .map(|k| total(&report, k))
    .sum();
    assert!(turns >= 3, "{report:#}");
    assert!(total(&report, "sleeps") > 0, "{report:#}");
    assert!(
        out.contains("loop turns by time (work only): <16us"),
        "{out}"
    );
}

#[test]
fn wrk_64_keepalive_connections_without_errors() {
    if !privileged::check("wrk_64_keepalive_connections_without_errors") {
        return;
    }
    let pair = VethPair::new("wrk");
    let engine = serve(&pair, &[]);
    let url = format!("http://{}/", pair.engine_addr());
    let out = pair
        .peer_ns()
        .exec(&["timeout", "30", "wrk", "-t2", "-c64", "-d3s", &url]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("Socket errors"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(requests > 1000, "{text}");
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    println!("wrk: {requests} requests\n{text}");
}

#[test]
fn ab_one_connection_per_request_leaves_only_time_wait() {
    if !privileged::check("ab_one_connection_per_request_leaves_only_time_wait") {
        return;
    }
    let pair = VethPair::new("ab");
    let engine = serve(&pair, &[]);
    let url = format!("http://{}/", pair.engine_addr());
    let out = pair
        .peer_ns()
        .exec(&["timeout", "60", "ab", "-q", "-n", "5000", "-c", "32", &url]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Complete requests:      5000"), "{text}");
    assert!(text.contains("Failed requests:        0"), "{text}");
    // Wait until the peer's kernel holds nothing but TIME_WAIT towards the engine: every
    // close it took part in is over (a connection the engine closes last, still waiting
    // for its final ACK, is finished within the stop's grace). Then look at the table.
    let settled = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        peer_conns(&pair, "connected exclude time-wait") == 0
    });
    assert!(settled, "the peer still has connections open to the engine");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert_eq!(per_queue(&report, "conns_accepted").len(), 2, "{report:#}");
    // ab may open a few connections beyond -n that it closes unused.
    let accepted = total(&report, "conns_accepted");
    let requests = total(&report, "http_requests");
    assert!(accepted >= 5000 && requests == 5000, "{report:#}");
    assert!(
        worker_field(&report, "connections_left")
            .iter()
            .all(|&n| n == 0),
        "nothing but TIME_WAIT left: {report:#}"
    );
}

#[test]
fn a_thousand_idle_keepalive_connections_then_a_request_on_each() {
    if !privileged::check("a_thousand_idle_keepalive_connections_then_a_request_on_each") {
        return;
    }
    let pair = VethPair::new("idle");
    let engine = serve(&pair, &[]);
    let got = py(&pair, &["idle", "1000"]);
    assert_eq!(got.trim(), "ok 1000");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert_eq!(total(&report, "conns_accepted"), 1000, "{report:#}");
}

#[test]
fn a_ten_megabyte_file_from_root_arrives_intact() {
    if !privileged::check("a_ten_megabyte_file_from_root_arrives_intact") {
        return;
    }
    let pair = VethPair::new("big");
    let dir = std::env::temp_dir().join(format!("fastpath-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let data: Vec<u8> = (0..10_000_000u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("big.bin"), &data).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>index</h1>\n").unwrap();
    let engine = serve(&pair, &["--root", dir.to_str().unwrap()]);
    let url = format!("http://{}/big.bin", pair.engine_addr());
    let fetched = dir.join("fetched.bin");
    curl(&pair, &["-o", fetched.to_str().unwrap(), &url]);
    let sum = |p: &std::path::Path| {
        let out = std::process::Command::new("sha256sum")
            .arg(p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(sum(&fetched), sum(&dir.join("big.bin")), "sha256 differs");
    let index = curl(&pair, &["-i", &format!("http://{}/", pair.engine_addr())]);
    assert!(index.contains("Content-Type: text/html") && index.ends_with("<h1>index</h1>\n"));
    let missing = curl(
        &pair,
        &["-i", &format!("http://{}/nope", pair.engine_addr())],
    );
    assert!(missing.starts_with("HTTP/1.1 404 Not Found"), "{missing}");
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
}

#[test]
fn sixteen_pipelined_requests_in_one_write_are_answered_in_order() {
    if !privileged::check("sixteen_pipelined_requests_in_one_write_are_answered_in_order") {
        return;
    }
    let pair = VethPair::new("pipe");
    let dir = std::env::temp_dir().join(format!("fastpath-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    for i in 0..16 {
        std::fs::write(dir.join(format!("{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let engine = serve(&pair, &["--root", dir.to_str().unwrap()]);
    let got = py(&pair, &["pipeline"]);
    let want: String = (0..16)
        .map(|i| format!("HTTP/1.1 200 OK file {i}\n"))
        .collect();
    assert_eq!(got, want);
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
}

#[test]
fn two_queues_two_workers_each_connection_stays_with_one() {
    if !privileged::check("two_queues_two_workers_each_connection_stays_with_one") {
        return;
    }
    let pair = VethPair::new("two");
    let engine = serve(&pair, &["--queues", "all"]);
    let url = format!("http://{}/", pair.engine_addr());
    // 64 keep-alive connections of 200 requests each: the peer's veth spreads flows
    // over both queues.
    let out = pair.peer_ns().exec(&[
        "timeout", "60", "ab", "-q", "-k", "-n", "12800", "-c", "64", &url,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("Failed requests:        0"), "{text}");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let accepted = per_queue(&report, "conns_accepted");
    assert_eq!(accepted.len(), 2, "{report:#}");
    assert!(
        accepted.iter().all(|&n| n > 0),
        "both workers accepted: {report:#}"
    );
    assert!(
        per_queue(&report, "http_requests").iter().all(|&n| n > 0),
        "both workers answered: {report:#}"
    );
    // Symmetric steering: no segment had to cross to another worker.
    let handoffs = ["handoff_out", "handoff_in", "handoff_dropped"].map(|k| total(&report, k));
    assert_eq!(handoffs, [0, 0, 0], "{report:#}");
}

#[test]
fn hostile_requests_get_their_status_and_a_close() {
    if !privileged::check("hostile_requests_get_their_status_and_a_close") {
        return;
    }
    let pair = VethPair::new("bad");
    let engine = serve(&pair, &["--header-timeout", "2"]);
    let long_target = format!(
        "GET /{} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",
        "a".repeat(9000)
    );
    let big_header = format!(
        "GET / HTTP/1.1\\r\\nHost: x\\r\\nX: {}\\r\\n\\r\\n",
        "b".repeat(9000)
    );
    let cases: Vec<(String, &str)> = vec![
        ("NONSENSE\\r\\n\\r\\n".into(), "400"),
        ("GET / HTTP/1.1\\r\\n\\r\\n".into(), "400"),
        (
            "POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n".into(),
            "400",
        ),
        (
            "POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\nContent-Length: 4\\r\\n\\r\\n".into(),
            "400",
        ),
        (
            "POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5000000\\r\\n\\r\\n".into(),
            "413",
        ),
        (long_target, "414"),
        (big_header, "431"),
        (
            "POST / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: gzip\\r\\n\\r\\n".into(),
            "501",
        ),
        ("GET / HTTP/2.0\\r\\nHost: x\\r\\n\\r\\n".into(), "505"),
        ("GET /../../etc/passwd HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".into(), "400"),
        // Header injection: a bare CR inside a value, a CRLF inside the target, and an
        // obsolete line folding; none may be taken as a second header or request.
        (
            "GET / HTTP/1.1\\r\\nHost: x\\r\\nX-A: a\\rInjected: b\\r\\n\\r\\n".into(),
            "400",
        ),
        (
            "GET /a\\r\\nInjected: b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".into(),
            "400",
        ),
        (
            "GET / HTTP/1.1\\r\\nHost: x\\r\\nX-A: a\\r\\n Injected: b\\r\\n\\r\\n".into(),
            "400",
        ),
    ];
    for (req, status) in &cases {
        let got = py(&pair, &["raw", req]);
        let mut parts = got.trim().split(" | ");
        let line = parts.next().unwrap_or("");
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{req}: {got}"
        );
        assert_eq!(parts.next(), Some("close"), "{req}: {got}");
        assert_eq!(parts.next(), Some("closed"), "{req}: {got}");
    }
    // Binary garbage after a valid request: 200, then 400 and a close, nothing echoed.
    let got = py(&pair, &["garbage"]);
    let parts: Vec<&str> = got.trim().split(" | ").collect();
    assert!(parts[0].starts_with("HTTP/1.1 200 "), "{got}");
    assert!(parts[1].starts_with("HTTP/1.1 400 "), "{got}");
    assert_eq!(&parts[2..], ["close", "closed", "not echoed"], "{got}");
    // Slowloris: one byte every half second never completes a head within 2 s.
    let got = py(&pair, &["slowloris"]);
    let mut parts = got.trim().split(" | ");
    assert!(
        parts
            .next()
            .is_some_and(|s| s.starts_with("HTTP/1.1 408") || s == "closed"),
        "{got}"
    );
    assert_eq!(parts.next(), Some("closed"), "{got}");
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
}

#[test]
fn pcap_file_opens_in_tcpdump_and_shows_the_handshake() {
    if !privileged::check("pcap_file_opens_in_tcpdump_and_shows_the_handshake") {
        return;
    }
    let pair = VethPair::new("pcap");
    let file = std::env::temp_dir().join(format!("fastpath-{}.pcap", std::process::id()));
    let _cleanup = CleanupFile(file.clone());
    let engine = serve(&pair, &["--pcap", file.to_str().unwrap()]);
    curl(&pair, &[&format!("http://{}/", pair.engine_addr())]);
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let td = std::process::Command::new("tcpdump")
        .args(["-nn", "-r", file.to_str().unwrap(), "tcp port 80"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&td.stdout);
    let warnings = String::from_utf8_lossy(&td.stderr);
    assert!(td.status.success(), "{warnings}");
    assert!(
        !warnings.to_lowercase().contains("warning") && !warnings.contains("truncated"),
        "{warnings}"
    );
    let engine_ip = pair.engine_addr().to_string();
    let syn = text
        .lines()
        .position(|l| l.contains(&format!("> {engine_ip}.80: Flags [S]")));
    let syn_ack = text
        .lines()
        .position(|l| l.contains(&format!("{engine_ip}.80 >")) && l.contains("Flags [S.]"));
    assert!(
        syn.is_some() && syn_ack.is_some() && syn < syn_ack,
        "{text}"
    );
    assert!(
        text.contains("HTTP: HTTP/1.1 200 OK") || text.contains("length"),
        "{text}"
    );
}

struct CleanupFile(std::path::PathBuf);
impl Drop for CleanupFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn sigterm_lets_an_in_flight_response_finish() {
    if !privileged::check("sigterm_lets_an_in_flight_response_finish") {
        return;
    }
    let pair = VethPair::new("grace");
    let dir = std::env::temp_dir().join(format!("fastpath-grace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let data = vec![b'z'; 10_000_000];
    std::fs::write(dir.join("big.bin"), &data).unwrap();
    let engine = serve(&pair, &["--root", dir.to_str().unwrap(), "--grace", "10"]);
    let fetched = dir.join("fetched.bin");
    let url = format!("http://{}/big.bin", pair.engine_addr());
    // About 2.5 s at 4 MB/s: the signal arrives once the body is streaming (curl has
    // written some of it) and well before it ends.
    let mut download = pair.peer_ns().spawn(&[
        "curl",
        "-sS",
        "--max-time",
        "30",
        "--limit-rate",
        "4M",
        "-o",
        fetched.to_str().unwrap(),
        &url,
    ]);
    let streaming = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        std::fs::metadata(&fetched).is_ok_and(|m| m.len() > 0)
    });
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(streaming, "the body never started: {out}{err}");
    assert!(ok, "{out}{err}");
    let (status, _, curl_err) = download.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "curl: {curl_err}");
    assert_eq!(std::fs::metadata(&fetched).unwrap().len(), 10_000_000);
    assert!(!pair.xdp_attached());
}

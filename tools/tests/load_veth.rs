//! The engine as a client, and the loopback fast path, on veth pairs: `fastpath load`
//! against `fastpath serve` and against a kernel HTTP server, `fastpath serve --self-load`
//! without the NIC, and a connect nobody answers. Every test builds its own namespaces,
//! bounds its run in time, and cleans up on every exit path.

mod common;

use std::time::{Duration, Instant};

use common::{per_queue, serve, stop_report, total, BIN};
use fastpath_testbed::{privileged, VethPair};
use serde_json::{json, Value};

const SIGTERM: i32 = 15;

/// The figure just before `what` on the first line that has one, e.g.
/// `number(out, " requests in ")` on "927 requests in 3.00 s: ...".
fn number(out: &str, what: &str) -> u64 {
    out.lines()
        .find_map(|l| {
            let (before, _) = l.split_once(what)?;
            before.rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no number before '{what}' in:\n{out}"))
}

/// A file for `--report-json`, removed on drop.
struct JsonFile(std::path::PathBuf);
impl JsonFile {
    fn new(tag: &str) -> JsonFile {
        JsonFile(std::env::temp_dir().join(format!("fastpath-{tag}-{}.json", std::process::id())))
    }
    fn arg(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
    /// The report the run wrote.
    fn read(&self) -> Value {
        let text = std::fs::read_to_string(&self.0).expect("the JSON report was written");
        serde_json::from_str(&text).expect("valid JSON")
    }
}
impl Drop for JsonFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `fastpath load` in the peer namespace, attached to the peer's end with its own
/// (engine-owned) address `.3`.
fn load_from_peer(pair: &VethPair, url: &str, extra: &[&str]) -> (bool, String, String) {
    let ip = format!("{}/24", pair.addr(3));
    let mut argv = vec![
        "timeout",
        "60",
        BIN,
        "load",
        "--iface",
        pair.peer_if(),
        "--ip",
        &ip,
        "--url",
        url,
    ];
    argv.extend_from_slice(extra);
    let out = pair.peer_ns().exec(&argv);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn load_against_fastpath_serve_over_veth() {
    if !privileged::check("load_against_fastpath_serve_over_veth") {
        return;
    }
    let pair = VethPair::new("ld-fp");
    let engine = serve(&pair, &[]);
    let url = format!("http://{}/", pair.engine_addr());
    let json = JsonFile::new("ld");
    let json_arg = json.arg();
    let (ok, out, err) = load_from_peer(
        &pair,
        &url,
        &["-c", "16", "-d", "3", "--report-json", &json_arg],
    );
    assert!(ok, "{out}{err}");
    println!("{out}");
    // --report-json: the load's figures and the engine's, as data.
    let report = json.read();
    let requests = report["load"]["requests"].as_u64().unwrap_or(0);
    assert_eq!(number(&out, " requests in "), requests, "{out}");
    assert!(
        report["load"]["latency_ms"]["p99"].as_f64() > Some(0.0),
        "{report:#}"
    );
    assert!(total(&report["engine"], "conns_opened") >= 16, "{report:#}");
    assert!(requests > 1000, "{report:#}");
    assert_eq!(report["load"]["errors"], json!({}), "{report:#}");
    assert_eq!(report["load"]["non_2xx"], 0, "{report:#}");
    assert!(
        out.contains("latency ms: p50"),
        "percentiles printed: {out}"
    );
    let (ok, sout, serr, served) = stop_report(engine, SIGTERM);
    assert!(ok, "{sout}{serr}");
    // The server answered every request the client counted (and perhaps the few still in
    // flight when the run ended).
    let answered = total(&served, "http_2xx");
    assert!(
        answered >= requests && answered <= requests + 16,
        "server {answered}, client {requests}"
    );
}

#[test]
fn load_against_a_kernel_http_server() {
    if !privileged::check("load_against_a_kernel_http_server") {
        return;
    }
    let pair = VethPair::new("ld-kn");
    let dir = std::env::temp_dir().join(format!("fastpath-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from the kernel\n").unwrap();
    let bind = pair.peer_addr().to_string();
    let dirs = dir.to_string_lossy().into_owned();
    let mut server = pair.peer_ns().spawn(&[
        "timeout",
        "60",
        "python3",
        "-m",
        "http.server",
        "8000",
        "--bind",
        &bind,
        "--directory",
        &dirs,
    ]);
    assert!(
        fastpath_testbed::proc::wait_until(
            Duration::from_secs(10),
            Duration::from_millis(100),
            || {
                pair.peer_ns()
                    .exec(&[
                        "curl",
                        "-s",
                        "-o",
                        "/dev/null",
                        &format!("http://{bind}:8000/hello.txt"),
                    ])
                    .status
                    .success()
            }
        ),
        "python http.server did not start"
    );
    // The engine on its own end, its address owned (the kernel there has none).
    let ip = format!("{}/24", pair.engine_addr());
    let url = format!("http://{bind}:8000/hello.txt");
    let json = JsonFile::new("ld-kn");
    let json_arg = json.arg();
    let out = pair.engine_ns().exec(&[
        "timeout",
        "60",
        BIN,
        "load",
        "--iface",
        pair.engine_if(),
        "--ip",
        &ip,
        "--url",
        &url,
        "-c",
        "4",
        "-d",
        "3",
        "--report-json",
        &json_arg,
    ]);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let (_, _, log) = server.stop(Duration::from_secs(2));
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{so}{se}");
    println!("{so}");
    let report = json.read();
    let requests = report["load"]["requests"].as_u64().unwrap_or(0);
    assert!(requests >= 20, "{report:#}");
    assert_eq!(report["load"]["non_2xx"], 0, "{report:#}");
    // The server logged (at least) every request the client counted, each a 200 for the file.
    let served = log
        .lines()
        .filter(|l| l.contains("\"GET /hello.txt HTTP/1.1\" 200"))
        .count() as u64;
    assert!(
        served >= requests,
        "server logged {served}, client counted {requests}"
    );
    // HTTP/1.0 answers close the connection: one connection per request.
    assert!(
        report["load"]["connects"].as_u64() >= Some(requests),
        "{report:#}"
    );
}

#[test]
fn self_load_runs_in_memory_and_leaves_the_nic_alone() {
    if !privileged::check("self_load_runs_in_memory_and_leaves_the_nic_alone") {
        return;
    }
    let pair = VethPair::new("ld-self");
    let before = pair.link_packets(true);
    let ip = format!("{}/24", pair.engine_addr());
    let json = JsonFile::new("ld-self");
    let json_arg = json.arg();
    let t = Instant::now();
    let out = pair.engine_ns().exec(&[
        "timeout",
        "60",
        BIN,
        "serve",
        "--iface",
        pair.engine_if(),
        "--ip",
        &ip,
        "--stats-interval",
        "0",
        "--self-load",
        "--load-duration",
        "3",
        "--load-connections",
        "32",
        "--report-json",
        &json_arg,
    ]);
    let after = pair.link_packets(true);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{so}{se}");
    println!("{so}");
    assert!(t.elapsed() < Duration::from_secs(30));
    let report = json.read();
    let engine = &report["engine"];
    let requests = report["load"]["requests"].as_u64().unwrap_or(0);
    assert!(requests > 5000, "thousands of requests: {report:#}");
    assert_eq!(report["load"]["errors"], json!({}), "{report:#}");
    // The engine's own frame counters and the kernel's counters of the interface: what
    // moved is background noise (IPv6 router solicitations and the like), not the load.
    assert!(
        total(engine, "rx_frames") < 20 && total(engine, "tx_frames") < 20,
        "{report:#}"
    );
    let moved = (after.0 - before.0, after.1 - before.1);
    assert!(
        moved.0 < 50 && moved.1 < 50,
        "the interface counted {moved:?} packets"
    );
    let (out, into) = (total(engine, "loopback_out"), total(engine, "loopback_in"));
    assert!(out > 2 * requests, "{report:#}");
    assert_eq!(out, into, "{report:#}");
}

#[test]
fn self_load_to_127_0_0_1_across_two_workers_with_a_tiny_inbox() {
    if !privileged::check("self_load_to_127_0_0_1_across_two_workers_with_a_tiny_inbox") {
        return;
    }
    let pair = VethPair::new("ld-tiny");
    let ip = format!("{}/24", pair.engine_addr());
    let json = JsonFile::new("ld-tiny");
    let json_arg = json.arg();
    let out = pair.engine_ns().exec(&[
        "timeout",
        "60",
        BIN,
        "serve",
        "--iface",
        pair.engine_if(),
        "--ip",
        &ip,
        "--stats-interval",
        "0",
        "--queues",
        "0-1",
        "--self-load",
        "--load-duration",
        "3",
        "--load-connections",
        "32",
        "--load-target",
        "127.0.0.1",
        "--loopback-inbox",
        "4",
        "--report-json",
        &json_arg,
    ]);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{so}{se}");
    println!("{so}");
    let report = json.read();
    let engine = &report["engine"];
    let requests = report["load"]["requests"].as_u64().unwrap_or(0);
    assert!(requests > 500, "{report:#}");
    // Every request sent was answered: no timeout, reset or early close. (A SYN dropped
    // at the full inbox waits for its retransmission, 1 s then 3 s later; a connection
    // still waiting when the run ends is reported as not connected, which is not a loss.)
    let kinds: Vec<&String> = report["load"]["errors"]
        .as_object()
        .expect("errors by kind")
        .keys()
        .filter(|k| !k.starts_with("not connected after 1 s"))
        .collect();
    assert!(kinds.is_empty(), "every request completed: {report:#}");
    assert!(
        total(engine, "loopback_dropped") + total(engine, "handoff_dropped") > 0,
        "the tiny inbox overflowed: {report:#}"
    );
    // Both workers accepted connections (SYNs spread over workers by flow hash).
    let accepted = per_queue(engine, "conns_accepted");
    assert!(
        accepted.len() == 2 && accepted.iter().all(|&a| a > 0),
        "{report:#}"
    );
    // Nothing lost or duplicated: the servers answered what the clients counted, plus at
    // most the one request per connection in flight at the end.
    let answered = total(engine, "http_2xx");
    assert!(
        answered >= requests && answered <= requests + 32,
        "server {answered}, client {requests}"
    );
}

#[test]
fn a_next_hop_that_never_answers_arp_fails_clearly() {
    if !privileged::check("a_next_hop_that_never_answers_arp_fails_clearly") {
        return;
    }
    let pair = VethPair::new("ld-arp");
    let url = format!("http://{}/", pair.addr(99));
    let json = JsonFile::new("ld-arp");
    let json_arg = json.arg();
    let t = Instant::now();
    let (ok, out, err) = load_from_peer(
        &pair,
        &url,
        &["-c", "2", "-d", "5", "--report-json", &json_arg],
    );
    assert!(!ok, "no request can complete: {out}{err}");
    assert!(t.elapsed() < Duration::from_secs(20));
    let report = json.read();
    assert!(
        report["load"]["errors"]["next hop unreachable (no ARP answer)"].as_u64() > Some(0),
        "{report:#}"
    );
    assert!(err.contains("no request completed"), "{err}");
    // Three requests per worker per attempt, then it gave up: no endless ARP.
    assert!(total(&report["engine"], "arp_requests") <= 24, "{report:#}");
    let link = pair
        .peer_ns()
        .run_ok(&["ip", "-d", "link", "show", "dev", pair.peer_if()]);
    assert!(!link.contains("prog/xdp"), "detached at exit: {link}");
}

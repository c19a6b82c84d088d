//! HTTP over IPv6 from `fastpath serve` on a veth pair, the kernel's TCP as the client:
//! `curl -6` gets a multi-segment body byte-exact (sha256), keeps one connection alive
//! for several requests, and the same process serves IPv4 at the same time; wrk and ab
//! without errors; 10 MB bodies intact under 5% loss each way; `fastpath load` against
//! `serve` (the capture holding both families) and against nginx, all over IPv6.

use fastpath_testbed::{privileged, VethPair};

mod common;

use common::{one_at_a_time, peer_script, serve, stop_report, total, web_root};

const SIGINT: i32 = 2;

/// `fd00:X:Y::host` for the pair's `10.X.Y.0/24`.
fn addr6(pair: &VethPair, host: u16) -> String {
    let o = pair.addr(0).octets();
    format!("fd00:{}:{}::{host:x}", o[1], o[2])
}

fn sha256(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

#[test]
fn curl_over_ipv6_gets_a_byte_exact_body_with_keep_alive_beside_ipv4() {
    if !privileged::check("curl_over_ipv6_gets_a_byte_exact_body_with_keep_alive_beside_ipv4") {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6 (ipv6_veth checks the refusal)");
        return;
    }
    let pair = VethPair::new("tcp6");
    let peer = format!("{}/64", addr6(&pair, 1));
    pair.peer_ns().run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        &peer,
        "dev",
        pair.peer_if(),
        "nodad",
    ]);
    let target = addr6(&pair, 2);
    let engine6 = format!("{target}/64");
    let (dir, _cleanup) = web_root("tcp6", &[("big.bin", 1 << 20), ("small.txt", 100)]);
    let want = sha256(&dir.join("big.bin"));
    let engine = serve(&pair, &["--ip", &engine6, "--root", dir.to_str().unwrap()]);

    let url6 = format!("http://[{target}]:80");
    let url4 = format!("http://{}:80", pair.engine_addr());
    // 1 MiB over IPv6 and over IPv4 at once, from the same process.
    let both = format!(
        "(curl -6 -g -sS --max-time 20 {url6}/big.bin | sha256sum > /tmp/tcp6-a.$$) & \
         (curl -4 -sS --max-time 20 {url4}/big.bin | sha256sum > /tmp/tcp6-b.$$) & wait; \
         cut -d' ' -f1 /tmp/tcp6-a.$$ /tmp/tcp6-b.$$; rm -f /tmp/tcp6-a.$$ /tmp/tcp6-b.$$"
    );
    let out = pair.peer_ns().run_ok(&["sh", "-c", &both]);
    let sums: Vec<&str> = out.lines().collect();
    assert_eq!(
        sums,
        [want.as_str(), want.as_str()],
        "IPv6 then IPv4 digests"
    );

    // Keep-alive: three requests, one connection (curl reuses it: 1 new connect, then 0s).
    let out = pair.peer_ns().run_ok(&[
        "curl",
        "-6",
        "-g",
        "-sS",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{num_connects} %{size_download}\n",
        &format!("{url6}/small.txt"),
        &format!("{url6}/small.txt"),
        &format!("{url6}/big.bin"),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["200 1 100", "200 0 100", "200 0 1048576"],
        "one connection kept alive for three requests"
    );

    let (ok, out, err, report) = stop_report(engine, SIGINT);
    assert!(ok, "exit status; stdout {out}\nstderr {err}");
    assert_eq!(
        total(&report, "conns_accepted"),
        3,
        "two fetches and one kept-alive connection: {report:#}"
    );
    assert_eq!(total(&report, "tcp_rst_sent"), 0, "{report:#}");
    assert!(
        !pair.xdp_attached(),
        "XDP program left attached after SIGINT"
    );
}

/// A file removed on drop.
struct RmFile(std::path::PathBuf);
impl Drop for RmFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// (IPv4, IPv6) TCP frames in the pcap file at `path` (classic pcap, Ethernet).
fn pcap_families(path: &std::path::Path) -> (usize, usize) {
    let b = std::fs::read(path).expect("the capture was written");
    assert!(b.len() >= 24, "a pcap header");
    let (mut at, mut v4, mut v6) = (24, 0, 0);
    while at + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let f = &b[at + 16..(at + 16 + incl).min(b.len())];
        if f.len() > 54 {
            match (u16::from_be_bytes([f[12], f[13]]), f[23], f[20]) {
                (0x0800, 6, _) => v4 += 1,
                (0x86dd, _, 6) => v6 += 1,
                _ => {}
            }
        }
        at += 16 + incl;
    }
    (v4, v6)
}

#[test]
fn fastpath_load_drives_serve_over_ipv6_and_the_capture_holds_both_families() {
    if !privileged::check(
        "fastpath_load_drives_serve_over_ipv6_and_the_capture_holds_both_families",
    ) {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let pair = VethPair::new("ld6");
    let server6 = addr6(&pair, 2);
    let pcap = std::env::temp_dir().join(format!("fastpath-ld6-{}.pcap", std::process::id()));
    let _rm = RmFile(pcap.clone());
    let engine = serve(
        &pair,
        &[
            "--ip",
            &format!("{server6}/64"),
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    // IPv4 from the peer's kernel first, so that the capture holds both families.
    let url4 = format!("http://{}/", pair.engine_addr());
    pair.peer_ns().run_ok(&[
        "curl",
        "-4",
        "-sS",
        "--max-time",
        "10",
        "-o",
        "/dev/null",
        &url4,
    ]);

    // The load generator is an engine too, on the peer's end, with addresses of its own.
    let ip4 = format!("{}/24", pair.addr(3));
    let ip6 = format!("{}/64", addr6(&pair, 3));
    let url6 = format!("http://[{server6}]:80/");
    let out = pair.peer_ns().exec(&[
        "timeout",
        "60",
        common::BIN,
        "load",
        "--iface",
        pair.peer_if(),
        "--ip",
        &ip4,
        "--ip",
        &ip6,
        "--url",
        &url6,
        "-c",
        "8",
        "-d",
        "2",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let requests: u64 = stdout
        .lines()
        .find_map(|l| {
            l.split_once(" requests in ")?
                .0
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("a request count in {stdout}"));
    assert!(requests > 100, "{stdout}");
    assert!(stdout.contains("errors: none"), "{stdout}");

    let (ok, sout, serr, served) = stop_report(engine, SIGINT);
    assert!(ok, "{sout}{serr}");
    let answered = total(&served, "http_2xx");
    assert!(
        answered > requests && answered <= requests + 1 + 8,
        "server {answered}, client {requests} (+1 for curl)"
    );
    let (v4, v6) = pcap_families(&pcap);
    assert!(
        v4 > 0 && v6 > 100,
        "TCP frames captured: {v4} IPv4, {v6} IPv6"
    );
}

/// A pair whose peer's kernel has `fd00:X:Y::1/64`; returns the engine's `::2`.
fn pair6(tag: &str) -> (VethPair, String) {
    let pair = VethPair::new(tag);
    let peer = format!("{}/64", addr6(&pair, 1));
    pair.peer_ns().run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        &peer,
        "dev",
        pair.peer_if(),
        "nodad",
    ]);
    let engine = addr6(&pair, 2);
    (pair, engine)
}

#[test]
fn wrk_and_ab_over_ipv6_without_errors() {
    if !privileged::check("wrk_and_ab_over_ipv6_without_errors") {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let _serial = one_at_a_time();
    let (pair, target) = pair6("wrk6");
    let engine = serve(&pair, &["--ip", &format!("{target}/64")]);
    let url = format!("http://[{target}]/");
    let wrk = pair
        .peer_ns()
        .run_ok(&["timeout", "30", "wrk", "-t1", "-c16", "-d2s", &url]);
    let requests: u64 = wrk
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ")?.0.parse().ok())
        .unwrap_or(0);
    assert!(requests > 500, "{wrk}");
    assert!(
        !wrk.contains("Socket errors") && !wrk.contains("Non-2xx"),
        "{wrk}"
    );
    let ab = pair.peer_ns().run_ok(&[
        "timeout", "30", "ab", "-q", "-n", "2000", "-c", "8", "-k", &url,
    ]);
    assert!(ab.contains("Complete requests:      2000"), "{ab}");
    assert!(ab.contains("Failed requests:        0"), "{ab}");
    let (ok, out, err, report) = stop_report(engine, SIGINT);
    assert!(ok, "{out}{err}");
    assert!(total(&report, "http_2xx") >= requests + 2000, "{report:#}");
}

/// Drops a random `percent` of frames of both families in each direction in the peer
/// namespace.
fn lossy(pair: &VethPair, percent: u32) {
    let rules = format!(
        "table inet fploss6 {{
            chain in {{ type filter hook input priority 0; numgen random mod 100 < {percent} drop; }}
            chain out {{ type filter hook output priority 0; numgen random mod 100 < {percent} drop; }}
        }}"
    );
    pair.peer_ns().run_ok(&["nft", &rules]);
}

#[test]
fn ten_megabytes_over_ipv6_under_five_percent_loss_arrive_intact() {
    if !privileged::check("ten_megabytes_over_ipv6_under_five_percent_loss_arrive_intact") {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let _serial = one_at_a_time();
    let (pair, target) = pair6("loss6");
    let (dir, _cleanup) = web_root("loss6", &[("10m.bin", 10 << 20)]);
    let want = sha256(&dir.join("10m.bin"));
    let engine = serve(
        &pair,
        &[
            "--ip",
            &format!("{target}/64"),
            "--root",
            dir.to_str().unwrap(),
        ],
    );
    lossy(&pair, 5);
    // Two keep-alive connections, two 10 MB bodies each.
    let out = pair.peer_ns().exec(&[
        "timeout",
        "300",
        "python3",
        &peer_script("fetch_sha256.py"),
        &target,
        "/10m.bin",
        "2",
        "2",
        &want,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let (ok, sout, serr, report) = stop_report(engine, SIGINT);
    assert!(
        out.status.success() && text.trim() == "4",
        "4 bodies of 10 MB intact: {text}{}\nengine:\n{sout}{serr}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ok, "{sout}{serr}");
    assert!(
        total(&report, "tcp_retransmits") > 0,
        "the loss was real: {report:#}"
    );
}

#[test]
fn fastpath_load_drives_nginx_listening_on_ipv6() {
    if !privileged::check("fastpath_load_drives_nginx_listening_on_ipv6") {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let (pair, _) = pair6("ngx6");
    let server = addr6(&pair, 1);
    let (dir, _cleanup) = web_root("ngx6", &[("hello.txt", 100)]);
    let conf = dir.join("nginx.conf");
    let d = dir.to_str().unwrap();
    std::fs::write(
        &conf,
        format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; server {{ listen [{server}]:8080; root {d}; }} }}\n"
        ),
    )
    .unwrap();
    let mut nginx = pair.peer_ns().spawn(&[
        "timeout",
        "60",
        "nginx",
        "-c",
        conf.to_str().unwrap(),
        "-p",
        d,
    ]);
    let url = format!("http://[{server}]:8080/hello.txt");
    let up = fastpath_testbed::proc::wait_until(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(100),
        || {
            pair.peer_ns()
                .exec(&["curl", "-g", "-s", "-o", "/dev/null", &url])
                .status
                .success()
        },
    );
    assert!(
        up,
        "nginx did not start: {:?}",
        nginx.stop(std::time::Duration::from_secs(1))
    );
    // The engine on its own end, both its addresses owned (the kernel there has none).
    let ip4 = format!("{}/24", pair.engine_addr());
    let ip6 = format!("{}/64", addr6(&pair, 2));
    let out = pair.engine_ns().exec(&[
        "timeout",
        "60",
        common::BIN,
        "load",
        "--iface",
        pair.engine_if(),
        "--ip",
        &ip4,
        "--ip",
        &ip6,
        "--url",
        &url,
        "-c",
        "4",
        "-d",
        "2",
    ]);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    nginx.stop(std::time::Duration::from_secs(2));
    assert!(out.status.success(), "{so}{se}");
    let requests: u64 = so
        .lines()
        .find_map(|l| {
            l.split_once(" requests in ")?
                .0
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("a request count in {so}"));
    assert!(requests > 100, "{so}");
    assert!(so.contains("errors: none"), "{so}");
}

#[test]
fn self_load_to_ipv6_localhost_leaves_the_nic_still() {
    if !privileged::check("self_load_to_ipv6_localhost_leaves_the_nic_still") {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let _serial = one_at_a_time();
    let pair = VethPair::new("sl6");
    let ip4 = format!("{}/24", pair.engine_addr());
    let ip6 = format!("{}/64", addr6(&pair, 2));
    let json = std::env::temp_dir().join(format!("fastpath-sl6-{}.json", std::process::id()));
    let _rm = RmFile(json.clone());
    let out = pair.engine_ns().exec(&[
        "timeout",
        "60",
        common::BIN,
        "serve",
        "--iface",
        pair.engine_if(),
        "--ip",
        &ip4,
        "--ip",
        &ip6,
        "--stats-interval",
        "0",
        "--self-load",
        "--load-duration",
        "2",
        "--load-connections",
        "16",
        "--load-target",
        "::1",
        "--report-json",
        json.to_str().unwrap(),
    ]);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{so}{se}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the report")).unwrap();
    let engine = &report["engine"];
    let requests = report["load"]["requests"].as_u64().unwrap_or(0);
    assert!(requests > 500, "{report:#}");
    assert_eq!(
        report["load"]["errors"],
        serde_json::json!({}),
        "{report:#}"
    );
    // The NIC saw nothing of it: the one frame sent is the duplicate address detection
    // probe for the owned IPv6 address; no TCP segment came from the wire.
    assert_eq!(
        total(engine, "tx_frames"),
        total(engine, "dad_probes"),
        "{report:#}"
    );
    assert_eq!(total(engine, "tcp_segments"), 0, "{report:#}");
    assert!(total(engine, "http_2xx") >= requests, "{report:#}");
}

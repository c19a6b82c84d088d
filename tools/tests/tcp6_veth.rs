//! HTTP over IPv6 from `fastpath serve` on a veth pair, the kernel's TCP as the client:
//! `curl -6` gets a multi-segment body byte-exact (sha256), keeps one connection alive
//! for several requests, and the same process serves IPv4 at the same time.

use fastpath_testbed::{privileged, VethPair};

mod common;

use common::{serve, stop_report, total, web_root};

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

//! The HTTP responder on a veth pair with the kernel's TCP and real clients as the peer
//! (issue: workers, socket table, HTTP responder). Every test builds its own namespaces,
//! bounds its load in count and time, and cleans up on every exit path.

mod common;

use std::time::Duration;

use common::{serve, stop, Cleanup};
use fastpath_testbed::{privileged, VethPair};

const SIGTERM: i32 = 15;

/// A raw-socket HTTP peer for what curl/wrk/ab cannot do; run with `python3 -c`.
const CLIENT_PY: &str = r#"
import socket, sys, time, resource
host = sys.argv[1]
mode = sys.argv[2]

def connect():
    s = socket.create_connection((host, 80), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def read_response(s, buf):
    # one response: head, then Content-Length bytes; returns (status, headers, body, rest)
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before a response")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {}
    for l in lines[1:]:
        k, v = l.split(": ", 1)
        headers[k.lower()] = v
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed mid-body")
        rest += d
    return lines[0], headers, rest[:n], rest[n:]

def closed_by_peer(s):
    s.settimeout(5)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except (ConnectionResetError, socket.timeout):
        return False

if mode == "idle":
    n = int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    socks = [connect() for _ in range(n)]
    time.sleep(1)
    ok = 0
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    for s in socks:
        status, h, body, _ = read_response(s, b"")
        if status == "HTTP/1.1 200 OK":
            ok += 1
    print("ok", ok)
elif mode == "pipeline":
    s = connect()
    s.sendall(b"".join(b"GET /%d.txt HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(16)))
    buf = b""
    for i in range(16):
        status, h, body, buf = read_response(s, buf)
        print(status, body.decode().strip())
elif mode == "raw":
    s = connect()
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
    status, h, body, _ = read_response(s, b"")
    print(status, "|", h.get("connection"), "|", "closed" if closed_by_peer(s) else "open")
elif mode == "garbage":
    # A valid request, then binary garbage in the same write: the request is answered,
    # the garbage gets a 400 and a close; nothing of it is echoed.
    import random
    rnd = random.Random(5)
    junk = bytes(rnd.randrange(256) for _ in range(2048))
    s = connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + junk)
    first, h1, body1, buf = read_response(s, b"")
    second, h2, body2, _ = read_response(s, buf)
    echoed = junk[:16] in body1 + body2
    print(first, "|", second, "|", h2.get("connection"), "|", "closed" if closed_by_peer(s) else "open", "|", "echoed" if echoed else "not echoed")
elif mode == "slowloris":
    s = connect()
    t = time.time()
    try:
        for b in b"GET / HTTP/1.1\r\nHost: x\r\n":
            s.sendall(bytes([b]))
            time.sleep(0.5)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        status, h, body, _ = read_response(s, b"")
    except (EOFError, ConnectionResetError):
        status = "closed"
    print(status, "|", "closed" if closed_by_peer(s) else "open", "|", round(time.time() - t))
"#;

fn py(pair: &VethPair, args: &[&str]) -> String {
    let target = pair.engine_addr().to_string();
    let mut argv = vec!["timeout", "60", "python3", "-c", CLIENT_PY, &target];
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

/// Per-queue (accepted, left in states other than TIME_WAIT, requests) from the summary
/// line "connections N accepted, ..., M left in other states, ...; requests R (...".
fn queue_connections(summary: &str) -> Vec<(u64, u64, u64)> {
    fn before(l: &str, key: &str) -> Option<u64> {
        let head = &l[..l.find(key)?];
        head.rsplit([' ', ','])
            .find(|w| !w.is_empty())?
            .parse()
            .ok()
    }
    fn after(l: &str, key: &str) -> Option<u64> {
        l[l.find(key)? + key.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
    summary
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("connections ")?;
            Some((
                l.split_whitespace().next()?.parse().ok()?,
                before(l, " left in other states")?,
                after(l, "requests ")?,
            ))
        })
        .collect()
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
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(out.contains("requests 3"), "{out}");
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
    // Let the last handshakes settle, then look at what the table holds.
    std::thread::sleep(Duration::from_millis(500));
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let queues = queue_connections(&out);
    assert_eq!(queues.len(), 2, "{out}");
    // ab may open a few connections beyond -n that it closes unused.
    let accepted: u64 = queues.iter().map(|q| q.0).sum();
    let requests: u64 = queues.iter().map(|q| q.2).sum();
    assert!(accepted >= 5000 && requests == 5000, "{out}");
    assert!(
        queues.iter().all(|q| q.1 == 0),
        "nothing but TIME_WAIT left: {out}"
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
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let accepted: u64 = queue_connections(&out).iter().map(|q| q.0).sum();
    assert_eq!(accepted, 1000, "{out}");
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
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let queues = queue_connections(&out);
    assert_eq!(queues.len(), 2, "{out}");
    assert!(
        queues.iter().all(|q| q.0 > 0),
        "both workers accepted: {out}"
    );
    assert!(
        queues.iter().all(|q| q.2 > 0),
        "both workers answered: {out}"
    );
    // Symmetric steering: no segment had to cross to another worker.
    assert!(out.contains("handoffs out 0 in 0 dropped 0"), "{out}");
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
    // About 2.5 s at 4 MB/s: the signal arrives while the body is streaming.
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
    std::thread::sleep(Duration::from_millis(700));
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let (status, _, curl_err) = download.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "curl: {curl_err}");
    assert_eq!(std::fs::metadata(&fetched).unwrap().len(), 10_000_000);
    assert!(!pair.xdp_attached());
}

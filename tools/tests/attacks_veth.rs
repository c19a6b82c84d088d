//! Floods and attacks on the veth pair (issue: holds up under loss, floods and hostile
//! input): a spoofed-source SYN flood beside real connections, blind in-window RST and SYN
//! against a live connection (RFC 5961), 2,000 slowloris connections beside `wrk`, and
//! the connection limit. Each is bounded in count and time; traffic stays inside the
//! test's namespaces; they run one at a time (each loads both cores).

mod common;

use std::time::Duration;

use common::{each, mac_text, one_at_a_time, py, serve, stop, web_root};
use fastpath_testbed::{privileged, VethPair};

const SIGTERM: i32 = 15;

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

/// Spoofed-source SYNs to the engine's port 80 from an AF_PACKET socket, as fast as
/// Python goes, for `secs` seconds. Sources are random addresses in 198.18.0.0/15, so the
/// SYN-ACKs go nowhere (the peer's kernel drops them) and every SYN leaves a half-open
/// connection behind. Prints the number sent (not counting those the link dropped).
const SYN_FLOOD_PY: &str = r#"
import socket, struct, random, sys, time
ifname, dst_mac, dst_ip, secs = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3], float(sys.argv[4])
rnd = random.Random(11)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
frames = []
for i in range(4096):
    src = socket.inet_aton("198.%d.%d.%d" % (18 + rnd.randrange(2), rnd.randrange(256), rnd.randrange(1, 255)))
    dst = socket.inet_aton(dst_ip)
    opts = b"\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02\x00\x00"
    tcp = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 65536), 80, rnd.randrange(1 << 32), 0, (5 + len(opts) // 4) << 4, 0x02, 64240, 0, 0) + opts
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frames.append(dst_mac + src_mac + b"\x08\x00" + ip + tcp)
sent = 0
end = time.time() + secs
while time.time() < end:
    for f in frames[:512]:
        sent += send(s, f)
    frames = frames[512:] + frames[:512]
print(sent)
"#;

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
    let mac = mac_text(pair.engine_mac());
    let target = pair.engine_addr().to_string();
    let mut flood = pair.peer_ns().spawn(&[
        "timeout",
        "60",
        "python3",
        "-c",
        &py(SYN_FLOOD_PY),
        pair.peer_if(),
        &mac,
        &target,
        "6",
    ]);
    std::thread::sleep(Duration::from_millis(1000));
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
    let sent: u64 = fout.trim().parse().unwrap_or(0);
    let rss_after = rss_kb(pid);
    let (ok, out, err) = stop(engine, SIGTERM);
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
    let cookies: u64 = each(&out, "SYN cookies sent ").iter().sum();
    assert!(cookies > 1000, "SYN cookies used: {cookies}\n{out}");
    for peak in each(&out, "half-open peak ") {
        assert!(peak <= 128, "the backlog never exceeded its limit: {peak}");
    }
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory bounded: {rss_before} -> {rss_after} kB"
    );
}

/// One keep-alive connection; learns its sequence numbers by sniffing the engine's
/// answer, then injects from an AF_PACKET socket: an in-window RST and an in-window SYN
/// (each must draw a challenge ACK and leave the connection alone), an out-of-window RST
/// (ignored), and 1,500 in-window RSTs (challenge ACKs limited to 1,000 a second). Then a second request
/// on the same connection must be answered. Prints "alive" if it is.
const BLIND_PY: &str = r#"
import socket, struct, sys, time
ifname, host, dst_mac = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", ""))
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
sniff.bind((ifname, 0))
sniff.settimeout(5)
src_mac = sniff.getsockname()[4][:6]
c = socket.create_connection((host, 80), timeout=10)
lport = c.getsockname()[1]
src_ip = c.getsockname()[0]
c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
engine_seq = our_seq = None
deadline = time.time() + 5
while time.time() < deadline:
    f = sniff.recv(65536)
    ip = f[14:]
    if ip[9] != 6: continue
    ihl = (ip[0] & 15) * 4
    tcp = ip[ihl:]
    sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
    if sport == 80 and dport == lport:
        doff = (tcp[12] >> 4) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        plen = total - ihl - doff
        if plen > 0:
            engine_seq, our_seq = seq + plen, ack
            break
assert our_seq is not None, "no answer seen"
resp = c.recv(65536)
assert resp.startswith(b"HTTP/1.1 200"), resp
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def seg(flags, seq, ack=0):
    s_ip, d_ip = socket.inet_aton(src_ip), socket.inet_aton(host)
    tcp = struct.pack("!HHIIBBHHH", lport, 80, seq & 0xffffffff, ack & 0xffffffff, 5 << 4, flags, 65535, 0, 0)
    ck = csum(s_ip + d_ip + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", ck) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, s_ip, d_ip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    send_all(sniff, dst_mac + src_mac + b"\x08\x00" + ip + tcp)
seg(0x04, our_seq + 1000)            # RST, in window, not exact
seg(0x02, our_seq + 5000)            # SYN, in window
seg(0x04, our_seq - 10000000)        # RST far out of window
for i in range(1500):
    seg(0x04, our_seq + 2000 + i)    # a burst of in-window RSTs, over the 1000/s limit
time.sleep(0.5)
c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
resp = c.recv(65536)
print("alive" if resp.startswith(b"HTTP/1.1 200") else "dead: %r" % resp[:60])
"#;

/// Asks for a 10 MB file with a 4 KB receive buffer, reads nothing for `wait` seconds,
/// then reads until the end: prints "reset N", "closed N" or "timeout N" (N bytes read).
const NEVER_READS_PY: &str = r#"
import socket, sys, time
host, wait = sys.argv[1], float(sys.argv[2])
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.settimeout(20)
c.connect((host, 80))
c.sendall(b"GET /10m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(wait)
got = 0
try:
    while True:
        d = c.recv(65536)
        if not d:
            print("closed", got)
            break
        got += len(d)
except ConnectionResetError:
    print("reset", got)
except socket.timeout:
    print("timeout", got)
"#;

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
        "-c",
        NEVER_READS_PY,
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
    let (ok, summary, err) = stop(engine, SIGTERM);
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
        each(&summary, ", send ").iter().sum::<u64>(),
        1,
        "one send timeout counted: {summary}"
    );
    assert_eq!(index.stdout.len(), 6, "others are served: {index:?}");
    assert!(
        summary.contains("at exit: 0 connections held, 0 socket table entries"),
        "{summary}"
    );
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
        "-c",
        &py(BLIND_PY),
        pair.peer_if(),
        &target,
        &mac,
    ]);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let (ok, sout, serr) = stop(engine, SIGTERM);
    assert!(ok, "{sout}{serr}");
    println!("{so}{sout}");
    assert_eq!(so.trim(), "alive", "{so}{se}\n{sout}");
    let challenges: u64 = each(&sout, "challenge ACKs ").iter().sum();
    let limited: u64 = each(&sout, "(rate-limited ").iter().sum();
    assert!(challenges >= 2, "challenge ACKs counted: {sout}");
    assert!(limited > 0, "and rate-limited: {sout}");
    assert!(challenges <= 1000 + 2, "at most the limit a second: {sout}");
}

/// `n` connections, each sending one byte of a request head every `every` seconds;
/// prints how many the server closed (end of stream or a 408) within `secs` seconds.
const SLOWLORIS_PY: &str = r#"
import socket, sys, time, resource, selectors
host, n, every, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256, n + 256))
sel = selectors.DefaultSelector()
socks = []
for i in range(n):
    s = socket.create_connection((host, 80), timeout=10)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, i)
    socks.append(s)
head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
pos = [0] * n
closed = set()
end = time.time() + secs
while time.time() < end and len(closed) < n:
    for i, s in enumerate(socks):
        if i in closed: continue
        try:
            s.send(head[pos[i] % len(head):][:1]); pos[i] += 1
        except OSError:
            closed.add(i); sel.unregister(s)
    t = time.time() + every
    while time.time() < t and len(closed) < n:
        for key, _ in sel.select(0.2):
            i = key.data
            try:
                d = key.fileobj.recv(4096)
            except OSError:
                d = b""
            if not d or b" 408 " in d:
                closed.add(i); sel.unregister(key.fileobj)
print(len(closed))
"#;

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
        "-c",
        SLOWLORIS_PY,
        &target,
        "2000",
        "1",
        "20",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    let url = format!("http://{target}/");
    let wrk = pair
        .peer_ns()
        .exec(&["timeout", "30", "wrk", "-t1", "-c16", "-d3s", &url]);
    let (status, sout, serr) = slow.wait_exit(Duration::from_secs(60));
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let wout = String::from_utf8_lossy(&wrk.stdout);
    println!("{wout}\n{out}");
    assert!(status.is_some_and(|s| s.success()), "{sout}{serr}");
    assert_eq!(
        sout.trim(),
        "2000",
        "every slow connection closed by the header timeout"
    );
    assert!(
        !wout.contains("Socket errors") && !wout.contains("Non-2xx"),
        "wrk served normally: {wout}"
    );
    let timeouts: u64 = each(&out, "4xx ").iter().sum();
    assert!(timeouts >= 2000, "408s counted: {out}");
}

/// Opens `n` connections and keeps them; then a request on each that connected. Prints
/// "connected C refused R answered A".
const LIMIT_PY: &str = r#"
import socket, sys
host, n = sys.argv[1], int(sys.argv[2])
ok, refused = [], 0
for i in range(n):
    try:
        s = socket.create_connection((host, 80), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(0.5)
        # A refused SYN shows as ECONNREFUSED; a connection beyond the limit never lives.
        ok.append(s)
    except ConnectionRefusedError:
        refused += 1
    except OSError:
        refused += 1
answered = 0
for s in ok:
    try:
        s.settimeout(5)
        if s.recv(4096).startswith(b"HTTP/1.1 200"): answered += 1
    except OSError:
        pass
print("connected %d refused %d answered %d" % (len(ok), refused, answered))
"#;

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
    let out = pair
        .peer_ns()
        .exec(&["timeout", "60", "python3", "-c", LIMIT_PY, &target, "80"]);
    let rss = rss_kb(pid);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let (ok, sout, serr) = stop(engine, SIGTERM);
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
    let counted: u64 = each(&sout, "other states, ").iter().sum();
    assert_eq!(counted, refused, "each refusal counted: {sout}");
}

//! Faults and hostile input on the veth pair (issue: holds up under loss, floods and
//! hostile input). Each test is bounded in count and time; traffic stays inside the
//! test's own namespaces.

mod common;

use std::time::Duration;

use common::{each, one_at_a_time, py, serve, stop, web_root, Cleanup};
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

/// Python: `n` keep-alive connections, `per` GETs each of `path`; prints how many bodies
/// had the expected sha256.
const FETCH_PY: &str = r#"
import socket, sys, hashlib, threading
host, path, conns, per, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
good = [0] * conns
def run(i):
    try:
        fetch(i)
    except Exception as e:
        print("connection %d: %r after %d good bodies" % (i, e, good[i]), file=sys.stderr)
def fetch(i):
    s = socket.create_connection((host, 80), timeout=60)
    buf = b""
    for _ in range(per):
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        while b"\r\n\r\n" not in buf:
            d = s.recv(1 << 20)
            if not d: raise EOFError
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        n = int([l.split(b": ")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(buf) < n:
            d = s.recv(1 << 20)
            if not d: raise EOFError
            buf += d
        body, buf = buf[:n], buf[n:]
        if hashlib.sha256(body).hexdigest() == want:
            good[i] += 1
        else:
            print("connection %d: a body of %d bytes with another sha256" % (i, len(body)), file=sys.stderr)
ts = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sum(good))
"#;

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
    let out = pair.peer_ns().exec(&[
        "timeout", "300", "python3", "-c", FETCH_PY, &target, "/1m.bin", "8", "25", &want,
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
    std::thread::sleep(Duration::from_secs(1));
    let (ok, out, err) = stop(engine, SIGTERM);
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
    let (ok, out, err) = stop(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("total:") && out.contains("requests 100000"),
        "{out}"
    );
}

/// Python: sends `count` malformed or mutated Ethernet frames to the engine's MAC from an
/// AF_PACKET socket, deterministic (seeded).
const FRAMES_PY: &str = r#"
import socket, struct, random, sys
ifname, dst_mac, src_ip, dst_ip, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3], sys.argv[4], int(sys.argv[5])
rnd = random.Random(7)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def ip(proto, payload, ihl=5, frag=0x4000, total=None, opts=b""):
    tl = total if total is not None else 20 + len(opts) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tl & 0xffff, rnd.randrange(65536), frag, 64, proto, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip)) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload
def tcp(flags=0x02, doff=5, opts=b"", payload=b"", dport=80):
    # Source ports below the peer kernel's ephemeral range (32768-60999), so a junk SYN
    # never opens a half-open connection on a 4-tuple a real client (curl) picks next:
    # with the peer's RST to our SYN-ACK lost in the flood, such a collision keeps the
    # client waiting for the half-open's SYN-ACK retries (a minute), as it would with
    # Linux as the server.
    h = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 32768), dport, rnd.randrange(1 << 32), 0, doff << 4, flags, 65535, 0, 0) + opts
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 6, len(h) + len(payload))
    c = csum(pseudo + h + payload)
    return h[:16] + struct.pack("!H", c) + h[18:] + payload
def eth(payload, et=0x0800, vlans=0):
    f = dst_mac + src_mac
    for _ in range(vlans):
        f += struct.pack("!HH", 0x8100, rnd.randrange(4096))
    return f + struct.pack("!H", et) + payload
kinds = []
good_syn = eth(ip(6, tcp(opts=b"\x02\x04\x05\xb4")))
for i in range(count):
    k = i % 12
    if k == 0:   f = good_syn[:rnd.randrange(0, len(good_syn))]          # truncated anywhere
    elif k == 1: f = eth(ip(6, tcp(), ihl=rnd.choice([0, 1, 4, 15])))  # bad IHL
    elif k == 2: f = eth(ip(6, tcp(), total=rnd.choice([0, 19, 21, 9000])))  # bad total length
    elif k == 3:                                                          # bad IP checksum
        b = bytearray(eth(ip(6, tcp()))); b[24] ^= 0xff; f = bytes(b)
    elif k == 4:                                                          # bad TCP checksum
        b = bytearray(eth(ip(6, tcp()))); b[50] ^= 0xff; f = bytes(b)
    elif k == 5: f = eth(ip(6, tcp(doff=rnd.choice([0, 1, 4, 15]))))     # bad data offset
    elif k == 6: f = eth(ip(6, tcp(), frag=rnd.choice([0x2000, 0x0001, 0x2010])))  # fragments
    elif k == 7: f = eth(ip(6, tcp(), ihl=6, opts=b"\x01\x01\x01\x00"))  # IPv4 options
    elif k == 8:                                                          # bogus TCP options
        o = bytes(rnd.randrange(256) for _ in range(rnd.choice([4, 8, 20, 40])))
        f = eth(ip(6, tcp(doff=5 + len(o) // 4, opts=o)))
    elif k == 9: f = eth(bytes(rnd.randrange(256) for _ in range(rnd.randrange(8, 40))), et=0x0806)  # ARP garbage
    elif k == 10: f = eth(ip(6, tcp()), vlans=rnd.choice([1, 2, 3]))      # VLAN stacks
    else: f = eth(bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200))), et=rnd.choice([0x0800, 0x86dd, 0x88cc]))
    if len(f) < 14:
        f = f + b"\0" * (14 - len(f))
    send_all(s, f)
print("sent", count)
"#;

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
        "-c",
        &py(FRAMES_PY),
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
    let (ok, out, err) = stop(engine, SIGTERM);
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
    assert!(
        out.contains("malformed by reason"),
        "drops counted by reason: {out}"
    );
    println!("{out}");
}

/// Frames in use (neither free nor with the kernel) per queue at exit: 0 is the baseline.
fn frames_in_use(summary: &str) -> Vec<u64> {
    each(summary, " in-use ")
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
    // A slow download, then the peer's link goes down under it.
    let mut download = pair.peer_ns().spawn(&[
        "timeout",
        "60",
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "--limit-rate",
        "1M",
        &format!("http://{target}/10m.bin"),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    pair.peer_ns()
        .run_ok(&["ip", "link", "set", pair.peer_if(), "down"]);
    drop(download.stop(Duration::from_millis(100)));
    // 4 retransmissions with backoff from a ~200 ms RTO: given up within ~7 s.
    std::thread::sleep(Duration::from_secs(10));
    pair.peer_ns()
        .run_ok(&["ip", "link", "set", pair.peer_if(), "up"]);
    std::thread::sleep(Duration::from_millis(500));
    let out = pair.peer_ns().exec(&[
        "curl",
        "-sS",
        "--max-time",
        "10",
        "--retry",
        "3",
        &format!("http://{target}/index.html"),
    ]);
    let (ok, summary, err) = stop(engine, SIGTERM);
    assert!(ok, "{summary}{err}");
    println!("{summary}");
    assert_eq!(out.stdout.len(), 6, "a new client is served: {out:?}");
    assert!(
        each(&summary, "given up ").iter().sum::<u64>() >= 1,
        "the vanished peer's connection was given up: {summary}"
    );
    // The peer vanished either with data in flight (retransmissions) or with its window
    // closed by the rate-limited reader (window probes): 4 of one or the other before
    // giving up.
    let tries = each(&summary, "retransmits ").iter().sum::<u64>()
        + each(&summary, "window probes ").iter().sum::<u64>();
    assert!(tries >= 4, "after retransmitting or probing: {summary}");
    assert!(
        summary.contains("at exit: 0 connections held, 0 socket table entries"),
        "{summary}"
    );
    assert!(frames_in_use(&summary).iter().all(|&n| n == 0), "{summary}");
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
    // The engine's stdout goes to a file, so its per-second stats line can be watched
    // while it runs.
    let log = dir.join("engine.out");
    let cmd = format!(
        "exec {} serve --iface {} --ip {}/24 --root {} --tcp-retries 5 --keepalive-timeout 5 --stats-interval 1 > {} 2>&1",
        common::BIN,
        pair.engine_if(),
        pair.engine_addr(),
        dir.display(),
        log.display()
    );
    let mut engine = pair.engine_ns().spawn(&["sh", "-c", &cmd]);
    assert!(
        fastpath_testbed::proc::wait_until(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || { pair.xdp_attached() || !engine.alive() }
        ) && engine.alive(),
        "fastpath serve did not start: {:?}",
        std::fs::read_to_string(&log)
    );
    std::thread::sleep(Duration::from_millis(300));
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
    // the stats line until it says so, for at most 90 s.
    let reclaimed = fastpath_testbed::proc::wait_until(
        Duration::from_secs(90),
        Duration::from_millis(500),
        || {
            std::fs::read_to_string(&log)
                .ok()
                .and_then(|t| {
                    t.lines()
                        .rev()
                        .find(|l| l.contains(" conns open"))
                        .map(|l| l.contains(" req/s, 0 conns open"))
                })
                .unwrap_or(false)
        },
    );
    engine.signal(SIGTERM);
    let (status, _, _) = engine.wait_exit(Duration::from_secs(15));
    let summary = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.is_some_and(|s| s.success()), "{summary}");
    assert!(
        reclaimed,
        "every connection reclaimed within 90 s: {summary}"
    );
    println!("{complete} complete, {timed_out} timed out\n{summary}");
    assert_eq!(complete + timed_out, 8);
    let left_other: u64 = each(&summary, "left in TIME_WAIT, ").iter().sum();
    assert_eq!(left_other, 0, "nothing wedged: {summary}");
    assert!(frames_in_use(&summary).iter().all(|&n| n == 0), "{summary}");
    assert!(!summary.contains("MISMATCH"), "{summary}");
}

/// The last "ECN: CE received N, reductions M" figures of a summary.
fn ecn_counts(summary: &str) -> (u64, u64) {
    let line = summary
        .lines()
        .rfind(|l| l.contains("ECN: CE received"))
        .unwrap_or_else(|| panic!("no ECN figures in the summary:\n{summary}"));
    let num = |key: &str| -> u64 {
        let at = line.find(key).unwrap() + key.len();
        line[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num("CE received"), num("reductions"))
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
    // requests: half of them), so both ends see CE.
    pair.peer_ns().run_ok(&[
        "nft",
        "table inet fpecn { \
         chain pre { type filter hook prerouting priority -300; \
           ip ecn ect0 numgen random mod 100 < 3 ip ecn set ce; }; \
         chain post { type filter hook postrouting priority 300; \
           ip ecn ect0 numgen random mod 100 < 50 ip ecn set ce; }; }",
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
        let (ok, sout, serr) = stop(engine, SIGTERM);
        assert!(ok, "{sout}{serr}");
        let (ce, reductions) = ecn_counts(&sout);
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

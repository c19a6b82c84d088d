//! A host that answers like Linux: `nmap -O` from the peer namespace against the
//! engine's owned address sees what it sees against the kernel in the same setup
//! (docs/tcp.md, "Answering like Linux", has both fingerprints).

use std::collections::BTreeMap;
use std::time::Duration;

use fastpath_testbed::{privileged, VethPair};

mod common;

use common::{serve, stop};

const SIGINT: i32 = 2;

/// nmap's fingerprint, test by test (`T1` -> `R=Y%DF=Y%...` split into key -> value).
type Fingerprint = BTreeMap<String, BTreeMap<String, String>>;

/// Runs `nmap -O --osscan-guess -d -p 80,81 ADDR` from the peer namespace: (its best
/// guesses line, the fingerprint it printed).
fn nmap(pair: &VethPair) -> (String, Fingerprint) {
    let addr = pair.engine_addr().to_string();
    let out = pair.peer_ns().exec(&[
        "nmap",
        "-O",
        "--osscan-guess",
        "-d",
        "-p",
        "80,81",
        "--max-retries",
        "2",
        &addr,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nmap failed: {text}");
    let guesses = text
        .lines()
        .find(|l| l.starts_with("Aggressive OS guesses:") || l.starts_with("OS details:"))
        .unwrap_or("")
        .to_string();
    // The fingerprint follows "TCP/IP fingerprint:", either wrapped in "OS:" lines or
    // one test per line, up to a blank line.
    let mut raw = String::new();
    let mut inside = false;
    for l in text.lines() {
        if l.starts_with("TCP/IP fingerprint:") {
            inside = true;
            continue;
        }
        if inside {
            if l.trim().is_empty() {
                break;
            }
            raw.push_str(l.strip_prefix("OS:").unwrap_or(l).trim());
        }
    }
    assert!(!raw.is_empty(), "no fingerprint in nmap's output: {text}");
    let mut fp = Fingerprint::new();
    for test in raw.split(')').filter(|t| !t.is_empty()) {
        let (name, body) = test.split_once('(').expect("NAME(...)");
        // A retried test (two SEQ lines) keeps its first reading.
        fp.entry(name.to_string()).or_insert_with(|| {
            body.split('%')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
    }
    (guesses, fp)
}

/// The tests whose values are the host's behaviour, not the moment's: everything but
/// SCAN (the scan's own facts) and SEQ's sequence statistics (SP, GCD, ISR, TS vary
/// with every run; II counts up by a random step, checked apart).
fn behaviour(fp: &Fingerprint) -> Fingerprint {
    let mut b = fp.clone();
    b.remove("SCAN");
    if let Some(seq) = b.get_mut("SEQ") {
        seq.retain(|k, _| k == "TI" || k == "CI");
    }
    b
}

fn nmap_installed() -> bool {
    let found = std::process::Command::new("nmap")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return true;
    }
    let msg = "nmap_sees_the_engine_as_it_sees_linux: nmap is not installed \
               (Debian: apt-get install nmap)";
    if std::env::var("FASTPATH_PRIVILEGED").is_ok_and(|v| v == "1") {
        panic!("{msg}");
    }
    eprintln!("\n!!!!! SKIPPED {msg} !!!!!\n");
    false
}

/// Before the engine answered like Linux, nmap's lines differed in SEQ (TI=RD), OPS
/// (NW3), WIN (FFFF), ECN (W=FFFF), T2 (a RST to a null segment), U1 (no port
/// unreachable) and IE (code 9 unanswered), and its best guess was "Linux 3.1 (87%)"
/// beside OpenBSD and FreeBSD; now every behaviour line is the kernel's.
#[test]
fn nmap_sees_the_engine_as_it_sees_linux() {
    if !privileged::check("nmap_sees_the_engine_as_it_sees_linux") || !nmap_installed() {
        return;
    }
    let pair = VethPair::new("nmap");
    let addr = pair.engine_addr();

    // The kernel first: the same address on the engine's end, a listener on port 80.
    pair.add_engine_kernel_addr(addr);
    let script = "import socket,sys,time\n\
                  s=socket.socket()\n\
                  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  s.bind((sys.argv[1],80))\n\
                  s.listen(64)\n\
                  print('listening',flush=True)\n\
                  time.sleep(600)\n";
    let a = addr.to_string();
    let mut listener = pair
        .engine_ns()
        .spawn(&["python3", "-c", script, a.as_str()]);
    assert!(
        listener.wait_for_output(Duration::from_secs(10), |out, _| out.contains("listening")),
        "kernel listener did not start: {:?}",
        listener.stop(Duration::from_secs(1))
    );
    let (kernel_guess, kernel) = nmap(&pair);
    listener.stop(Duration::from_secs(1));
    let cidr = format!("{addr}/24");
    pair.engine_ns()
        .run_ok(&["ip", "addr", "del", &cidr, "dev", pair.engine_if()]);

    // Then the engine, owning the address.
    let engine = serve(&pair, &[]);
    let (engine_guess, seen) = nmap(&pair);
    let (ok, out, err) = stop(engine, SIGINT);
    assert!(ok, "engine exit; stdout {out}\nstderr {err}");

    eprintln!("kernel: {kernel_guess}\n  {kernel:?}\nengine: {engine_guess}\n  {seen:?}");
    assert!(
        kernel_guess.contains(": Linux"),
        "the kernel itself should be classified Linux: {kernel_guess}"
    );
    assert!(
        engine_guess.contains(": Linux"),
        "nmap's best guess for the engine should be Linux: {engine_guess}"
    );
    let (k, e) = (behaviour(&kernel), behaviour(&seen));
    for (test, want) in &k {
        assert_eq!(
            e.get(test),
            Some(want),
            "nmap's {test} line differs from the kernel's\nkernel {kernel:?}\nengine {seen:?}"
        );
    }
    assert_eq!(k.len(), e.len(), "kernel {kernel:?}\nengine {seen:?}");
    // Echo reply IDs count up by 1 plus a random number of 4 ms ticks since the last
    // (Linux's rule): nmap says I for steps under 10 and leaves II out above that, which
    // Linux allows when its two probes are more than 36 ms apart.
    let ii = seen["SEQ"].get("II").map(String::as_str);
    assert!(matches!(ii, Some("I") | None), "echo reply IDs: {seen:?}");
}

/// `nmap -6 -O --osscan-guess -d -p 80,81 ADDR` from the peer namespace: nmap's whole
/// output.
fn nmap6(pair: &VethPair, addr: &str) -> String {
    let out = pair.peer_ns().exec(&[
        "nmap",
        "-6",
        "-O",
        "--osscan-guess",
        "-d",
        "-p",
        "80,81",
        "--max-retries",
        "2",
        addr,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nmap -6 failed: {text}");
    text
}

/// The line with nmap's best guesses (over IPv6 its classifier often says "Running (JUST
/// GUESSING): ..." alone).
fn guesses(text: &str) -> String {
    let starts = [
        "Aggressive OS guesses:",
        "OS details:",
        "Running (JUST GUESSING):",
        "Running:",
    ];
    text.lines()
        .find(|l| starts.iter().any(|s| l.starts_with(s)))
        .unwrap_or("")
        .to_string()
}

#[test]
fn nmap6_sees_linux_in_the_engine_over_ipv6() {
    if !privileged::check("nmap6_sees_linux_in_the_engine_over_ipv6") || !nmap_installed() {
        return;
    }
    if !fastpath_xdp::STEERS_IPV6 {
        eprintln!("SKIP: this build's steering program does not steer IPv6");
        return;
    }
    let pair = VethPair::new("nmap6");
    let o = pair.addr(0).octets();
    let (peer6, addr6) = (
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
    // The kernel first: the address on the engine's end, a listener on port 80.
    let cidr6 = format!("{addr6}/64");
    pair.engine_ns().run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        &cidr6,
        "dev",
        pair.engine_if(),
        "nodad",
    ]);
    let script = "import socket,sys,time\n\
                  s=socket.socket(socket.AF_INET6)\n\
                  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  s.bind((sys.argv[1],80))\n\
                  s.listen(64)\n\
                  print('listening',flush=True)\n\
                  time.sleep(600)\n";
    let mut listener = pair
        .engine_ns()
        .spawn(&["python3", "-c", script, addr6.as_str()]);
    assert!(
        listener.wait_for_output(Duration::from_secs(10), |out, _| out.contains("listening")),
        "kernel listener did not start: {:?}",
        listener.stop(Duration::from_secs(1))
    );
    let kernel = nmap6(&pair, &addr6);
    listener.stop(Duration::from_secs(1));
    pair.engine_ns()
        .run_ok(&["ip", "-6", "addr", "del", &cidr6, "dev", pair.engine_if()]);
    // The peer forgets the kernel's neighbour entry (the engine's MAC is the same
    // interface's, but its advertisement should be the one seen).
    pair.peer_ns()
        .run_ok(&["ip", "-6", "neigh", "flush", "dev", pair.peer_if()]);

    // Then the engine, owning the address.
    let engine = serve(&pair, &["--ip", &cidr6]);
    let seen = nmap6(&pair, &addr6);
    let (ok, out, err) = stop(engine, SIGINT);
    assert!(ok, "engine exit; stdout {out}\nstderr {err}");
    println!("=== kernel\n{kernel}\n=== engine\n{seen}");
    // Linux first among the guesses (nmap's IPv6 classifier gives one family or several).
    let (kg, eg) = (guesses(&kernel), guesses(&seen));
    assert!(kg.contains(": Linux"), "the kernel should be Linux: {kg}");
    assert!(
        eg.contains(": Linux"),
        "nmap -6's best guess for the engine: {eg}\n{seen}"
    );
}

//! The applications of engine/examples (echo, kv, api: any TCP protocol and whole HTTP
//! exchanges on the engine) on a veth pair, each driven by
//! the real clients their users have: nc and socat, redis-cli and redis-benchmark, curl
//! and Python's http.client. Each starts as a user would start it (`--iface --ip --port`),
//! is waited on until its ready line, and stops cleanly on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use fastpath_testbed::{privileged, ChildGuard, VethPair};

mod common;

use common::READY;

/// The example's binary, built (release or debug, as this test) if it is not yet.
fn example(name: &str) -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let bin_dir = PathBuf::from(common::BIN)
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(["build", "-p", "fastpath-engine", "--examples"]);
        if bin_dir.ends_with("release") {
            c.arg("--release");
        }
        let out = c.output().expect("running cargo");
        assert!(
            out.status.success(),
            "building the examples: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        *built = true;
    }
    bin_dir.join("examples").join(name)
}

/// Starts example `name` in the engine namespace on `port` and waits for its ready line.
fn start(pair: &VethPair, name: &str, port: u16, extra: &[&str]) -> ChildGuard {
    let bin = example(name);
    let ip = format!("{}/24", pair.engine_addr());
    let port = port.to_string();
    let mut argv = vec![
        bin.to_str().expect("a UTF-8 path"),
        "--iface",
        pair.engine_if(),
        "--ip",
        &ip,
        "--port",
        &port,
    ];
    argv.extend_from_slice(extra);
    let mut child = pair.engine_ns().spawn(&argv);
    let up = child.wait_for_output(Duration::from_secs(20), |_, err| err.contains(READY));
    assert!(
        up && child.alive(),
        "example {name} did not start: {:?}",
        child.stop(Duration::from_secs(1))
    );
    child
}

/// Stops the example with `sig`; it must exit 0 and print its summary.
fn stop(mut child: ChildGuard, sig: i32) -> String {
    child.signal(sig);
    let (status, out, err) = child.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "no clean exit: {status:?}\n{out}\n{err}"
    );
    out
}

/// Runs a shell line in the peer namespace; returns (success, stdout, stderr).
fn peer_sh(pair: &VethPair, line: &str) -> (bool, String, String) {
    let out = pair.peer_ns().exec(&["timeout", "60", "sh", "-c", line]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file of `len` pseudo-random bytes (not compressible, every byte value), in a
/// directory removed on drop.
fn random_file(tag: &str, len: usize) -> (PathBuf, common::Cleanup) {
    let dir = std::env::temp_dir().join(format!("fastpath-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("payload");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, bytes).expect("writing the payload");
    (path, common::Cleanup(dir))
}

#[test]
fn echo_answers_nc_and_socat_byte_exact_and_stops_on_sigint() {
    if !privileged::check("echo_answers_nc_and_socat_byte_exact_and_stops_on_sigint") {
        return;
    }
    let _one = common::one_at_a_time();
    let pair = VethPair::new("echo");
    let engine = start(&pair, "echo", 7007, &[]);
    let to = pair.engine_addr().to_string();

    // A line through nc (-N: half-close after stdin; the echo closes once it is all back).
    let (ok, out, err) = peer_sh(
        &pair,
        &format!("printf 'hello, engine\\n' | nc -N {to} 7007"),
    );
    assert!(ok && out == "hello, engine\n", "nc: {out:?} {err}");

    // 1 MiB through socat, and four nc at once: every byte back, in order.
    let (file, _rm) = random_file("echo", 1 << 20);
    let f = file.display();
    let line = format!(
        "socat -t 10 - TCP:{to}:7007 < {f} | sha256sum; \
         for i in 1 2 3 4; do (nc -N {to} 7007 < {f} | sha256sum > {f}.$i) & done; wait; \
         cat {f}.1 {f}.2 {f}.3 {f}.4; rm -f {f}.1 {f}.2 {f}.3 {f}.4; sha256sum < {f}"
    );
    let (ok, out, err) = peer_sh(&pair, &line);
    let sums: Vec<&str> = out
        .lines()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert!(ok && sums.len() == 6, "{out} {err}");
    assert!(
        sums.iter().all(|s| *s == sums[5]),
        "a stream came back altered: {out}"
    );

    let summary = stop(engine, libc::SIGINT);
    assert!(!summary.is_empty(), "the summary is printed");
}

#[test]
fn api_answers_curl_and_http_client_with_whole_bodies_and_survives_a_panic() {
    if !privileged::check("api_answers_curl_and_http_client_with_whole_bodies_and_survives_a_panic")
    {
        return;
    }
    let _one = common::one_at_a_time();
    let pair = VethPair::new("api");
    let engine = start(&pair, "api", 8080, &[]);
    let base = format!("http://{}:8080", pair.engine_addr());

    let (ok, out, err) = peer_sh(&pair, &format!("curl -sS --max-time 10 {base}/hello"));
    let hello: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert!(ok && hello["hello"] == "world", "{out} {err}");
    assert!(
        hello["agent"]
            .as_str()
            .is_some_and(|a| a.starts_with("curl/")),
        "{out}"
    );

    // 1 MiB by http.client, by length and in chunks: byte-exact, with the digest.
    let script = common::peer_script("post_sha256.py");
    let to = pair.engine_addr().to_string();
    for mode in ["length", "chunked"] {
        let out = pair.peer_ns().exec(&[
            "timeout", "60", "python3", &script, &to, "8080", "1048576", mode,
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.starts_with("ok "),
            "{mode}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // 1 MiB by curl, asking `Expect: 100-continue` first (as curl does by itself for large
    // bodies in some versions), and chunked.
    let (file, _rm) = random_file("api", 1 << 20);
    let f = file.display();
    let line = format!(
        "sha256sum < {f} | cut -d' ' -f1; \
         curl -sS --max-time 20 -D {f}.h -H 'Expect: 100-continue' --data-binary @{f} {base}/echo | sha256sum | cut -d' ' -f1; \
         grep -i '^x-body-sha256' {f}.h | tr -d '\\r' | cut -d' ' -f2; \
         grep -c '^HTTP/1.1 100 Continue' {f}.h; \
         curl -sS --max-time 20 -H 'Transfer-Encoding: chunked' --data-binary @{f} {base}/echo \
             | sha256sum | cut -d' ' -f1"
    );
    let (ok, out, err) = peer_sh(&pair, &line);
    let v: Vec<&str> = out.lines().collect();
    assert!(ok && v.len() == 5, "{out} {err}");
    assert_eq!(v[1], v[0], "curl's body came back altered");
    assert_eq!(v[2], v[0], "X-Body-Sha256 names what was sent");
    assert_eq!(v[3], "1", "curl asked for and got 100 Continue");
    assert_eq!(v[4], v[0], "the chunked body came back altered");

    // One byte beyond --max-body: 413, and the connection closed.
    let line = format!(
        "head -c 1048577 /dev/zero > {f}.big; \
         curl -sS --max-time 10 -o /dev/null -D - --data-binary @{f}.big {base}/echo"
    );
    let (_, out, _) = peer_sh(&pair, &line);
    assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );

    // A panicking handler: a 500 for its client, and the engine goes on serving.
    let (_, out, _) = peer_sh(
        &pair,
        &format!("curl -s --max-time 10 -o /dev/null -w '%{{http_code}}' {base}/panic"),
    );
    assert_eq!(out, "500");
    let (ok, out, _) = peer_sh(&pair, &format!("curl -sS --max-time 10 {base}/hello"));
    assert!(ok && out.contains("\"hello\":\"world\""), "{out}");

    let summary = stop(engine, libc::SIGTERM);
    assert!(summary.contains("handler panics 1"), "{summary}");
}

#[test]
fn kv_answers_redis_cli_and_redis_benchmark_pipelined_and_not() {
    if !privileged::check("kv_answers_redis_cli_and_redis_benchmark_pipelined_and_not") {
        return;
    }
    let _one = common::one_at_a_time();
    let pair = VethPair::new("kv");
    let engine = start(&pair, "kv", 6379, &[]);
    let cli = format!("redis-cli -h {} -p 6379", pair.engine_addr());

    let line = format!(
        "{cli} PING; {cli} SET greeting 'hello world'; {cli} GET greeting; {cli} INCR n; \
         {cli} INCR n; {cli} INCR greeting; {cli} DEL greeting n nothing; {cli} GET greeting; \
         {cli} --no-raw FLUSHALL"
    );
    let (_, out, err) = peer_sh(&pair, &line);
    let lines: Vec<&str> = out.lines().collect();
    // (redis-cli prints an empty line after an error when its output is not a terminal;
    // a missing key's nil prints as an empty line.)
    assert_eq!(
        lines,
        [
            "PONG",
            "OK",
            "hello world",
            "1",
            "2",
            "ERR value is not an integer or out of range",
            "",
            "2",
            "",
            "(error) ERR unknown command (known: GET SET DEL PING INCR)",
        ],
        "{out} {err}"
    );

    // redis-benchmark, one command at a time and 16 in flight per connection: every
    // request answered, no error.
    for pipeline in ["1", "16"] {
        let line = format!(
            "redis-benchmark -h {} -p 6379 -t set,get,ping -n 20000 -c 20 -P {pipeline} -q \
             --csv 2>&1",
            pair.engine_addr()
        );
        let (ok, out, _) = peer_sh(&pair, &line);
        assert!(ok, "redis-benchmark -P {pipeline}: {out}");
        for test in ["PING_INLINE", "PING_MBULK", "SET", "GET"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&format!("\"{test}\",\""))),
                "-P {pipeline}: no {test} result: {out}"
            );
        }
        assert!(
            !out.to_lowercase().contains("error"),
            "-P {pipeline}: {out}"
        );
    }
    stop(engine, libc::SIGINT);
}

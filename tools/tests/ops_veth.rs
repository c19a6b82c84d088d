//! Operating a running engine on a veth pair: `fastpath stat` and `fastpath ss` through
//! the control socket while wrk runs, Prometheus `/metrics` checked by promtool, the
//! control socket's refusal of another uid, and `fastpath doctor` on a veth.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fastpath_testbed::proc::wait_until;
use fastpath_testbed::{privileged, VethPair};
use serde_json::Value;

mod common;

use common::{serve, stop_report, Cleanup, BIN};

const SIGTERM: i32 = 15;

/// A fresh directory for a control socket, traversable by other users (the socket's own
/// mode is what keeps them out).
fn control_dir(tag: &str) -> (PathBuf, Cleanup) {
    let dir = std::env::temp_dir().join(format!(
        "fastpath-ops-{tag}-{}",
        fastpath_testbed::netns::unique_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir.join("engine.sock"), Cleanup(dir))
}

/// Runs `fastpath ARGS...` here (the control socket is a file: no namespace needed).
fn fastpath(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stat_json(sock: &Path) -> Value {
    let (ok, out, err) = fastpath(&[
        "stat",
        "--control",
        sock.to_str().unwrap(),
        "--once",
        "--json",
    ]);
    assert!(ok, "fastpath stat: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn ss_json(sock: &Path, filter: &[&str]) -> Vec<Value> {
    let mut argv = vec!["ss", "--control", sock.to_str().unwrap(), "--json"];
    argv.extend_from_slice(filter);
    let (ok, out, err) = fastpath(&argv);
    assert!(ok, "fastpath ss: {err}");
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("{e}: {out}"))
        .as_array()
        .cloned()
        .unwrap()
}

/// `/metrics` fetched with curl inside the engine's namespace (where the listener is).
fn scrape(pair: &VethPair, addr: &str) -> String {
    pair.engine_ns().run_ok(&[
        "curl",
        "-sf",
        "--max-time",
        "5",
        &format!("http://{addr}/metrics"),
    ])
}

/// `name` summed over the queues of `iface`.
fn metric(page: &str, name: &str, iface: &str) -> u64 {
    let prefix = format!("{name}{{iface=\"{iface}\",queue=");
    let samples: Vec<u64> = page
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix)?.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(!samples.is_empty(), "no {name} for {iface} in\n{page}");
    samples.iter().sum()
}

fn promtool_accepts(page: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/install-deps installs it)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), page.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the page: {}{}\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn stat_ss_and_metrics_see_inside_while_wrk_runs() {
    if !privileged::check("stat_ss_and_metrics_see_inside_while_wrk_runs") {
        return;
    }
    let _one = common::one_at_a_time();
    let pair = VethPair::new("ops");
    let (sock, _dir) = control_dir("stat");
    let metrics = "127.0.0.1:9464";
    let engine = serve(
        &pair,
        &["--control", sock.to_str().unwrap(), "--metrics", metrics],
    );
    assert!(
        sock.exists(),
        "the control socket is made before the ready line"
    );
    let idle = stat_json(&sock);
    assert_eq!(idle["iface"], pair.engine_if());
    assert_eq!(idle["ports"][0], 80);
    assert_eq!(idle["queues"][0]["afxdp_mode"], "copy", "veth: copy mode");
    assert!(idle["queues"][0]["gauges"]["frames"]["total"].as_u64() > Some(0));
    let page_before = scrape(&pair, metrics);
    promtool_accepts(&page_before);

    // wrk holds 8 keep-alive connections for 8 s (bounded in time by wrk and timeout).
    let url = format!("http://{}/", pair.engine_addr());
    let mut wrk = pair.peer_ns().spawn(&[
        "timeout",
        "30",
        "wrk",
        "-t1",
        "-c8",
        "-d8s",
        "--timeout",
        "2s",
        &url,
    ]);
    let mut listed = Vec::new();
    let eight = wait_until(Duration::from_secs(6), Duration::from_millis(100), || {
        listed = ss_json(&sock, &["state", "established", "dport", ">", ":0"]);
        listed.len() == 8
    });
    assert!(
        eight,
        "ss state established listed {} connections: {listed:#?}",
        listed.len()
    );
    // The peer's kernel agrees: the same 8 connections, by remote port.
    let kernel = common::peer_conns(&pair, "established");
    assert_eq!(kernel, 8, "the peer's kernel holds 8");
    for c in &listed {
        let cwnd = c["cwnd"].as_u64().unwrap();
        let mss = c["mss"].as_u64().unwrap();
        let srtt = c["srtt_us"].as_u64().expect("an RTT sample");
        assert!(cwnd >= 2 * mss && cwnd < 1 << 30, "cwnd {cwnd}: {c}");
        assert!(
            srtt > 0 && srtt < 1_000_000,
            "srtt {srtt} us on a veth: {c}"
        );
        assert_eq!(c["local"], format!("{}:80", pair.engine_addr()));
    }
    let first = stat_json(&sock);
    let grew = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let second = stat_json(&sock);
        let rx = |v: &Value| v["total"]["rx_frames"].as_u64().unwrap();
        let req = |v: &Value| v["total"]["http_requests"].as_u64().unwrap();
        rx(&second) > rx(&first) && req(&second) > req(&first)
    });
    assert!(
        grew,
        "counters did not grow between two stat calls under load"
    );
    let page = scrape(&pair, metrics);
    promtool_accepts(&page);
    let iface = pair.engine_if();
    assert!(
        metric(&page, "fastpath_http_requests_total", iface)
            > metric(&page_before, "fastpath_http_requests_total", iface),
        "a counter grows under load"
    );
    assert!(metric(&page, "fastpath_connections", iface) >= 8, "{page}");
    assert!(
        metric(&page, "fastpath_http_request_duration_seconds_count", iface)
            > metric(
                &page_before,
                "fastpath_http_request_duration_seconds_count",
                iface
            ),
        "request latency is sampled: {page}"
    );
    // The human forms render too.
    let (ok, text, err) = fastpath(&[
        "ss",
        "--control",
        sock.to_str().unwrap(),
        "state",
        "established",
    ]);
    assert!(
        ok && text.lines().filter(|l| l.starts_with("ESTAB")).count() == 8,
        "{text}{err}"
    );
    let (ok, text, err) = fastpath(&["stat", "--control", sock.to_str().unwrap(), "--once"]);
    assert!(ok && text.contains(pair.engine_if()), "{text}{err}");

    let (status, wout, _) = wrk.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "wrk: {wout}");
    let (ok, out, err, _) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(!sock.exists(), "the control socket is removed at exit");
}

/// Connects to `sock` as uid/gid 65534 (nobody) and sends a status request; returns what
/// came back (or the connect error).
fn ask_as_nobody(sock: &Path) -> String {
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect failed:", e.strerror); sys.exit(0)
try:
    s.sendall(b'{"v":1,"cmd":"status"}\n')
except OSError:
    pass  # refused at once: the answer is already in our receive buffer
print(s.makefile().readline().strip())
"#;
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .arg(sock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_control_socket_refuses_another_uid() {
    if !privileged::check("the_control_socket_refuses_another_uid") {
        return;
    }
    let pair = VethPair::new("ctl");
    let (sock, _dir) = control_dir("uid");
    let engine = serve(&pair, &["--control", sock.to_str().unwrap()]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode 0600");
    // The file's mode keeps another user out...
    let got = ask_as_nobody(&sock);
    assert!(got.contains("connect failed: Permission denied"), "{got}");
    // ... and with the mode opened up, the engine itself refuses the peer's uid.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let got = ask_as_nobody(&sock);
    let v: Value = serde_json::from_str(&got).unwrap_or_else(|e| panic!("{e}: {got}"));
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("uid 65534"), "{v}");
    // Its own user is answered.
    assert_eq!(stat_json(&sock)["iface"], pair.engine_if());
    // A second engine may not take a live socket; what to do is said.
    let (ok, _, err, _) = {
        let out = pair.engine_ns().exec(&[
            BIN,
            "serve",
            "--iface",
            "lo",
            "--ip",
            "10.255.0.1/24",
            "--control",
            sock.to_str().unwrap(),
        ]);
        (
            out.status.success(),
            (),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            (),
        )
    };
    assert!(!ok && err.contains("in use"), "{err}");
    let (ok, out, err, _) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(!sock.exists(), "removed at exit");
}

#[test]
fn doctor_on_a_veth_says_copy_mode_and_names_the_tx_offload_setting() {
    if !privileged::check("doctor_on_a_veth_says_copy_mode_and_names_the_tx_offload_setting") {
        return;
    }
    let pair = VethPair::new("doc");
    let doctor = |iface: &str| {
        let out = pair.engine_ns().exec(&[BIN, "doctor", "--iface", iface]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = doctor(pair.engine_if());
    assert!(ok, "warnings only: exit 0\n{text}");
    assert!(
        text.contains("AF_XDP copy mode only (no zero-copy on veth)"),
        "{text}"
    );
    assert!(
        text.contains("TX checksum offload (tx-checksumming)"),
        "{text}"
    );
    assert!(text.contains("ethtool -K PEER tx off"), "{text}");
    // The peer (in its own namespace here) is told to queue rather than drop.
    assert!(
        text.contains("tc qdisc add dev PEER root pfifo limit 100000"),
        "{text}"
    );
    assert!(text.contains("WARN ") && !text.contains("FAIL "), "{text}");
    assert!(text.contains("OK   XDP: no program attached"), "{text}");
    // With an engine attached, doctor says so (and still only warns).
    let engine = serve(&pair, &[]);
    let (ok, text) = doctor(pair.engine_if());
    assert!(ok, "{text}");
    assert!(text.contains("XDP: fastpath's program"), "{text}");
    // The engine's default control socket is the one `--iface` names.
    let sock = format!("/run/fastpath/{}.sock", pair.engine_if());
    assert!(Path::new(&sock).exists(), "{sock}");
    let (ok, out, err) = fastpath(&["stat", "--iface", pair.engine_if(), "--once", "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["control"], sock.as_str());
    let (ok, out, err, _) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(!Path::new(&sock).exists(), "removed at exit");
    // A FAIL exits non-zero.
    let (ok, text) = doctor("fp-no-such-if");
    assert!(
        !ok && text.contains("FAIL interface fp-no-such-if"),
        "{text}"
    );
}

/// (name, status text) of every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, String)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .map(|t| {
            let p = t.path();
            (
                std::fs::read_to_string(p.join("comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                std::fs::read_to_string(p.join("status")).unwrap_or_default(),
            )
        })
        .collect()
}

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or("")
}

#[test]
fn with_user_nobody_the_workers_hold_no_capability_and_it_still_serves_and_detaches() {
    if !privileged::check(
        "with_user_nobody_the_workers_hold_no_capability_and_it_still_serves_and_detaches",
    ) {
        return;
    }
    let pair = VethPair::new("usr");
    let (sock, _dir) = control_dir("user");
    let engine = serve(
        &pair,
        &["--user", "nobody", "--control", sock.to_str().unwrap()],
    );
    let all = threads(engine.pid());
    let workers: Vec<&(String, String)> = all
        .iter()
        .filter(|(n, _)| n.starts_with("fastpath-q"))
        .collect();
    assert_eq!(workers.len(), 2, "one worker per veth queue: {all:?}");
    for (name, st) in &workers {
        assert_eq!(status_field(st, "CapEff:"), "0000000000000000", "{name}");
        assert_eq!(status_field(st, "CapPrm:"), "0000000000000000", "{name}");
        let uids: Vec<&str> = status_field(st, "Uid:").split_whitespace().collect();
        assert_eq!(uids, ["65534"; 4], "{name}: {st}");
        let gids: Vec<&str> = status_field(st, "Gid:").split_whitespace().collect();
        assert_eq!(gids, ["65534"; 4], "{name}");
    }
    // The part that detaches at exit keeps root.
    let main = all
        .iter()
        .find(|(n, _)| n == "fastpath")
        .expect("the main thread");
    assert!(status_field(&main.1, "Uid:").starts_with('0'), "{}", main.1);
    // It serves, and answers the control socket (its workers list their connections).
    let url = format!("http://{}/", pair.engine_addr());
    let body = pair
        .peer_ns()
        .run_ok(&["curl", "-sf", "--max-time", "5", &url]);
    assert!(!body.is_empty());
    assert!(ss_json(&sock, &[]).len() <= 1);
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(!pair.xdp_attached(), "SIGTERM still detaches");
    assert!(common::total(&report, "http_requests") >= 1);
}

//! `fastpath serve` on a veth pair, driven by the kernel's own tools in the peer namespace:
//! the contract users rely on (issue: AF_XDP layer, steering program, test bed).

use std::time::Duration;

use fastpath_testbed::proc::wait_until;
use fastpath_testbed::{privileged, VethPair};

mod common;

use common::{frames_balanced_and_free, mac_text, per_queue, serve, stop, stop_report, total, BIN};

#[test]
fn owned_address_answers_arp_and_ping() {
    if !privileged::check("owned_address_answers_arp_and_ping") {
        return;
    }
    let pair = VethPair::new("own");
    let engine = serve(&pair, &[]);
    let target = pair.engine_addr().to_string();

    // 20 pings, 20 replies: the kernel's ICMP code verifies every reply's checksum.
    let out = pair
        .peer_ns()
        .exec(&["ping", "-c", "20", "-i", "0.05", "-W", "2", &target]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("20 packets transmitted, 20 received"),
        "{text}"
    );

    // The peer learned the engine's MAC from the engine's ARP reply.
    let neigh = pair.peer_ns().run_ok(&["ip", "neigh", "show", &target]);
    assert!(
        neigh.contains(&mac_text(pair.engine_mac())),
        "neighbour table: {neigh}"
    );
    let arping = pair.peer_ns().exec(&[
        "arping",
        "-c",
        "2",
        "-w",
        "3",
        "-I",
        pair.peer_if(),
        &target,
    ]);
    let text = String::from_utf8_lossy(&arping.stdout).to_lowercase();
    assert!(
        text.contains(&mac_text(pair.engine_mac())),
        "arping: {text}"
    );

    // SIGINT: clean exit, program detached, frames balanced.
    let (ok, out, err, report) = stop_report(engine, SIGINT);
    assert!(ok, "exit status; stdout {out}\nstderr {err}");
    assert!(
        frames_balanced_and_free(&report),
        "frames balanced: {report:#}"
    );
    assert!(
        err.contains("copy mode") && err.contains("veth refused zero-copy"),
        "mode is reported: {err}"
    );
    assert!(
        !pair.xdp_attached(),
        "XDP program left attached after SIGINT"
    );

    // The report (--report-json), as data.
    assert_eq!(total(&report, "icmp_echo_replies"), 20, "{report:#}");
    assert_eq!(report["addrs"][0]["owned"], true, "{report:#}");
    assert_eq!(report["at_exit"]["table_entries"], 0, "{report:#}");
    let queues = report["queues"].as_array().expect("queues");
    assert!(
        queues.iter().all(|q| q["afxdp_mode"] == "copy"),
        "{report:#}"
    );
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

#[test]
fn shared_address_leaves_the_kernel_its_ports() {
    if !privileged::check("shared_address_leaves_the_kernel_its_ports") {
        return;
    }
    let pair = VethPair::new("shr");
    pair.add_engine_kernel_addr(pair.engine_addr());
    let target = pair.engine_addr().to_string();
    // A kernel listener on another port of the same address.
    let _web = pair
        .engine_ns()
        .spawn(&["python3", "-m", "http.server", "8080", "--bind", &target]);
    let ready = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        pair.peer_ns()
            .exec(&[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "--max-time",
                "1",
                &format!("http://{target}:8080/"),
            ])
            .status
            .success()
    });
    assert!(ready, "kernel web server did not come up");

    let engine = serve(&pair, &["--port", "80"]);
    // The kernel's port keeps working, and the kernel answers ping.
    for _ in 0..5 {
        let out = pair.peer_ns().exec(&[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "3",
            &format!("http://{target}:8080/"),
        ]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    }
    let out = pair
        .peer_ns()
        .exec(&["ping", "-c", "5", "-i", "0.05", "-W", "2", &target]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 received"));
    // Port 80 is the engine's: its HTTP responder answers.
    let out = pair.peer_ns().exec(&[
        "curl",
        "-s",
        "--max-time",
        "3",
        &format!("http://{target}/"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello from fastpath\n"
    );

    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "stdout {out}\nstderr {err}");
    assert!(err.contains("shared with the kernel"), "{err}");
    // The engine saw port 80 only: no ARP, no ping, no reset; one connection, one request.
    let seen = [
        "arp_replies",
        "icmp_echo_replies",
        "tcp_rst_sent",
        "conns_accepted",
        "http_requests",
    ]
    .map(|k| total(&report, k));
    assert_eq!(seen, [0, 0, 0, 1, 1], "{report:#}");
    assert!(!pair.xdp_attached());
}

#[test]
fn flows_spread_over_both_queues() {
    if !privileged::check("flows_spread_over_both_queues") {
        return;
    }
    let pair = VethPair::new("mq");
    let engine = serve(&pair, &[]);
    let target = pair.engine_addr().to_string();
    // 64 connections from 64 source ports: the peer's veth picks a TX queue per flow,
    // which is the engine side's RX queue. Each connects, is accepted, and closes.
    let script =
        format!("for i in $(seq 64); do (exec 3<>/dev/tcp/{target}/80) 2>/dev/null; done; true");
    pair.peer_ns()
        .run_ok(&["timeout", "20", "bash", "-c", &script]);
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "stdout {out}\nstderr {err}");
    let rx = per_queue(&report, "rx_frames");
    assert_eq!(rx.len(), 2, "two workers: {report:#}");
    assert!(
        rx.iter().all(|&n| n > 0),
        "both queues carried flows: {rx:?}\n{report:#}"
    );
    assert!(
        frames_balanced_and_free(&report),
        "frames balanced: {report:#}"
    );
}

#[test]
fn startup_failures_say_what_to_do() {
    if !privileged::check("startup_failures_say_what_to_do") {
        return;
    }
    let pair = VethPair::new("err");
    let ip = format!("{}/24", pair.engine_addr());
    let run = |extra: &[&str]| {
        let mut argv = vec![BIN, "serve", "--ip", &ip];
        argv.extend_from_slice(extra);
        let out = pair.engine_ns().exec(&argv);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--iface", "nosuch0"]);
    assert!(!ok && err.contains("no interface 'nosuch0'"), "{err}");
    let (ok, err) = run(&["--iface", pair.engine_if(), "--queues", "5"]);
    assert!(
        !ok && err.contains("queue 5 does not exist: there are 2"),
        "{err}"
    );
    let (ok, err) = run(&["--iface", pair.engine_if(), "--mode", "zerocopy"]);
    assert!(
        !ok && err.contains("veth") && err.contains("--mode copy"),
        "{err}"
    );
    assert!(!pair.xdp_attached(), "a failed start detaches");

    // A program already attached (here: another fastpath) is named, never replaced...
    let first = serve(&pair, &[]);
    // A second engine on the same interface is refused at its control socket, before it
    // touches the interface...
    let (ok, err) = run(&["--iface", pair.engine_if()]);
    assert!(
        !ok && err.contains("is in use: another engine runs on this interface"),
        "{err}"
    );
    // ... and with a control socket of its own, at the attached program.
    let sock = std::env::temp_dir().join(format!("fastpath-second-{}.sock", std::process::id()));
    let (ok, err) = run(&[
        "--iface",
        pair.engine_if(),
        "--control",
        sock.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("fastpath_steer") && err.contains("--force"),
        "{err}"
    );
    assert!(!sock.exists(), "a failed start removes its control socket");
    assert!(pair.xdp_attached());
    let (ok, out, err) = stop(first, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(!pair.xdp_attached());
}

#[test]
fn a_panicking_worker_still_ends_in_a_detach() {
    if !privileged::check("a_panicking_worker_still_ends_in_a_detach") {
        return;
    }
    let pair = VethPair::new("pnc");
    let ip = format!("{}/24", pair.engine_addr());
    let mut cmd = pair.engine_ns().command(BIN);
    cmd.args(["serve", "--iface", pair.engine_if(), "--ip", &ip])
        .env("FASTPATH_FAILPOINT_WORKER_PANIC", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = fastpath_testbed::ChildGuard::spawn(cmd);
    let (status, out, err) = child.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "exits non-zero: {out}{err}"
    );
    assert!(err.contains("a worker stopped unexpectedly"), "{err}");
    assert!(out.contains("worker panicked: failpoint"), "{out}");
    assert!(!pair.xdp_attached(), "detached after the panic");
}

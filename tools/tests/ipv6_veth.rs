//! `fastpath serve` with an IPv6 address on a veth pair, the kernel as the peer: `ping -6`
//! gets every reply and the peer's neighbour table shows the engine's MAC, learned from
//! the engine's own advertisement; an address the peer has is found a duplicate at start. While the steering program does not steer IPv6
//! (`fastpath_xdp::STEERS_IPV6`), `serve` must refuse an IPv6 address and say why, not
//! run with an address no frame reaches.

use fastpath_testbed::{privileged, VethPair};

mod common;

use common::{mac_text, serve, stop_report, total, BIN};

const SIGINT: i32 = 2;

/// `fd00:X:Y::host` for the pair's `10.X.Y.0/24`.
fn addr6(pair: &VethPair, host: u16) -> String {
    let o = pair.addr(0).octets();
    format!("fd00:{}:{}::{host:x}", o[1], o[2])
}

#[test]
fn ping6_is_answered_and_the_peer_learns_the_engine_mac() {
    if !privileged::check("ping6_is_answered_and_the_peer_learns_the_engine_mac") {
        return;
    }
    let pair = VethPair::new("six");
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

    if !fastpath_xdp::STEERS_IPV6 {
        let v4 = format!("{}/24", pair.engine_addr());
        let out = pair.engine_ns().exec(&[
            BIN,
            "serve",
            "--iface",
            pair.engine_if(),
            "--ip",
            &v4,
            "--ip",
            &engine6,
            "--duration",
            "5",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "serve ran with IPv6 it cannot receive: {err}"
        );
        assert!(err.contains("steers IPv6"), "the reason is given: {err}");
        assert!(!pair.xdp_attached(), "nothing left attached");
        eprintln!(
            "ping6: this build's steering program does not steer IPv6; checked the refusal only"
        );
        return;
    }

    // serve's ready line comes after duplicate address detection found the address unique.
    let engine = serve(&pair, &["--ip", &engine6]);
    let out = pair
        .peer_ns()
        .exec(&["ping", "-6", "-c", "20", "-i", "0.05", "-W", "2", &target]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("20 packets transmitted, 20 received"),
        "{text}"
    );
    let neigh = pair
        .peer_ns()
        .run_ok(&["ip", "-6", "neigh", "show", &target]);
    assert!(
        neigh.contains(&mac_text(pair.engine_mac())),
        "neighbour table: {neigh}"
    );
    let (ok, out, err, report) = stop_report(engine, SIGINT);
    assert!(ok, "exit status; stdout {out}\nstderr {err}");
    assert_eq!(total(&report, "icmp6_echo_replies"), 20, "{report:#}");
    assert_eq!(total(&report, "dad_probes"), 1, "{report:#}");
    assert!(total(&report, "ndp_replies") >= 1, "{report:#}");
    assert!(
        !pair.xdp_attached(),
        "XDP program left attached after SIGINT"
    );

    // The peer's own address: its kernel defends it against the engine's probe (RFC 4862
    // 5.4.4), and the start fails naming the address, nothing left attached.
    let v4 = format!("{}/24", pair.engine_addr());
    let out = pair.engine_ns().exec(&[
        BIN,
        "serve",
        "--iface",
        pair.engine_if(),
        "--ip",
        &v4,
        "--ip",
        &peer,
        "--duration",
        "5",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "serve used a duplicate address: {err}"
    );
    assert!(err.contains("already in use on the link"), "{err}");
    assert!(
        !pair.xdp_attached(),
        "nothing left attached after the refusal"
    );
}

//! ECN (RFC 3168), one script per rule: negotiation both ways, ECT(0) on new data only,
//! CE echoed with ECE until CWR, one window reduction per window of data.

use super::harness::run;
use super::scripts::cfg;
use crate::tcp::{Ecn, TcpConfig};

const MSS: u32 = 1448;

/// An ECN-setup SYN (ECE and CWR) from a Linux-like peer and our answer.
const ECN_HANDSHAKE: &str = "
0.000 < SEW seq 0 win 64240 <mss 1460,sackOK,TS 100 0,nop,wscale 7>
0.000 > S.E seq 0 ack 1 win 65160 notect <mss 1460,sackOK,TS * 100,wscale 2>
0.010 < . seq 1 ack 1 win 1000 <TS 110 *>
";

#[test]
fn a_server_answers_an_ecn_setup_syn_and_marks_new_data_ect0() {
    // RFC 3168 6.1.1: SYN with ECE+CWR is answered with ECE alone (Linux tcp_ecn=2, our
    // default); then data segments carry ECT(0) and pure ACKs do not (6.1.4).
    let c = run(
        &cfg(),
        &format!(
            "{ECN_HANDSHAKE}
0.020 app send 1000
0.020 > P. seq 1 ack 1 len 1000 ect0 <TS * 110>
0.030 < . seq 1 ack 1001 win 1000 len 10 <TS 120 *>
0.030 > . seq 1001 ack 11 notect <TS * 120>
"
        ),
    );
    assert!(c.ecn());
}

#[test]
fn without_an_ecn_setup_syn_or_with_ecn_off_nothing_is_negotiated() {
    // RFC 3168 6.1.1: a plain SYN gets a plain SYN-ACK and Not-ECT data; with --ecn off
    // even an ECN-setup SYN does.
    for (cfg, syn) in [
        (cfg(), "S"),
        (
            TcpConfig {
                ecn: Ecn::Off,
                ..cfg()
            },
            "SEW",
        ),
    ] {
        let c = run(
            &cfg,
            &format!(
                "
0.000 < {syn} seq 0 win 64240 <mss 1460,sackOK,TS 100 0,nop,wscale 7>
0.000 > S. seq 0 ack 1 win 65160 <mss 1460,sackOK,TS * 100,wscale 2>
0.010 < . seq 1 ack 1 win 1000 <TS 110 *>
0.020 app send 1000
0.020 > P. seq 1 ack 1 len 1000 notect <TS * 110>
"
            ),
        );
        assert!(!c.ecn());
    }
}

#[test]
fn a_client_with_ecn_on_asks_and_takes_the_answer() {
    // RFC 3168 6.1.1: with --ecn on the engine's own SYN has ECE and CWR; a SYN-ACK
    // with ECE (and not CWR) agrees.
    let c = run(
        &TcpConfig {
            ecn: Ecn::On,
            ..cfg()
        },
        "
0.000 app connect
0.000 > SEW seq 0 notect <mss 1460,sackOK,TS * 0,wscale 2>
0.010 < S.E seq 0 ack 1 win 64240 <mss 1460,sackOK,TS 100 *,nop,wscale 7>
0.010 > . seq 1 ack 1 <TS * 100>
0.020 app send 500
0.020 > P. seq 1 ack 1 len 500 ect0 <TS * 100>
",
    );
    assert!(c.ecn());
}

#[test]
fn ce_is_echoed_with_ece_until_cwr() {
    // RFC 3168 6.1.3: a CE-marked data segment is ACKed at once with ECE, and every ACK
    // keeps ECE until a segment with CWR arrives.
    run(
        &cfg(),
        &format!(
            "{ECN_HANDSHAKE}
0.020 < . seq 1 ack 1 win 1000 len 100 ce <TS 120 *>
0.020 > .E seq 1 ack 101 <TS * 120>
0.030 < . seq 101 ack 1 win 1000 len 100 ect0 <TS 130 *>
0.030 > .E seq 1 ack 201 <TS * 130>
0.040 < .W seq 201 ack 1 win 1000 len 100 ect0 <TS 140 *>
0.040 > . seq 1 ack 301 <TS * 140>
"
        ),
    );
}

#[test]
fn ece_reduces_the_window_once_per_window_and_the_next_data_says_cwr() {
    // RFC 3168 6.1.2: the first ECE reduces cwnd and ssthresh as a loss would (CUBIC's
    // 0.7); more ECE for the same window of data changes nothing; the next new segment
    // carries CWR.
    let mut script = format!("{ECN_HANDSHAKE}\n0.020 app send {}\n", 12 * MSS);
    for k in 0..10 {
        script += &format!(
            "0.020 > . seq {} ack 1 len 1448 ect0 <TS * 110>\n",
            1 + k * MSS
        );
    }
    // ECE on the ACK for the first segment: cwnd 11 segments after this ACK's slow-start
    // growth, reduced to 7.7 with nine in flight: nothing may leave. ECE again on the
    // ACK for four more (same window): no second reduction; pipe is five segments, so
    // two new ones go, the first with CWR.
    script += &format!(
        "0.030 < .E seq 1 ack {} win 1000 <TS 120 *>
0.030 > none
0.031 < .E seq 1 ack {} win 1000 <TS 121 *>
0.031 > .W seq {} ack 1 len 1448 ect0 <TS * 121>
0.031 > P. seq {} ack 1 len 1448 ect0 <TS * 121>
",
        1 + MSS,
        1 + 5 * MSS,
        1 + 10 * MSS,
        1 + 11 * MSS
    );
    let c = run(&cfg(), &script);
    assert_eq!(c.stats.ecn_reductions, 1);
    assert_eq!(c.ssthresh(), (11.0 * 0.7 * MSS as f64) as u32);
}

#[test]
fn retransmissions_are_not_ect() {
    // RFC 3168 6.1.5: a retransmitted data segment is sent Not-ECT (the probe that takes
    // the lone segment's RTO slot, then the RTO itself).
    run(
        &cfg(),
        &format!(
            "{ECN_HANDSHAKE}
0.020 app send 1000
0.020 > P. seq 1 ack 1 len 1000 ect0 <TS * 110>
0.220 > P. seq 1 ack 1 len 1000 notect <TS * 110>
0.420 > P. seq 1 ack 1 len 1000 notect <TS * 110>
0.430 < . seq 1 ack 1001 win 1000 <TS 130 *>
"
        ),
    );
}

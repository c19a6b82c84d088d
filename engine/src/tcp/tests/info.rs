//! `Conn::info`: what `fastpath ss` shows of a connection, read from its state.

use super::harness::run;
use super::scripts::{cfg, HANDSHAKE};
use crate::tcp::Limit;
use crate::time::Instant;

#[test]
fn info_reads_queues_windows_and_rtt() {
    // Three segments out, the first two acknowledged after 20 ms, 1000 bytes in.
    let c = run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 3000
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > . seq 1449 ack 1 len 1448 <TS * 110>
0.020 > P. seq 2897 ack 1 len 104 <TS * 110>
0.040 < . seq 1 ack 2897 win 1000 len 1000 <TS 120 *>
0.040 > . seq 3001 ack 1001 <TS * 120>
"
        ),
    );
    let i = c.info(Instant::from_millis(1000));
    assert_eq!(i.state, "established");
    assert_eq!((i.local.port(), i.remote.port()), (80, 40000));
    assert_eq!(i.bytes_sent, 3000);
    assert_eq!(i.bytes_acked, 2896);
    assert_eq!(i.bytes_received, 1000);
    assert_eq!(i.recv_q, 1000, "nothing read yet");
    assert_eq!((i.send_q, i.in_flight, i.unsent), (104, 104, 0));
    assert_eq!(i.snd_wnd, 1000 << 7);
    assert_eq!(i.mss, 1448);
    // RFC 6298 (2.2), (2.3): 10 ms from the handshake, then a sample of 20 ms.
    assert_eq!(i.srtt_us, Some(11_250));
    assert_eq!(i.rttvar_us, 6_250);
    assert!(i.cwnd >= 10 * 1448, "initial window at least: {}", i.cwnd);
    assert_eq!(i.ssthresh, None, "no congestion response yet");
    assert_eq!(i.retrans, 0);
    assert_eq!(i.limited_by, Limit::App, "everything written has been sent");
    assert_eq!(i.ca_state, "open");
    assert!(i.sack && i.timestamps && !i.ecn);
    assert_eq!(i.wscale, Some((2, 7)));
    // 2896 bytes acknowledged in the connection's first second: 23168 bit/s.
    assert_eq!(i.delivery_rate_bps, 2896 * 8);
    assert_eq!(i.age_ms, 1000);
    assert_eq!(i.send_rate_bps, Some(i.cwnd as u64 * 8_000_000 / 11_250));
}

#[test]
fn info_says_the_peers_window_holds_data_back() {
    // The peer's window is 1000 bytes: 2000 written, 1000 wait for it.
    let c = run(
        &cfg(),
        "
0.000 < S seq 0 win 1000 <mss 1460>
0.000 > S. seq 0 ack 1
0.010 < . seq 1 ack 1 win 1000
0.020 app send 2000
0.020 > . seq 1 ack 1 len 1000
",
    );
    let i = c.info(Instant::from_millis(30));
    assert_eq!((i.send_q, i.in_flight, i.unsent), (2000, 1000, 1000));
    assert_eq!(i.limited_by, Limit::Rwnd);
    assert_eq!(i.wscale, None);
    assert!(!i.sack && !i.timestamps);
}

#[test]
fn info_counts_data_bytes_not_the_fins() {
    let c = run(
        &crate::tcp::TcpConfig::default(),
        "
0.000 < S seq 0 win 65535 <mss 1460>
0.000 > S. seq 0 ack 1
0.010 < . seq 1 ack 1 win 65535
0.020 app send 100
0.020 > P. seq 1 ack 1 len 100
0.030 < . seq 1 ack 101 win 65535
0.040 app close
0.040 > F. seq 101 ack 1
0.050 < F. seq 1 ack 102 win 65535
0.050 > . seq 102 ack 2
",
    );
    let i = c.info(Instant::from_millis(60));
    assert_eq!(i.state, "time-wait");
    assert_eq!(
        (i.bytes_sent, i.bytes_acked, i.bytes_received),
        (100, 100, 0)
    );
}

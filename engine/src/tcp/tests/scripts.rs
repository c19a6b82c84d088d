//! One script per rule, each naming the RFC section it checks. Relative sequence numbers:
//! ours from ISS, the peer's from its ISN (see harness.rs).

use core::time::Duration;

use super::harness::run;
use crate::tcp::{Keepalive, TcpConfig};

/// Linux-like defaults but a small receive buffer, with the window scale sized for it
/// (2), for readable windows.
pub(super) fn cfg() -> TcpConfig {
    TcpConfig {
        recv_buffer: 200_000,
        send_buffer: 200_000,
        window_scale_space: 0,
        ..TcpConfig::default()
    }
}

/// The handshake most Linux peers do, then the peer's ACK (window 1000 << 7).
pub(super) const HANDSHAKE: &str = "
0.000 < S seq 0 win 64240 <mss 1460,sackOK,TS 100 0,nop,wscale 7>
0.000 > S. seq 0 ack 1 win 65160 <mss 1460,sackOK,TS * 100,wscale 2>
0.010 < . seq 1 ack 1 win 1000 <TS 110 *>
0.010 state ESTABLISHED
";

#[test]
fn passive_open_with_all_options() {
    // RFC 9293 3.5, RFC 7323 2.2 and 3.2, RFC 2018 2: our SYN-ACK answers each option the
    // peer offered, and the SYN-ACK's window is not scaled.
    run(&cfg(), HANDSHAKE);
}

#[test]
fn passive_open_without_options() {
    // RFC 9293 3.7.1: no MSS option means 536; RFC 7323: no scaling, no timestamps unless
    // both sides offer them; RFC 2018: no SACK unless offered.
    let c = run(
        &cfg(),
        "
0.000 < S seq 0 win 8192
0.000 > S. seq 0 ack 1 win 64240 <mss 1460>
0.010 < . seq 1 ack 1 win 8192
0.010 state ESTABLISHED
0.020 app send 600
0.020 > . seq 1 ack 1 len 536
0.020 > P. seq 537 ack 1 len 64
",
    );
    assert_eq!(c.send_mss(), 536);
}

#[test]
fn icmp_fragmentation_needed_lowers_the_segment_size() {
    // RFC 1191 and RFC 5927 4.1: a "fragmentation needed" that names outstanding data
    // lowers the MSS (1000 - 40 - 12 for timestamps) and the data goes again in the
    // smaller size, each segment cut in two as Linux's tcp_fragment does (no congestion
    // response); one naming a sequence number we never sent is ignored.
    let c = run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 2896
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > P. seq 1449 ack 1 len 1448 <TS * 110>
0.030 icmp mtu 1000 seq 90000
0.030 > none
0.040 icmp mtu 1000 seq 1
0.040 > . seq 1 ack 1 len 948 <TS * 110>
0.040 > . seq 949 ack 1 len 500 <TS * 110>
0.040 > . seq 1449 ack 1 len 948 <TS * 110>
0.040 > P. seq 2397 ack 1 len 500 <TS * 110>
0.050 < . seq 1 ack 2897 win 1000 <TS 120 *>
0.300 > none
"
        ),
    );
    assert_eq!(c.send_mss(), 948);
    assert_eq!(c.cwnd(), 10 * 1448, "a smaller path MTU is no congestion");
}

#[test]
fn unscaled_window_is_clamped_to_the_field() {
    // RFC 7323 2.3: without window scaling the window field carries at most 65535; a larger
    // buffer must not make every read look like a window update worth sending.
    run(
        &cfg(),
        "
0.000 < S seq 0 win 8192
0.000 > S. seq 0 ack 1 win 64240 <mss 1460>
0.010 < . seq 1 ack 1 win 8192
0.020 < P. seq 1 ack 1 win 8192 len 100
0.020 > . seq 1 ack 101 win 65535
0.030 app recv 100
0.030 > none
1.000 > none
",
    );
}

#[test]
fn active_open_and_simultaneous_open() {
    // RFC 9293 3.5 figure 3 (active) and figure 8 (simultaneous).
    run(
        &cfg(),
        "
0.000 app connect
0.000 > S seq 0 win 64240 <mss 1460,sackOK,TS * 0,wscale 2>
0.020 < S. seq 0 ack 1 win 65535 <mss 1400,sackOK,TS 500 *,wscale 5>
0.020 > . seq 1 ack 1 <TS * 500>
0.020 state ESTABLISHED
",
    );
    run(
        &cfg(),
        "
0.000 app connect
0.000 > S seq 0 <mss 1460,sackOK,TS * 0,wscale 2>
0.010 < S seq 0 win 65535 <mss 1460,sackOK,TS 500 0,wscale 5>
0.010 > S. seq 0 ack 1 <mss 1460,sackOK,TS * 500,wscale 2>
0.010 state SYN_RECEIVED
0.020 < . seq 1 ack 1 win 1000 <TS 510 *>
0.020 state ESTABLISHED
",
    );
}

#[test]
fn syn_ack_lost_is_retransmitted_with_backoff() {
    // RFC 6298 (2.1) initial RTO 1 s, (5.5) doubling; RFC 9293 3.10.7.4: a retransmitted
    // SYN is answered with the SYN-ACK again.
    run(
        &cfg(),
        "
0.000 < S seq 0 win 64240 <mss 1460,TS 100 0>
0.000 > S. seq 0 ack 1 <mss 1460,TS * 100>
1.000 > S. seq 0 ack 1 <mss 1460,TS * 100>
3.000 > S. seq 0 ack 1 <mss 1460,TS * 100>
3.100 < . seq 1 ack 1 win 1000 <TS 200 *>
3.100 state ESTABLISHED
",
    );
}

#[test]
fn syn_retries_run_out() {
    // Linux tcp_syn_retries: give up after 6 retransmissions (1+2+4+8+16+32+64 s).
    let mut c = cfg();
    c.syn_retries = 2;
    run(
        &c,
        "
0.000 app connect
0.000 > S seq 0
1.000 > S seq 0
3.000 > S seq 0
7.000 > none
7.000 closed TimedOut
",
    );
}

#[test]
fn data_and_ack_clocking() {
    // RFC 9293 3.8.6: segments by the peer's MSS (1460 - 12 TS bytes), our ACKs delayed
    // for one full segment once quick-ACK mode ends, immediate for the second (RFC 5681 4.2).
    let mut c = cfg();
    c.quickacks = 0;
    run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 app send 3000
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > . seq 1449 ack 1 len 1448 <TS * 110>
0.020 > P. seq 2897 ack 1 len 104 <TS * 110>
0.030 < . seq 1 ack 3001 win 1000 <TS 120 *>
0.040 < . seq 1 ack 3001 win 1000 len 1000 <TS 130 *>
0.080 > . seq 3001 ack 1001 <TS * 130>
0.090 < . seq 1001 ack 3001 win 1000 len 1460 <TS 140 *>
0.091 < . seq 2461 ack 3001 win 1000 len 1460 <TS 141 *>
0.091 > . seq 3001 ack 3921 <TS * 141>
0.100 app recv 3920
0.100 > . seq 3001 ack 3921 <TS * 141>
"
        ),
    );
}

#[test]
fn out_of_order_data_is_sacked_and_reassembled() {
    // RFC 5681 4.2 (immediate ACK on out-of-order), RFC 2018 4 (first block = newest).
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 < . seq 1001 ack 1 win 1000 len 500 <TS 120 *>
0.020 > . seq 1 ack 1 <TS * 110,sack 1001:1501>
0.021 < . seq 2001 ack 1 win 1000 len 500 <TS 121 *>
0.021 > . seq 1 ack 1 <TS * 110,sack 2001:2501 1001:1501>
0.022 < . seq 1 ack 1 win 1000 len 1000 <TS 122 *>
0.022 > . seq 1 ack 1501 <TS * 122,sack 2001:2501>
0.023 < . seq 1501 ack 1 win 1000 len 500 <TS 123 *>
0.023 > . seq 1 ack 2501 <TS * 123>
0.030 app recv 2500
0.030 > . seq 1 ack 2501 <TS * 123>
"
        ),
    );
}

#[test]
fn first_data_segment_lost_then_rto() {
    // RFC 6298 (5.4)-(5.6): retransmit the earliest segment at the RTO, double it. The
    // RTT sample from the handshake (10 ms) puts RTO at its 200 ms floor (2.4). A lone
    // segment's tail loss probe (2 SRTT + 200 ms, RFC 8985 7.2) is due no earlier than
    // the RTO, so the probe takes the RTO's place and the RTO restarts after it, as on
    // Linux: probe at 220 ms, timeouts at 420 ms and (doubled) 820 ms.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 1000
0.020 > P. seq 1 ack 1 len 1000 <TS * 110>
0.220 > P. seq 1 ack 1 len 1000 <TS * 110>
0.420 > P. seq 1 ack 1 len 1000 <TS * 110>
0.820 > P. seq 1 ack 1 len 1000 <TS * 110>
0.900 < . seq 1 ack 1001 win 1000 <TS 200 *>
1.900 > none
"
        ),
    );
}

#[test]
fn final_ack_of_handshake_lost_data_still_establishes() {
    // RFC 9293 3.10.7.4 step 5: in SYN_RECEIVED, an acceptable ACK on a data segment
    // completes the handshake.
    run(
        &cfg(),
        "
0.000 < S seq 0 win 64240 <mss 1460,sackOK,TS 100 0,wscale 7>
0.000 > S. seq 0 ack 1 <mss 1460,sackOK,TS * 100,wscale 2>
0.020 < P. seq 1 ack 1 win 1000 len 100 <TS 120 *>
0.020 state ESTABLISHED
0.020 > . seq 1 ack 101 <TS * 120>
0.030 app recv 100
",
    );
}

#[test]
fn fast_retransmit_after_three_dupacks_newreno() {
    // RFC 5681 3.2 and RFC 6582 (no SACK offered): the third duplicate ACK retransmits
    // the lost segment at once; a partial ACK retransmits the next hole.
    let mut c = cfg();
    c.cc = crate::tcp::cc::Algorithm::NewReno;
    run(
        &c,
        "
0.000 < S seq 0 win 64240 <mss 1000,TS 100 0,nop,wscale 7>
0.000 > S. seq 0 ack 1 <mss 1460,TS * 100,wscale 2>
0.010 < . seq 1 ack 1 win 1000 <TS 110 *>
0.020 app send 6000
0.020 > . seq 1 ack 1 len 988
0.020 > . seq 989 ack 1 len 988
0.020 > . seq 1977 ack 1 len 988
0.020 > . seq 2965 ack 1 len 988
0.020 > . seq 3953 ack 1 len 988
0.020 > . seq 4941 ack 1 len 988
0.020 > P. seq 5929 ack 1 len 72
0.030 < . seq 1 ack 989 win 1000 <TS 120 *>
0.031 < . seq 1 ack 989 win 1000 <TS 121 *>
0.032 < . seq 1 ack 989 win 1000 <TS 122 *>
0.033 < . seq 1 ack 989 win 1000 <TS 123 *>
0.033 > . seq 989 ack 1 len 988
0.040 < . seq 1 ack 2965 win 1000 <TS 130 *>
0.040 > . seq 2965 ack 1 len 988
0.050 < . seq 1 ack 6001 win 1000 <TS 140 *>
",
    );
}

#[test]
fn sack_recovery_retransmits_only_the_holes() {
    // RFC 6675: with SACK, loss is declared once three segments above the hole are
    // SACKed, and only the unSACKed bytes are resent.
    run(
        &cfg(),
        "
0.000 < S seq 0 win 64240 <mss 1000,sackOK,TS 100 0,nop,wscale 7>
0.000 > S. seq 0 ack 1 <mss 1460,sackOK,TS * 100,wscale 2>
0.010 < . seq 1 ack 1 win 1000 <TS 110 *>
0.020 app send 4940
0.020 > . seq 1 ack 1 len 988
0.020 > . seq 989 ack 1 len 988
0.020 > . seq 1977 ack 1 len 988
0.020 > . seq 2965 ack 1 len 988
0.020 > P. seq 3953 ack 1 len 988
0.030 < . seq 1 ack 989 win 1000 <TS 120 *,sack 1977:2965>
0.031 < . seq 1 ack 989 win 1000 <TS 121 *,sack 1977:3953>
0.032 < . seq 1 ack 989 win 1000 <TS 122 *,sack 1977:4941>
0.032 > . seq 989 ack 1 len 988
0.040 < . seq 1 ack 4941 win 1000 <TS 130 *>
0.100 > none
",
    );
}

#[test]
fn rto_after_tail_loss_goes_back_to_snd_una() {
    // RFC 6298 (5.4): the tail segment is lost, no dupACKs come; the timer resends it.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 2000
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > P. seq 1449 ack 1 len 552 <TS * 110>
0.030 < . seq 1 ack 1449 win 1000 <TS 120 *>
0.230 > P. seq 1449 ack 1 len 552 <TS * 120>
0.240 < . seq 1 ack 2001 win 1000 <TS 130 *>
"
        ),
    );
}

#[test]
fn zero_window_then_probe_then_update() {
    // RFC 9293 3.8.6.1: with the peer's window closed and data waiting, probe at RTO
    // intervals with backoff; a window update resumes sending.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 2000
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > P. seq 1449 ack 1 len 552 <TS * 110>
0.030 < . seq 1 ack 2001 win 0 <TS 120 *>
0.040 app send 500
0.240 > . seq 2000 ack 1 <TS * 120>
0.250 < . seq 1 ack 2001 win 0 <TS 125 *>
0.640 > . seq 2000 ack 1 <TS * 125>
0.700 < . seq 1 ack 2001 win 1000 <TS 130 *>
0.700 > P. seq 2001 ack 1 len 500 <TS * 130>
"
        ),
    );
}

#[test]
fn a_window_closed_by_a_live_peer_is_probed_for_ever_and_a_silent_one_is_given_up() {
    // RFC 9293 3.8.6.1: the window may stay closed indefinitely while the peer answers
    // the probes; Linux gives up only after tcp_retries2 probes in a row go unanswered.
    // Here the limit is 2, and the peer answers 4 probes before it goes silent.
    let mut c = cfg();
    c.data_retries = 2;
    run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 app send 1000
0.020 > P. seq 1 ack 1 len 1000 <TS * 110>
0.030 < . seq 1 ack 1001 win 0 <TS 120 *>
0.040 app send 500
0.240 > . seq 1000 ack 1 <TS * 120>
0.250 < . seq 1 ack 1001 win 0 <TS 121 *>
0.640 > . seq 1000 ack 1 <TS * 121>
0.650 < . seq 1 ack 1001 win 0 <TS 122 *>
1.440 > . seq 1000 ack 1 <TS * 122>
1.450 < . seq 1 ack 1001 win 0 <TS 123 *>
3.040 > . seq 1000 ack 1 <TS * 123>
3.050 < . seq 1 ack 1001 win 0 <TS 124 *>
3.050 state ESTABLISHED
6.240 > . seq 1000 ack 1 <TS * 124>
12.640 > . seq 1000 ack 1 <TS * 124>
25.439 state ESTABLISHED
25.440 closed TimedOut
"
        ),
    );
}

#[test]
fn a_released_connection_behind_a_window_shut_for_ever_is_given_up() {
    // Linux tcp_probe_timer for an orphaned socket: answered probes do not keep it alive
    // once their interval has reached TCP_RTO_MAX (120 s) and 8 of them have gone. With a
    // 200 ms RTO the interval passes 120 s at the 10th probe; the 11th expiry gives up.
    let mut script = format!(
        "{HANDSHAKE}
0.020 app send 1000
0.020 > P. seq 1 ack 1 len 1000 <TS * 110>
0.030 < . seq 1 ack 1001 win 0 <TS 120 *>
0.040 app send 500
0.040 app release
"
    );
    let mut at = 0.040;
    let mut wait = 0.2;
    for i in 0..10 {
        at += wait;
        wait = f64::min(wait * 2.0, 120.0);
        script += &format!(
            "{at:.3} > . seq 1000 ack 1 <TS * {}>\n{:.3} < . seq 1 ack 1001 win 0 <TS {} *>\n",
            120 + i,
            at + 0.01,
            121 + i
        );
    }
    script += &format!("{:.3} state FIN_WAIT_1\n", at + wait - 0.001);
    script += &format!("{:.3} closed TimedOut\n", at + wait);
    run(&cfg(), &script);
}

#[test]
fn a_small_window_runt_is_sent_when_the_override_timer_fires() {
    // RFC 9293 3.8.6.2.1: sender SWS avoidance holds back a segment smaller than both the
    // MSS and half the largest window offered, but only until an override timeout: with
    // nothing in flight no ACK would ever come to release it (a lost window update, or a
    // peer gone), so the persist timer sends what the window takes.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 2000
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > P. seq 1449 ack 1 len 552 <TS * 110>
0.030 < . seq 1 ack 2001 win 4 <TS 120 *>
0.040 app send 1000
0.240 > . seq 2001 ack 1 len 512 <TS * 120>
"
        ),
    );
}

#[test]
fn active_close_through_time_wait() {
    // RFC 9293 3.6 figure 12: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT for 2MSL, CLOSED.
    let mut c = cfg();
    c.time_wait = Duration::from_secs(2);
    run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 app close
0.020 > F. seq 1 ack 1 <TS * 110>
0.020 state FIN_WAIT_1
0.030 < . seq 1 ack 2 win 1000 <TS 120 *>
0.030 state FIN_WAIT_2
0.040 < F. seq 1 ack 2 win 1000 <TS 130 *>
0.040 > . seq 2 ack 2 <TS * 130>
0.040 state TIME_WAIT
1.000 < F. seq 1 ack 2 win 1000 <TS 140 *>
1.000 > . seq 2 ack 2 <TS * 140>
2.999 state TIME_WAIT
3.000 closed Normal
"
        ),
    );
}

#[test]
fn an_exact_reset_ends_time_wait_and_others_are_ignored() {
    // RFC 9293 3.10.7.4 with RFC 5961 3.2, as Linux by default (tcp_rfc1337 = 0): in
    // TIME_WAIT a reset at RCV.NXT closes the connection (how a client that reused the
    // 4-tuple too early clears it); one elsewhere is ignored.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app close
0.020 > F. seq 1 ack 1 <TS * 110>
0.030 < F. seq 1 ack 2 win 1000 <TS 120 *>
0.030 > . seq 2 ack 2 <TS * 120>
0.030 state TIME_WAIT
0.040 < R seq 5 win 0
0.041 state TIME_WAIT
0.050 < R seq 2 win 0
0.050 closed Normal
"
        ),
    );
}

#[test]
fn fin_wait_2_is_bounded_only_once_released() {
    // RFC 9293 3.10.4 leaves FIN_WAIT_2 open: after a half-close (shutdown) we wait for
    // the peer's FIN indefinitely and keep receiving. Linux bounds FIN_WAIT_2 by
    // tcp_fin_timeout for a released (orphaned) connection, counted from the last
    // segment the peer sent.
    let mut c = cfg();
    c.fin_wait2_timeout = Duration::from_secs(10);
    run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 app close
0.020 > F. seq 1 ack 1 <TS * 110>
0.030 < . seq 1 ack 2 win 1000 <TS 120 *>
0.030 state FIN_WAIT_2
30.000 < P. seq 1 ack 2 win 1000 len 100 <TS 130 *>
30.000 state FIN_WAIT_2
30.000 > . seq 2 ack 101 <TS * 130>
"
        ),
    );
    run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 app release
0.020 > F. seq 1 ack 1 <TS * 110>
0.030 < . seq 1 ack 2 win 1000 <TS 120 *>
0.030 state FIN_WAIT_2
5.000 < P. seq 1 ack 2 win 1000 len 100 <TS 130 *>
5.000 > . seq 2 ack 101 <TS * 130>
14.999 state FIN_WAIT_2
15.000 closed TimedOut
"
        ),
    );
}

#[test]
fn close_during_the_handshake_sends_fin_after_it() {
    // RFC 9293 3.10.4, CLOSE in SYN_RECEIVED: the FIN is queued until ESTABLISHED would be
    // entered (found by the tcp_conn fuzzer: an early FIN_WAIT_1 could never send it).
    run(
        &cfg(),
        "
0.000 < S seq 0 win 64240 <mss 1460>
0.000 > S. seq 0 ack 1 win 64240 <mss 1460>
0.005 app close
0.005 > none
0.005 state SYN_RECEIVED
0.010 < . seq 1 ack 1 win 8192
0.010 > F. seq 1 ack 1
0.010 state FIN_WAIT_1
0.020 < . seq 1 ack 2 win 8192
0.020 state FIN_WAIT_2
",
    );
}

#[test]
fn passive_close_and_half_close() {
    // RFC 9293 3.6: the peer's FIN moves us to CLOSE_WAIT; we may still send (half-close);
    // our FIN then LAST_ACK, CLOSED on its ACK.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 < F. seq 1 ack 1 win 1000 <TS 120 *>
0.020 > . seq 1 ack 2 <TS * 120>
0.020 state CLOSE_WAIT
0.030 app send 100
0.030 > P. seq 1 ack 2 len 100 <TS * 120>
0.040 app close
0.040 > F. seq 101 ack 2 <TS * 120>
0.040 state LAST_ACK
0.050 < . seq 2 ack 102 win 1000 <TS 130 *>
0.050 closed Normal
"
        ),
    );
}

#[test]
fn simultaneous_close() {
    // RFC 9293 3.6 figure 13: FIN_WAIT_1 -> CLOSING -> TIME_WAIT.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app close
0.020 > F. seq 1 ack 1 <TS * 110>
0.021 < F. seq 1 ack 1 win 1000 <TS 121 *>
0.021 > . seq 2 ack 2 <TS * 121>
0.021 state CLOSING
0.030 < . seq 2 ack 2 win 1000 <TS 130 *>
0.030 state TIME_WAIT
"
        ),
    );
}

#[test]
fn fin_retransmitted_when_lost() {
    // RFC 9293: FIN occupies sequence space and is retransmitted like data.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app close
0.020 > F. seq 1 ack 1 <TS * 110>
0.220 > F. seq 1 ack 1 <TS * 110>
0.300 < . seq 1 ack 2 win 1000 <TS 130 *>
0.300 state FIN_WAIT_2
"
        ),
    );
}

#[test]
fn rst_rules_and_challenge_acks() {
    // RFC 5961 3.2: an in-window RST that is not exact gets a challenge ACK; an exact one
    // resets. 4.2: a SYN on an established connection gets a challenge ACK.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 < R seq 100 win 0
0.020 > . seq 1 ack 1 <TS * 110>
0.021 < S seq 500 win 1000 <mss 1460>
0.021 > . seq 1 ack 1 <TS * 110>
0.022 < R seq 9999999 win 0
0.023 state ESTABLISHED
0.030 < R seq 1 win 0
0.030 closed Reset
"
        ),
    );
}

#[test]
fn challenge_acks_are_rate_limited() {
    // RFC 5961 7: at most N challenge ACKs per second.
    let mut c = cfg();
    c.challenge_ack_limit = 2;
    let conn = run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 < R seq 100 win 0
0.020 > . seq 1 ack 1 <TS * 110>
0.021 < R seq 101 win 0
0.021 > . seq 1 ack 1 <TS * 110>
0.022 < R seq 102 win 0
0.023 > none
1.100 < R seq 103 win 0
1.100 > . seq 1 ack 1 <TS * 110>
"
        ),
    );
    assert_eq!(conn.stats.challenge_acks, 3);
    assert_eq!(conn.stats.challenge_acks_suppressed, 1);
}

#[test]
fn paws_rejects_old_timestamps() {
    // RFC 7323 5.3: a segment whose TSval is older than TS.Recent is dropped and ACKed.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 < . seq 1 ack 1 win 1000 len 100 <TS 200 *>
0.020 > . seq 1 ack 101 <TS * 200>
0.030 < . seq 101 ack 1 win 1000 len 100 <TS 150 *>
0.030 > . seq 1 ack 101 <TS * 200>
0.040 app recv 100
"
        ),
    );
}

#[test]
fn out_of_window_pure_acks_are_answered_at_most_twice_a_second() {
    // RFC 7323 5.3 and RFC 9293 3.10.7.4 ask for an ACK to every unacceptable segment;
    // Linux (tcp_oow_rate_limited) answers pure ACKs at most once per 500 ms so two ends
    // that disagree cannot flood each other. Data is always answered.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 < . seq 1 ack 1 win 1000 len 100 <TS 200 *>
0.020 > . seq 1 ack 101 <TS * 200>
0.030 < . seq 101 ack 1 win 1000 <TS 150 *>
0.030 > . seq 1 ack 101 <TS * 200>
0.040 < . seq 101 ack 1 win 1000 <TS 150 *>
0.040 > none
0.050 < . seq 101 ack 1 win 1000 len 10 <TS 150 *>
0.050 > . seq 1 ack 101 <TS * 200>
0.600 < . seq 101 ack 1 win 1000 <TS 150 *>
0.600 > . seq 1 ack 101 <TS * 200>
0.700 app recv 100
"
        ),
    );
}

#[test]
fn unacceptable_ack_in_syn_received_is_reset() {
    // RFC 9293 3.10.7.4 step 5: in SYN_RECEIVED an ACK outside (SND.UNA, SND.NXT] gets a
    // reset <SEQ=SEG.ACK>.
    run(
        &cfg(),
        "
0.000 < S seq 0 win 64240 <mss 1460>
0.000 > S. seq 0 ack 1 <mss 1460>
0.010 < . seq 1 ack 500 win 1000
0.010 > R seq 500
",
    );
}

#[test]
fn keepalive_probes_then_give_up() {
    // RFC 1122 4.2.3.6: probes after the idle time, the connection dropped after the
    // configured number go unanswered.
    let mut c = cfg();
    c.keepalive = Some(Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(1),
        probes: 2,
    });
    run(
        &c,
        &format!(
            "{HANDSHAKE}
10.010 > . seq 0 ack 1 <TS * 110>
11.010 > . seq 0 ack 1 <TS * 110>
12.010 > none
12.010 closed TimedOut
"
        ),
    );
}

#[test]
fn data_retries_run_out() {
    // Linux tcp_retries2: after the configured retransmissions the connection times out.
    let mut c = cfg();
    c.data_retries = 2;
    run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 app send 10
0.020 > P. seq 1 ack 1 len 10 <TS * 110>
0.220 > P. seq 1 ack 1 len 10 <TS * 110>
0.420 > P. seq 1 ack 1 len 10 <TS * 110>
0.820 > P. seq 1 ack 1 len 10 <TS * 110>
1.620 > none
1.620 closed TimedOut
"
        ),
    );
}

#[test]
fn receive_window_shrinks_as_data_waits_and_reopens_on_read() {
    // RFC 9293 3.8.6.2.2: the window offered is the free buffer; after the application
    // reads, a window update goes out when the window opened by a useful amount.
    let mut c = cfg();
    c.recv_buffer = 8000;
    c.quickacks = 100;
    run(
        &c,
        "
0.000 < S seq 0 win 64240 <mss 1460,TS 100 0>
0.000 > S. seq 0 ack 1 win 7240 <mss 1460,TS * 100>
0.010 < . seq 1 ack 1 win 1000 <TS 110 *>
0.020 < . seq 1 ack 1 win 1000 len 1448 <TS 120 *>
0.020 > . seq 1 ack 1449 win 6552 <TS * 120>
0.021 < . seq 1449 ack 1 win 1000 len 1448 <TS 121 *>
0.021 > . seq 1 ack 2897 win 5104 <TS * 121>
0.030 app recv 2896
0.030 > . seq 1 ack 2897 win 8000 <TS * 121>
",
    );
}

#[test]
fn memory_follows_the_data() {
    // Documented in docs/tcp.md: an idle connection holds only its struct; a buffer exists
    // only while it holds bytes, sized to them (from 2 KiB, doubling), and goes back to
    // the pool once everything received is consumed and everything sent acknowledged.
    let c = run(&cfg(), HANDSHAKE);
    let idle = c.memory();
    assert_eq!(idle, core::mem::size_of::<crate::tcp::Conn>());
    assert!(idle < 2048, "struct grew to {idle} bytes");
    let request = format!(
        "{HANDSHAKE}
0.020 < P. seq 1 ack 1 win 1000 len 100 <TS 120 *>
0.020 > . seq 1 ack 101 <TS * 120>
"
    );
    let c = run(&cfg(), &request);
    assert_eq!(
        c.memory(),
        idle + 2048,
        "100 unread bytes hold one 2 KiB buffer"
    );
    let c = run(&cfg(), &format!("{request}0.030 app recv 100\n"));
    assert_eq!(c.memory(), idle, "read: the receive buffer went back");
    let response = format!(
        "{HANDSHAKE}
0.020 app send 100
0.020 > P. seq 1 ack 1 len 100 <TS * 110>
"
    );
    let c = run(&cfg(), &response);
    let in_flight = c.memory();
    assert!(
        in_flight >= idle + 2048 && in_flight < idle + 2048 + 512,
        "100 unacknowledged bytes: a 2 KiB buffer and the segment record, got {in_flight}"
    );
    let c = run(
        &cfg(),
        &format!("{response}0.030 < . seq 1 ack 101 win 1000 <TS 120 *>\n"),
    );
    assert_eq!(
        c.memory(),
        idle,
        "acknowledged: the send buffer and record went back"
    );
    println!("connection struct: {idle} bytes; with 100 bytes in flight: {in_flight}");
}

#[test]
fn nagle_holds_a_runt_while_data_is_unacknowledged() {
    // RFC 9293 3.7.4 (RFC 896): with Nagle on, a segment smaller than the MSS waits while
    // data is outstanding; off (the responder's default), it leaves at once.
    let mut c = cfg();
    c.nagle = true;
    run(
        &c,
        &format!(
            "{HANDSHAKE}
0.020 app send 100
0.020 > P. seq 1 ack 1 len 100 <TS * 110>
0.021 app send 100
0.021 > none
0.030 < . seq 1 ack 101 win 1000 <TS 120 *>
0.030 > P. seq 101 ack 1 len 100 <TS * 120>
"
        ),
    );
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 100
0.020 > P. seq 1 ack 1 len 100 <TS * 110>
0.021 app send 100
0.021 > P. seq 101 ack 1 len 100 <TS * 110>
"
        ),
    );
}

#[test]
fn idle_restart_limits_cwnd_to_the_initial_window() {
    // RFC 5681 4.1: after an idle period longer than the RTO, cwnd restarts from the
    // initial window (10 segments, RFC 6928) instead of bursting what it had grown to.
    use super::harness::{ISS, PEER_ISS};
    use crate::tcp::SeqNum;
    use crate::time::Instant;
    use crate::wire::tcp::{Flags, TcpOptions, TcpRepr};

    let mut c = run(&cfg(), HANDSHAKE);
    let mut buf = vec![0u8; 65536];
    let mut sent = 0u32;
    let mut burst = |c: &mut crate::tcp::Conn, now: Instant, sent: &mut u32| {
        let mut segs = 0;
        while let Some((_, n)) = c.poll_transmit(now, &mut buf) {
            if n > 0 {
                segs += 1;
                *sent += n as u32;
            }
        }
        segs
    };
    let ack = |sent: u32, ts: u32| TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum(PEER_ISS.wrapping_add(1)),
        ack: SeqNum(ISS.wrapping_add(1).wrapping_add(sent)),
        flags: Flags::ACK,
        window: 1000,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((ts, 0)),
            ..TcpOptions::default()
        },
        ecn: 0,
    };
    assert_eq!(c.send(&[1u8; 150_000]), 150_000);
    let mss = c.send_mss();
    let mut now = Instant::from_millis(20);
    let first = burst(&mut c, now, &mut sent);
    assert_eq!(first, 10, "initial window");
    // One ACK per segment, as a quick-acking Linux peer sends at the start.
    now = Instant::from_millis(30);
    for i in 1..=10 {
        c.on_segment(now, &ack(i * mss, 200), &[]);
    }
    let second = burst(&mut c, now, &mut sent);
    assert_eq!(second, 20, "slow start doubled the window");
    now = Instant::from_millis(40);
    c.on_segment(now, &ack(sent, 210), &[]);
    assert_eq!(c.unacked(), 150_000 - sent as usize);
    let grown = c.cwnd();
    assert!(grown >= 20 * mss, "cwnd {grown}");
    // Send what cwnd allows now, ACK it, then ten seconds of silence.
    let _ = burst(&mut c, now, &mut sent);
    now = Instant::from_millis(50);
    c.on_segment(now, &ack(sent, 220), &[]);
    assert!(
        c.unacked() > 10 * mss as usize,
        "data left to send after the pause"
    );
    now = Instant::from_millis(10_050);
    let third = burst(&mut c, now, &mut sent);
    assert_eq!(third, 10, "restarted from the initial window after idling");
}

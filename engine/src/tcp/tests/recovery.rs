//! Loss recovery, one script per mechanism (RFC 8985 RACK-TLP, RFC 6937 PRR, RFC 2883
//! D-SACK, RFC 3708 / 3522 / 5682 undo, RFC 6675 5.1 timeouts). Each fails with its rule
//! taken out: the timing or the segments it expects are what only that rule produces.
//!
//! The handshake gives an RTT sample of 10 ms (SRTT and the minimum RTT), so RTO is at its
//! 200 ms floor; with timestamps a segment carries 1448 bytes.

use super::harness::run;
use super::scripts::{cfg, HANDSHAKE};
use crate::tcp::conn::ts_clock;
use crate::tcp::{SeqNum, TcpConfig};
use crate::time::Instant;

const MSS: u32 = 1448;

#[test]
fn rack_marks_a_segment_lost_after_the_reordering_window_and_not_before() {
    // RFC 8985 6.2: the segment sent after the first is SACKed at 30 ms (RACK.rtt 10 ms).
    // With one segment SACKed and no reordering seen the window is min_RTT / 4 = 2.5 ms:
    // the first is lost at 20 + 10 + 2.5 ms, by the reordering timer (6.3), not before
    // and not at the RTO.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 5792
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > . seq 1449 ack 1 len 1448 <TS * 110>
0.020 > . seq 2897 ack 1 len 1448 <TS * 110>
0.020 > P. seq 4345 ack 1 len 1448 <TS * 110>
0.030 < . seq 1 ack 1 win 1000 <TS 120 *,sack 1449:2897>
0.032 > none
0.0325 > . seq 1 ack 1 len 1448 <TS * 120>
0.040 < . seq 1 ack 5793 win 1000 <TS 130 *>
0.500 > none
"
        ),
    );
}

#[test]
fn three_sacked_segments_mean_loss_at_once_when_no_reordering_was_seen() {
    // RFC 8985 6.2 step 4: without reordering seen, three SACKed segments drop the
    // window to zero (what RFC 6675's DupThresh did).
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 5792
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > . seq 1449 ack 1 len 1448 <TS * 110>
0.020 > . seq 2897 ack 1 len 1448 <TS * 110>
0.020 > P. seq 4345 ack 1 len 1448 <TS * 110>
0.030 < . seq 1 ack 1 win 1000 <TS 120 *,sack 1449:5793>
0.030 > . seq 1 ack 1 len 1448 <TS * 120>
0.040 < . seq 1 ack 5793 win 1000 <TS 130 *>
"
        ),
    );
}

#[test]
fn tail_loss_probe_resends_the_last_segment_at_two_srtt() {
    // RFC 8985 7.2-7.3: the last two segments are lost and no ACK comes for them. With
    // two segments out the probe is due 2 SRTT + 2 ms after the last ACK, and, there
    // being no new data, it resends the last segment. Its SACK then lets RACK find the
    // other one lost at once: repaired in about 2 RTT, not at the 200 ms RTO.
    run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 5792
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > . seq 1449 ack 1 len 1448 <TS * 110>
0.020 > . seq 2897 ack 1 len 1448 <TS * 110>
0.020 > P. seq 4345 ack 1 len 1448 <TS * 110>
0.030 < . seq 1 ack 2897 win 1000 <TS 120 *>
0.051 > none
0.052 > P. seq 4345 ack 1 len 1448 <TS * 120>
0.062 < . seq 1 ack 2897 win 1000 <TS 130 *,sack 4345:5793>
0.062 > . seq 2897 ack 1 len 1448 <TS * 130>
0.072 < . seq 1 ack 5793 win 1000 <TS 140 *>
0.500 > none
"
        ),
    );
}

#[test]
fn prr_paces_recovery_to_ssthresh() {
    // RFC 6937: 10 segments out (the initial window), 10 more waiting; the first is lost
    // and the peer SACKs the others one per ACK. Before recovery each SACK lets one new
    // segment out (it left the network). Loss is declared at the third SACK (RFC 8985:
    // no reordering seen); CUBIC's ssthresh is 7 segments and RecoverFS the 10 of cwnd.
    // The first ACK in recovery sends the retransmission (PRR always lets it go); then,
    // while pipe is above ssthresh, each ACK may send ceil(delivered * 7 / 10) - sent:
    // a segment on the 4th and 5th SACK, none on the 6th; at the 7th pipe has come down
    // to ssthresh and the slow-start reduction bound takes over: none there (pipe is at
    // ssthresh), one on each of the 8th and 9th, refilling to ssthresh.
    let mut script = format!("{HANDSHAKE}\n0.020 app send {}\n", 20 * MSS);
    for k in 0..10 {
        script += &format!("0.020 > . seq {} ack 1 len 1448 <TS * 110>\n", 1 + k * MSS);
    }
    // What each SACK (k = 1..9 segments SACKed) releases, by segment number.
    let releases: [&[u32]; 9] = [&[10], &[11], &[0], &[12], &[13], &[], &[], &[14], &[15]];
    for (k, rel) in (1..10u32).zip(releases) {
        script += &format!(
            "0.{:03} < . seq 1 ack 1 win 1000 <TS {} *,sack {}:{}>\n",
            30 + k,
            120 + k,
            1 + MSS,
            1 + (k + 1) * MSS
        );
        for &seg in rel {
            script += &format!(
                "0.{:03} > . seq {} ack 1 len 1448 <TS * {}>\n",
                30 + k,
                1 + seg * MSS,
                120 + k
            );
        }
    }
    // Everything acknowledged: recovery ends with cwnd at ssthresh (7 segments), and the
    // last 4 segments go.
    script += &format!("0.045 < . seq 1 ack {} win 1000 <TS 140 *>\n", 1 + 16 * MSS);
    for seg in 16..20 {
        let flags = if seg == 19 { "P." } else { "." };
        script += &format!(
            "0.045 > {flags} seq {} ack 1 len 1448 <TS * 140>\n",
            1 + seg * MSS
        );
    }
    let c = run(&cfg(), &script);
    assert_eq!(c.stats.fast_retransmits, 1);
    assert_eq!(c.stats.retransmits, 1);
    assert_eq!(c.cwnd(), c.ssthresh());
    assert_eq!(c.ssthresh(), 7 * MSS);
}

#[test]
fn a_duplicate_segment_is_reported_with_a_dsack_block() {
    // RFC 2883 4.1.1: data that was already received gets an immediate ACK whose first
    // SACK block is the duplicate; 4.1.2: so does a duplicate of out-of-order data,
    // followed by the block that holds it.
    let c = run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 < . seq 1 ack 1 win 1000 len 100 <TS 120 *>
0.020 > . seq 1 ack 101 <TS * 120>
0.030 < . seq 1 ack 1 win 1000 len 100 <TS 130 *>
0.030 > . seq 1 ack 101 <TS * 120,sack 1:101>
0.040 < . seq 201 ack 1 win 1000 len 100 <TS 140 *>
0.040 > . seq 1 ack 101 <TS * 120,sack 201:301>
0.050 < . seq 201 ack 1 win 1000 len 100 <TS 150 *>
0.050 > . seq 1 ack 101 <TS * 120,sack 201:301 201:301>
0.060 < . seq 101 ack 1 win 1000 len 100 <TS 160 *>
0.060 > . seq 1 ack 301 <TS * 160>
"
        ),
    );
    assert_eq!(c.stats.duplicate_segments, 2);
}

#[test]
fn a_spurious_fast_retransmit_proved_by_dsack_is_undone() {
    // RFC 3708 (Linux tcp_try_undo_dsack): the first segment was only delayed; three
    // SACKs start recovery and it is resent; then the peer reports the copy with a D-SACK.
    // Every retransmission of the episode proved unneeded: cwnd and ssthresh return.
    let c = run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 5792
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > . seq 1449 ack 1 len 1448 <TS * 110>
0.020 > . seq 2897 ack 1 len 1448 <TS * 110>
0.020 > P. seq 4345 ack 1 len 1448 <TS * 110>
0.030 < . seq 1 ack 1 win 1000 <TS 120 *,sack 1449:5793>
0.030 > . seq 1 ack 1 len 1448 <TS * 120>
0.031 < . seq 1 ack 5793 win 1000 <TS 121 *>
0.040 < . seq 1 ack 5793 win 1000 <TS 130 *,sack 1:1449>
"
        ),
    );
    assert_eq!(c.stats.undos, 1);
    assert_eq!(c.stats.spurious_retransmits, 1);
    assert_eq!(
        c.ssthresh(),
        u32::MAX,
        "ssthresh back to before the episode"
    );
    assert!(c.cwnd() >= 10 * MSS, "cwnd {} not restored", c.cwnd());
}

#[test]
fn a_spurious_timeout_is_undone_by_the_timestamp_echo() {
    // Eifel (RFC 3522 detection, RFC 4015 response): the peer was silent past the RTO,
    // then acknowledges everything with the timestamp of the original transmissions:
    // the timeout was spurious; cwnd and ssthresh go back and nothing else is resent.
    let orig = ts_clock(SeqNum(super::harness::ISS), Instant::from_millis(20));
    let c = run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 2896
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > P. seq 1449 ack 1 len 1448 <TS * 110>
0.042 > P. seq 1449 ack 1 len 1448 <TS * 110>
0.242 > . seq 1 ack 1 len 1448 <TS * 110>
0.250 < . seq 1 ack 2897 win 1000 <TS 120 {orig}>
0.600 > none
"
        ),
    );
    assert_eq!(c.stats.rto_expiries, 1);
    assert_eq!(c.stats.undos, 1);
    assert_eq!(c.ssthresh(), u32::MAX);
    assert_eq!(c.cwnd(), 10 * MSS);
}

#[test]
fn a_real_timeout_is_not_undone_and_resends_nothing_the_peer_sacked() {
    // RFC 6675 5.1 / RFC 8985 6.3: segments 3 and 4 are SACKed; RACK marks 1 and 2 lost
    // and PRR resends 1, which is lost too; at the RTO (armed when 1 was first sent: no
    // ACK since moved SND.UNA) everything not SACKed is lost and goes again in slow
    // start -- 1, then 2 -- and 3 and 4 never do.
    let c = run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send 5792
0.020 > . seq 1 ack 1 len 1448 <TS * 110>
0.020 > . seq 1449 ack 1 len 1448 <TS * 110>
0.020 > . seq 2897 ack 1 len 1448 <TS * 110>
0.020 > P. seq 4345 ack 1 len 1448 <TS * 110>
0.030 < . seq 1 ack 1 win 1000 <TS 120 *,sack 2897:5793>
0.0325 > . seq 1 ack 1 len 1448 <TS * 120>
0.220 > . seq 1 ack 1 len 1448 <TS * 120>
0.240 < . seq 1 ack 1449 win 1000 <TS 130 *,sack 2897:5793>
0.240 > . seq 1449 ack 1 len 1448 <TS * 130>
0.250 < . seq 1 ack 5793 win 1000 <TS 140 *>
0.800 > none
"
        ),
    );
    assert_eq!(c.stats.rto_expiries, 1);
    assert_eq!(c.stats.undos, 0);
    assert!(c.ssthresh() < 10 * MSS);
}

#[test]
fn frto_undoes_a_spurious_timeout_without_timestamps() {
    // RFC 5682 (SACK variant): no timestamps, so Eifel cannot tell. The initial window
    // leaves, the tail loss probe sends the 11th segment, then the timeout resends the
    // first. The first ACK after it advances SND.UNA: two new segments go out instead of
    // retransmissions (step 2b); the next ACK acknowledges data never retransmitted
    // (step 3b): the timeout was spurious and is undone.
    let c = run(
        &TcpConfig {
            timestamps: false,
            ..cfg()
        },
        &format!(
            "
0.000 < S seq 0 win 64240 <mss 1460,sackOK,nop,wscale 7>
0.000 > S. seq 0 ack 1 win 64240 <mss 1460,sackOK,wscale 2>
0.010 < . seq 1 ack 1 win 1000
0.020 app send {}
{}0.042 > . seq 14601 ack 1 len 1460
0.242 > . seq 1 ack 1 len 1460
0.250 < . seq 1 ack 1461 win 1000
0.250 > . seq 16061 ack 1 len 1460
0.250 > . seq 17521 ack 1 len 1460
0.260 < . seq 1 ack 4381 win 1000
0.261 > none
",
            14 * 1460,
            (0..10)
                .map(|k| format!("0.020 > . seq {} ack 1 len 1460\n", 1 + k * 1460))
                .collect::<String>()
        ),
    );
    assert_eq!(c.stats.undos, 1);
    assert_eq!(c.ssthresh(), u32::MAX);
}

#[test]
fn a_retransmission_is_ordered_after_new_data_sent_before_it_at_the_same_instant() {
    // A worker sends a whole batch at one clock reading. Here one instant (30 ms) sees
    // an ACK that lets two new segments out, then SACKs that make the second and third
    // segments lost, so their retransmissions leave after them. When the new segments are SACKed
    // (they were ahead of the retransmission on the wire), RACK must not take the
    // retransmission for lost: RFC 8985's sequence tiebreak would (their end is higher),
    // and resend it at once; the send order says it left after them.
    let c = run(
        &cfg(),
        &format!(
            "{HANDSHAKE}
0.020 app send {}
{}0.030 < . seq 1 ack 1449 win 1000 <TS 120 *>
0.030 > . seq 14481 ack 1 len 1448 <TS * 120>
0.030 > P. seq 15929 ack 1 len 1448 <TS * 120>
0.030 < . seq 1 ack 1449 win 1000 <TS 120 *,sack 4345:8689>
0.030 > . seq 1449 ack 1 len 1448 <TS * 120>
0.030 > . seq 2897 ack 1 len 1448 <TS * 120>
0.031 < . seq 1 ack 1449 win 1000 <TS 121 *,sack 4345:17377>
0.031 > none
0.032 < . seq 1 ack 17377 win 1000 <TS 122 *>
0.500 > none
",
            12 * MSS,
            (0..10)
                .map(|k| format!("0.020 > . seq {} ack 1 len 1448 <TS * 110>\n", 1 + k * MSS))
                .collect::<String>()
        ),
    );
    assert_eq!(c.stats.retransmits, 2, "each lost segment resent once");
}

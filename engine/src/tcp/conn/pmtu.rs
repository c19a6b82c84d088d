//! Path MTU for a connection: ICMP "fragmentation needed" (RFC 1191) and ICMPv6 "packet
//! too big" (RFC 8201) lower the segment size.

use super::recovery::{CaState, Frto};
use super::Conn;
use crate::tcp::cc::CongestionControl;
use crate::tcp::SeqNum;

/// Linux `ip_rt_min_pmtu`: a path MTU below this is not believed.
const MIN_PMTU: u16 = 552;

/// The IPv6 minimum link MTU (RFC 8200 5): a smaller packet-too-big MTU is raised to it.
const MIN_PMTU6: u16 = 1280;

impl Conn {
    /// ICMP "fragmentation needed" (RFC 1191) or ICMPv6 "packet too big" (RFC 8201) for
    /// the segment starting at `seq`: lower the segment size to fit `mtu` and resend what
    /// is outstanding in the smaller size, with no congestion response (the loss was not
    /// congestion; Linux `tcp_simple_retransmit`).
    /// Ignored unless `seq` is data we sent and is unacknowledged (RFC 5927 4.1: a blind
    /// attacker must guess it), or the MTU would not lower the segment size. An MTU below
    /// Linux's floor (552; IPv6: 1280) is taken as the floor. Returns whether the segment
    /// size changed.
    pub fn on_path_mtu(&mut self, seq: SeqNum, mtu: u16) -> bool {
        if !self.state.synchronized() || seq < self.snd_una || seq >= self.snd_max {
            self.stats.pmtu_ignored += 1;
            return false;
        }
        let ts = if self.ts.is_some() { 12 } else { 0 };
        // IPv4: RFC 1191 with Linux's floor; IPv6: RFC 8201 4, never below the minimum
        // link MTU of 1280 (RFC 8200 5), headers 60 bytes.
        let (floor, headers) = if self.tuple.is_v6() {
            (MIN_PMTU6, 60)
        } else {
            (MIN_PMTU, 40)
        };
        let mss = (mtu.max(floor) as u32).saturating_sub(headers + ts);
        if mss >= self.send_mss {
            self.stats.pmtu_ignored += 1;
            return false;
        }
        self.send_mss = mss;
        self.cc.set_mss(mss);
        // Linux tcp_simple_retransmit: what is out was too large and is resent in the new
        // size, with no congestion response and nothing to undo.
        self.sent.mark_all_lost();
        if self.ca != CaState::Loss {
            self.ca = CaState::Loss;
            self.high_seq = self.snd_max;
            self.undo = None;
            self.frto = Frto::Off;
        }
        self.timed = None;
        self.stats.pmtu_updates += 1;
        true
    }
}

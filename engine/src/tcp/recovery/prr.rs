//! Proportional Rate Reduction (RFC 6937): how much may be sent on each ACK during fast
//! recovery, so the window comes down to ssthresh smoothly instead of in a burst or a
//! stall, and the fast retransmit always leaves at once.

#[derive(Copy, Clone, Debug, Default)]
pub struct Prr {
    /// prr_delivered: bytes the peer received since recovery began.
    delivered: u32,
    /// prr_out: bytes sent since recovery began.
    out: u32,
    /// RecoverFS; as Linux, the congestion window when recovery began.
    recover_fs: u32,
}

impl Prr {
    /// Recovery begins with `recover_fs` the window before the reduction.
    pub fn start(recover_fs: u32) -> Prr {
        Prr {
            delivered: 0,
            out: 0,
            recover_fs: recover_fs.max(1),
        }
    }

    /// RFC 6937 3, on each ACK in recovery: `delivered` bytes newly ACKed or SACKed by it,
    /// `pipe` what is still in flight. Returns the congestion window to use now, pipe
    /// plus what may be sent (`sndcnt`).
    pub fn on_ack(&mut self, delivered: u32, pipe: u32, ssthresh: u32, mss: u32) -> u32 {
        self.delivered += delivered;
        let sndcnt = if pipe > ssthresh {
            // Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let due = (self.delivered as u64 * ssthresh as u64).div_ceil(self.recover_fs as u64);
            due as i64 - self.out as i64
        } else {
            // Slow start reduction bound: back up to ssthresh, at most as fast as slow start.
            let limit =
                (self.delivered as i64 - self.out as i64).max(delivered as i64) + mss as i64;
            (ssthresh as i64 - pipe as i64).min(limit)
        };
        let mut sndcnt = sndcnt.max(0) as u32;
        if self.out == 0 {
            // RFC 6937 (and Linux): the fast retransmit leaves on entering recovery.
            sndcnt = sndcnt.max(mss);
        }
        pipe + sndcnt
    }

    /// Bytes sent during recovery.
    pub fn on_send(&mut self, bytes: u32) {
        self.out += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6937_example_sends_one_for_every_two_delivered() {
        // RFC 6937 figure: cwnd 20 segments, ssthresh 10, one loss; each ACK delivers one
        // segment. PRR sends on every other ACK (ssthresh / RecoverFS = 1/2).
        let mss = 100;
        let mut prr = Prr::start(20 * mss);
        let mut pipe = 19 * mss; // one segment lost
        let mut sent = Vec::new();
        for _ in 0..10 {
            let cwnd = prr.on_ack(mss, pipe, 10 * mss, mss);
            let mut n = 0;
            // As Linux counts in segments: any room sends one whole segment.
            while pipe < cwnd {
                pipe += mss;
                prr.on_send(mss);
                n += 1;
            }
            sent.push(n);
            pipe -= mss; // the next ACK takes one segment out of the network
        }
        // The first ACK sends the retransmission at once; then one per two delivered.
        assert_eq!(sent, vec![1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    }

    #[test]
    fn slow_start_reduction_bound_below_ssthresh() {
        let mss = 100;
        let mut prr = Prr::start(10 * mss);
        prr.on_send(mss);
        // Heavy loss: pipe fell to 2 segments, ssthresh is 5. One ACK delivering one
        // segment may send at most delivered + 1 MSS.
        assert_eq!(prr.on_ack(mss, 2 * mss, 5 * mss, mss), 4 * mss);
    }
}

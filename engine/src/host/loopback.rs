//! The loopback fast path: segments between the engine's own addresses (and 127.0.0.0/8
//! and `::1`) go to the owning worker's inbox in memory, with no Ethernet, no IP header,
//! no checksum. Both families take the same path; a segment's addresses say which.

use super::*;

/// A TCP segment on the loopback fast path: no Ethernet, no IP header, no checksum.
#[derive(Clone, Debug)]
pub struct LoopSegment {
    /// The worker whose inbox it goes to.
    pub to: u16,
    /// The sender's address and port.
    pub src: SocketAddr,
    /// The receiver's address and port (the same family as `src`).
    pub dst: SocketAddr,
    /// The TCP header.
    pub repr: TcpRepr,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Is `ip` a loopback address (127.0.0.0/8, `::1`), which the engine delivers in memory?
pub(super) fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// The worker that receives segments for a 4-tuple nobody holds yet (a SYN to a
/// listener): the same answer on every worker, and spread over them.
pub fn flow_worker(local: SocketAddr, remote: SocketAddr, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    // An IPv6 address folded to 32 bits (its four words XORed): the spread is what matters.
    let fold = |ip: IpAddr| match ip {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let b = a.to_bits();
            (b as u32) ^ ((b >> 32) as u32) ^ ((b >> 64) as u32) ^ ((b >> 96) as u32)
        }
    };
    let h = (fold(local.ip()) ^ fold(remote.ip()).rotate_left(7)).wrapping_mul(0x9E37_79B1)
        ^ (u32::from(local.port()) << 16 | u32::from(remote.port())).wrapping_mul(0x85EB_CA6B);
    ((h ^ (h >> 15)) % u32::from(workers)) as u16
}

impl Host {
    /// Is `ip` delivered in memory: one of our addresses, 127.0.0.0/8 or `::1`?
    pub fn is_local(&self, ip: impl Into<IpAddr>) -> bool {
        let ip = ip.into();
        is_loopback(ip)
            || match ip {
                IpAddr::V4(ip) => self.cfg.addrs.iter().any(|(a, _)| *a == ip),
                IpAddr::V6(ip) => self.cfg.addrs6.iter().any(|(a, _)| *a == ip),
            }
    }

    /// Segments for loopback inboxes, produced since the last call: the worker moves them
    /// (`std::mem::take` keeps the allocation with the caller).
    pub fn loopback_out(&mut self) -> &mut Vec<LoopSegment> {
        &mut self.loopback_out
    }

    /// A segment from a loopback inbox.
    pub fn on_loopback(&mut self, now: Instant, seg: LoopSegment, tx: &mut dyn Tx) {
        self.stats.loopback_in += 1;
        let Some(tuple) = Tuple::new(seg.dst, seg.src) else {
            return;
        };
        let d = self.segment_in(now, tuple, ([0; 6], None), &seg.repr, &seg.payload, tx);
        match d {
            Disposition::Forward(w) => {
                // The connection was filed by another worker after the sender looked.
                self.loopback_out.push(LoopSegment { to: w, ..seg });
                return;
            }
            Disposition::Reset => {
                if let Some(rst) = seg.repr.rst_reply(seg.payload.len()) {
                    let to = match self
                        .table
                        .get_tuple_as(self.worker as usize, &tuple.reversed())
                    {
                        Some(o) => o.worker,
                        None => flow_worker(seg.src, seg.dst, self.cfg.workers),
                    };
                    self.stats.resets_sent += 1;
                    self.stats.loopback_out += 1;
                    self.loopback_out.push(LoopSegment {
                        to,
                        src: seg.dst,
                        dst: seg.src,
                        repr: rst,
                        payload: Vec::new(),
                    });
                }
            }
            Disposition::Done | Disposition::Dropped => {}
        }
        if self.spare.len() < 4096 && seg.payload.capacity() > 0 {
            self.spare.push(seg.payload);
        }
    }

    // ---- ARP for connections we open ----
}

//! The loopback fast path: segments between the engine's own addresses (and 127.0.0.0/8)
//! go to the owning worker's inbox in memory, with no Ethernet, no IP header, no checksum.

use super::*;

/// A TCP segment on the loopback fast path: no Ethernet, no IP header, no checksum.
#[derive(Clone, Debug)]
pub struct LoopSegment {
    /// The worker whose inbox it goes to.
    pub to: u16,
    /// The sender's address and port.
    pub src: SocketAddrV4,
    /// The receiver's address and port.
    pub dst: SocketAddrV4,
    /// The TCP header.
    pub repr: TcpRepr,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Is `ip` one the engine delivers in memory (its own, or 127.0.0.0/8)?
pub(super) fn is_loopback(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
}

/// The worker that receives segments for a 4-tuple nobody holds yet (a SYN to a
/// listener): the same answer on every worker, and spread over them.
pub fn flow_worker(local: SocketAddrV4, remote: SocketAddrV4, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let h = (u32::from(*local.ip()) ^ u32::from(*remote.ip()).rotate_left(7))
        .wrapping_mul(0x9E37_79B1)
        ^ (u32::from(local.port()) << 16 | u32::from(remote.port())).wrapping_mul(0x85EB_CA6B);
    ((h ^ (h >> 15)) % u32::from(workers)) as u16
}

impl Host {
    /// Is `ip` delivered in memory: one of our addresses, or 127.0.0.0/8?
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        is_loopback(ip) || self.cfg.addrs.iter().any(|(a, _)| *a == ip)
    }

    /// Segments for loopback inboxes, produced since the last call: the worker moves them
    /// (`std::mem::take` keeps the allocation with the caller).
    pub fn loopback_out(&mut self) -> &mut Vec<LoopSegment> {
        &mut self.loopback_out
    }

    /// A segment from a loopback inbox.
    pub fn on_loopback(&mut self, now: Instant, seg: LoopSegment, tx: &mut dyn Tx) {
        self.stats.loopback_in += 1;
        let meta = Meta {
            src_mac: [0; 6],
            vlan: None,
            src: *seg.src.ip(),
            dst: *seg.dst.ip(),
        };
        match self.on_segment(now, &meta, &seg.repr, &seg.payload, tx) {
            Disposition::Forward(w) => {
                // The connection was filed by another worker after the sender looked.
                self.loopback_out.push(LoopSegment { to: w, ..seg });
                return;
            }
            Disposition::Reset => {
                if let Some(rst) = seg.repr.rst_reply(seg.payload.len()) {
                    let to = match self.table.get_as(
                        self.worker as usize,
                        &FourTuple {
                            local: seg.src,
                            remote: seg.dst,
                        },
                    ) {
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

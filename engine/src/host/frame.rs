//! Frame building: where frames go (`Tx`), and Ethernet, IPv4 and TCP headers written
//! with a segment's payload into one frame.

use super::*;

/// Builds a frame back to front in the room given; says where it ended up, if anywhere.
pub type BuildRange<'a> = dyn FnMut(&mut [u8]) -> Option<(usize, usize)> + 'a;

/// Where frames go: a transmit ring in a worker, a vector in tests.
pub trait Tx {
    /// Builds one frame with `build` (given the frame's room, returning its length) and
    /// queues it. Returns false when no frame was available (the segment is lost and TCP
    /// will send it again).
    fn send(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;

    /// Like `send`, for a frame built back to front: `build` gets the frame's room and
    /// returns where in it the frame ended up (`start..end`), or `None` when it had
    /// nothing to send. Returns `None` for nothing, `Some(false)` when the frame was lost
    /// (no room; TCP sends it again). A segment's payload is written once, straight into
    /// the frame. The default builds aside and copies.
    fn send_range(&mut self, build: &mut BuildRange<'_>) -> Option<bool> {
        let mut aside = vec![0u8; FRAME_ROOM];
        let (start, end) = build(&mut aside)?;
        Some(self.send(&mut |buf: &mut [u8]| {
            buf[..end - start].copy_from_slice(&aside[start..end]);
            end - start
        }))
    }
}

/// Room a frame builder may assume (an AF_XDP frame is 4096 bytes, less headroom).
pub const FRAME_ROOM: usize = 3840;

/// Where a segment's payload starts in a frame built back to front: room for Ethernet
/// with one VLAN tag, IPv4 without options, and the longest TCP header.
pub(super) const PAYLOAD_AT: usize =
    ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN + ipv4::MIN_HEADER_LEN + 60;

/// Writes Ethernet, IPv4 and TCP headers and the payload into one frame.
#[allow(clippy::too_many_arguments)]
pub(super) fn send_segment(
    tx: &mut dyn Tx,
    mac: MacAddr,
    peer_mac: MacAddr,
    vlan: Option<u16>,
    tuple: &FourTuple,
    ident: u16,
    r: &TcpRepr,
    payload: &[u8],
) -> bool {
    let link = Link {
        src: mac,
        dst: peer_mac,
        vlan,
    };
    let ip = Ip {
        src: *tuple.local.ip(),
        dst: *tuple.remote.ip(),
        ident,
    };
    tx.send(&mut |buf: &mut [u8]| {
        let tcp_at = link.header_len() + ipv4::MIN_HEADER_LEN;
        let hl = r.header_len();
        buf[tcp_at + hl..tcp_at + hl + payload.len()].copy_from_slice(payload);
        crate::frame::tcp_segment(buf, tcp_at, Some(&link), &ip, r, payload.len()).end
    })
}

//! Frame building: where frames go (`Tx`), and Ethernet, IP (v4 or v6) and TCP headers
//! written with a segment's payload into one frame.

use super::*;
use crate::frame::{Ip, Ip6, Link};

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
    ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN + crate::wire::ipv4::MIN_HEADER_LEN + 60;

/// [`PAYLOAD_AT`] for IPv6: its header is 40 bytes (no extension headers are sent).
pub(super) const PAYLOAD_AT6: usize =
    ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN + crate::wire::ipv6::HEADER_LEN + 60;

/// The IPv6 header of a connection's segments: our default hop limit (Linux's
/// `hop_limit` sysctl default, 64, as the IPv4 TTL).
fn ip6(t: &crate::tcp::FourTuple6) -> Ip6 {
    Ip6 {
        src: t.local,
        dst: t.remote,
        hop_limit: crate::frame::DEFAULT_TTL,
    }
}

/// Sends what connection `conn` (of `tuple`) has to send at `now` to the NIC behind
/// `link`, each payload written once straight into its frame, with its IPv4
/// identification counter or its IPv6 flow label (`ids`); returns the segments lost for
/// want of a frame.
pub(super) fn send_nic(
    tx: &mut dyn Tx,
    link: &Link,
    tuple: &Tuple,
    now: Instant,
    conn: &mut Conn,
    (ip_id, flow): (&mut u16, u32),
) -> u64 {
    let mut lost = 0;
    loop {
        // The payload goes straight from the send buffer into the frame; the headers are
        // written in front of it.
        let sent = match tuple {
            Tuple::V4(t) => tx.send_range(&mut |buf: &mut [u8]| {
                let (r, n) = conn.poll_transmit(now, &mut buf[PAYLOAD_AT..])?;
                let ip = Ip {
                    src: *t.local.ip(),
                    dst: *t.remote.ip(),
                    ident: super::ip_ident(&r, ip_id),
                };
                let tcp_at = PAYLOAD_AT - r.header_len();
                let f = crate::frame::tcp_segment(buf, tcp_at, Some(link), &ip, &r, n);
                Some((f.start, f.end))
            }),
            Tuple::V6(t) => tx.send_range(&mut |buf: &mut [u8]| {
                let (r, n) = conn.poll_transmit(now, &mut buf[PAYLOAD_AT6..])?;
                let tcp_at = PAYLOAD_AT6 - r.header_len();
                let f = crate::frame::tcp_segment6(buf, tcp_at, Some(link), &ip6(t), &r, n);
                let ip_at = tcp_at - crate::wire::ipv6::HEADER_LEN;
                crate::wire::ipv6::set_flow_label(&mut buf[ip_at..], flow);
                Some((f.start, f.end))
            }),
        };
        match sent {
            None => return lost,
            Some(true) => {}
            Some(false) => lost += 1,
        }
    }
}

/// Writes Ethernet, IP and TCP headers and the payload into one frame.
/// With `ids`, the IPv4 identification or the IPv6 flow label, as for `send_nic`.
#[allow(clippy::too_many_arguments)]
pub(super) fn send_segment(
    tx: &mut dyn Tx,
    mac: MacAddr,
    peer_mac: MacAddr,
    vlan: Option<u16>,
    tuple: &Tuple,
    (ident, flow): (u16, u32),
    r: &TcpRepr,
    payload: &[u8],
) -> bool {
    let link = Link {
        src: mac,
        dst: peer_mac,
        vlan,
    };
    tx.send(&mut |buf: &mut [u8]| {
        let ip_len = match tuple {
            Tuple::V4(_) => crate::wire::ipv4::MIN_HEADER_LEN,
            Tuple::V6(_) => crate::wire::ipv6::HEADER_LEN,
        };
        let tcp_at = link.header_len() + ip_len;
        let hl = r.header_len();
        buf[tcp_at + hl..tcp_at + hl + payload.len()].copy_from_slice(payload);
        let f = match tuple {
            Tuple::V4(t) => {
                let ip = Ip {
                    src: *t.local.ip(),
                    dst: *t.remote.ip(),
                    ident,
                };
                crate::frame::tcp_segment(buf, tcp_at, Some(&link), &ip, r, payload.len())
            }
            Tuple::V6(t) => {
                let f =
                    crate::frame::tcp_segment6(buf, tcp_at, Some(&link), &ip6(t), r, payload.len());
                crate::wire::ipv6::set_flow_label(&mut buf[tcp_at - ip_len..], flow);
                f
            }
        };
        f.end
    })
}

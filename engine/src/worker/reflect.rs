//! Bench-only reflect mode: every TCP/IPv4 frame straight back, the ceiling of the AF_XDP
//! path, and the frames that start the bouncing.

use crate::wire::ethernet::MacAddr;

/// Frames a reflecting worker sends at start: TCP from (our address, port 9) to the
/// other end's, which reflects them back.
#[derive(Clone, Debug)]
pub struct Inject {
    pub count: usize,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src: std::net::Ipv4Addr,
    pub dst: std::net::Ipv4Addr,
}

/// The port reflect mode uses at both ends (discard).
pub const REFLECT_PORT: u16 = 9;

/// Swaps a TCP/IPv4 frame's Ethernet addresses, IPv4 addresses and TCP ports in place.
/// The checksums stay valid (a swap does not change a ones'-complement sum). Returns false
/// for anything else (VLAN tags, options are fine; other protocols are not).
pub fn reflect_in_place(frame: &mut [u8]) -> bool {
    if frame.len() < 14 + 20 + 20 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
        return false;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if ihl < 20 || frame.len() < 14 + ihl + 20 {
        return false;
    }
    for i in 0..6 {
        frame.swap(i, 6 + i);
    }
    for i in 0..4 {
        frame.swap(26 + i, 30 + i);
    }
    let t = 14 + ihl;
    frame.swap(t, t + 2);
    frame.swap(t + 1, t + 3);
    true
}

impl Inject {
    /// One 54-byte frame to bounce (an ACK with no payload), numbered `i`.
    pub fn frame(&self, i: usize, buf: &mut [u8]) -> usize {
        use crate::frame::{self, Ip, Link};
        use crate::wire::{ethernet, ipv4, tcp};
        let repr = tcp::TcpRepr {
            src_port: REFLECT_PORT,
            dst_port: REFLECT_PORT,
            seq: crate::tcp::SeqNum(i as u32),
            ack: crate::tcp::SeqNum(0),
            flags: tcp::Flags::ACK,
            window: 0,
            urgent: 0,
            options: Default::default(),
            ecn: 0,
        };
        let link = Link {
            src: self.src_mac,
            dst: self.dst_mac,
            vlan: None,
        };
        let ip = Ip {
            src: self.src,
            dst: self.dst,
            ident: i as u16,
        };
        let tcp_at = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN;
        frame::tcp_segment(buf, tcp_at, Some(&link), &ip, &repr, 0).end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::TcpPacket;

    #[test]
    fn a_reflected_frame_keeps_valid_checksums() {
        let a = std::net::Ipv4Addr::new(10, 0, 0, 1);
        let b = std::net::Ipv4Addr::new(10, 0, 0, 2);
        let inj = Inject {
            count: 1,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: a,
            dst: b,
        };
        let mut f = vec![0u8; 128];
        let n = inj.frame(7, &mut f);
        f.truncate(n);
        assert!(TcpPacket::parse(&f[34..], a, b).is_ok());
        assert!(reflect_in_place(&mut f));
        assert_eq!(
            (&f[0..6], &f[6..12]),
            (&[2, 0, 0, 0, 0, 1][..], &[2, 0, 0, 0, 0, 2][..])
        );
        let ip = crate::wire::ipv4::Packet::new_checked(&f[14..]).expect("IPv4 checksum valid");
        assert_eq!((ip.src(), ip.dst()), (b, a));
        let seg = TcpPacket::parse(&f[34..], b, a).expect("TCP checksum valid");
        assert_eq!(seg.repr.seq.0, 7);
        // Not TCP/IPv4: left alone.
        let mut arp = vec![0u8; 60];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(!reflect_in_place(&mut arp));
    }
}

//! The answers of `Iface` that copy Linux's (nmap's IE and U1 probes): echo requests of
//! any code and TOS, port and protocol unreachable, their rate limit.

use super::*;
use crate::wire::ethernet::EtherType;

const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SHARED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const OUR_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 1];

fn iface() -> Iface {
    let mut i = Iface::new(
        OUR_MAC,
        vec![
            OurAddr {
                addr: US,
                prefix: 24,
                owned: true,
            },
            OurAddr {
                addr: SHARED,
                prefix: 24,
                owned: false,
            },
        ],
    );
    i.set_now(Instant::from_secs(100));
    i
}

/// An IPv4 packet from PEER to `dst` in an Ethernet frame: `tos`, DF, `protocol`, `l4`.
fn packet(dst: Ipv4Addr, tos: u8, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20];
    ethernet::emit(&mut f, OUR_MAC, PEER_MAC, None, EtherType::Ipv4);
    f.extend_from_slice(l4);
    let h = &mut f[14..34];
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[6] = 0x40;
    h[8] = 51;
    h[9] = protocol;
    h[12..16].copy_from_slice(&PEER.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f
}

fn echo(code: u8, data_len: usize) -> Vec<u8> {
    let mut m = vec![icmp::TYPE_ECHO_REQUEST, code, 0, 0, 0x12, 0x34, 0x01, 0x27];
    m.extend((0..data_len).map(|i| i as u8));
    let c = checksum::checksum(&m, 0);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn udp(dst: Ipv4Addr, payload_len: usize, good_checksum: bool) -> Vec<u8> {
    let len = 8 + payload_len;
    let mut u = vec![0xf4, 0x14, 0x98, 0xba];
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend((0..payload_len).map(|_| 0x43));
    let c = checksum::checksum(&u, checksum::pseudo_header(PEER, dst, 17, len as u16));
    let c = if good_checksum { c } else { c ^ 0x0101 };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

fn run(i: &mut Iface, frame: &[u8]) -> (Action, Vec<u8>) {
    let mut buf = vec![0u8; 2048];
    buf[..frame.len()].copy_from_slice(frame);
    let a = i.handle(&mut buf, frame.len());
    let out = match a {
        Action::Transmit(n) => buf[..n].to_vec(),
        _ => Vec::new(),
    };
    (a, out)
}

/// The reply's IPv4 header, checked: (TOS, DF, ID, protocol, total length).
fn ip_of(out: &[u8]) -> (u8, bool, u16, u8, usize) {
    assert_eq!((&out[0..6], &out[6..12]), (&PEER_MAC[..], &OUR_MAC[..]));
    let p = ipv4::Packet::new_checked(&out[14..]).expect("a valid IPv4 header");
    assert_eq!((p.src(), p.dst(), p.ttl()), (US, PEER, 64));
    assert_eq!(p.total_len(), out.len() - 14);
    (
        p.tos(),
        p.dont_frag(),
        p.ident(),
        p.protocol(),
        p.total_len(),
    )
}

/// nmap's IE probes: echo with code 9 (TOS 0, 120 bytes of data) and echo with TOS 4
/// (code 0, 150 bytes). Linux answers both, echoing the code and the TOS, without DF,
/// with IDs that count up per destination (II=I).
#[test]
fn any_echo_request_is_answered_as_linux_answers_it() {
    let mut i = iface();
    let mut ids = Vec::new();
    for (code, tos, len) in [(9u8, 0u8, 120usize), (0, 4, 150), (0, 0x10, 56)] {
        let req = echo(code, len);
        let (a, out) = run(&mut i, &packet(US, tos, 1, &req));
        assert!(matches!(a, Action::Transmit(_)), "code {code} tos {tos}");
        let (got_tos, df, id, proto, total) = ip_of(&out);
        assert_eq!((got_tos, df, proto, total), (tos, false, 1, 20 + 8 + len));
        ids.push(id);
        let msg = &out[34..];
        assert_eq!(checksum::sum(msg), 0xffff, "ICMP checksum");
        assert_eq!((msg[0], msg[1]), (icmp::TYPE_ECHO_REPLY, code));
        assert_eq!(&msg[4..], &req[4..], "identifier, sequence and data echoed");
    }
    assert_eq!(
        ids[1],
        ids[0].wrapping_add(1),
        "one up in the same millisecond"
    );
    assert_eq!(i.counters.icmp_echo_replies, 3);
}

/// nmap's U1 probe: 300 bytes of UDP to a closed port of an owned address. Linux answers
/// port unreachable quoting the whole datagram (IPL=164 hex), TOS 0xC0, no DF; a shared
/// address's UDP is the kernel's, and a bad checksum is dropped unanswered.
#[test]
fn udp_to_an_owned_address_gets_port_unreachable() {
    let mut i = iface();
    let probe = packet(US, 0, 17, &udp(US, 300, true));
    let (a, out) = run(&mut i, &probe);
    assert!(matches!(a, Action::Transmit(_)));
    let (tos, df, _, proto, total) = ip_of(&out);
    assert_eq!((tos, df, proto, total), (0xC0, false, 1, 356));
    let msg = &out[34..];
    assert_eq!(checksum::sum(msg), 0xffff, "ICMP checksum");
    assert_eq!(&msg[..2], &[3, 3], "destination unreachable, port");
    assert_eq!(&msg[4..8], &[0; 4], "unused field zero");
    assert_eq!(&msg[8..], &probe[14..], "the datagram quoted byte for byte");
    assert_eq!(i.counters.icmp_unreachable_sent, 1);

    // A long datagram is quoted up to 576 bytes in all.
    let (_, out) = run(&mut i, &packet(US, 0x2c, 17, &udp(US, 1000, true)));
    let (tos, _, _, _, total) = ip_of(&out);
    assert_eq!((tos, total), (0xC0 | 0x0c, 576));

    assert_eq!(
        run(&mut i, &packet(SHARED, 0, 17, &udp(SHARED, 10, true))).0,
        Action::Drop
    );
    assert_eq!(
        run(&mut i, &packet(US, 0, 17, &udp(US, 10, false))).0,
        Action::Drop
    );
    assert_eq!(i.malformed[WireError::BadChecksum.index()], 1);
    // A zero checksum means none (RFC 768).
    let mut none = udp(US, 10, true);
    none[6..8].copy_from_slice(&[0, 0]);
    assert!(matches!(
        run(&mut i, &packet(US, 0, 17, &none)).0,
        Action::Transmit(_)
    ));
    // A header that claims more than the packet holds.
    let mut long = udp(US, 10, true);
    long[4..6].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(run(&mut i, &packet(US, 0, 17, &long)).0, Action::Drop);
    assert_eq!(i.malformed[WireError::BadTotalLen.index()], 1);
}

/// A protocol the engine does not speak, to an owned address: protocol unreachable (Linux
/// with no raw socket for it); to a shared address: the kernel's business.
#[test]
fn another_protocol_gets_protocol_unreachable() {
    let mut i = iface();
    let probe = packet(US, 0, 47, &[0u8; 24]);
    let (a, out) = run(&mut i, &probe);
    assert!(matches!(a, Action::Transmit(_)));
    assert_eq!(&out[34..36], &[3, 2]);
    assert_eq!(&out[42..], &probe[14..]);
    assert_eq!(
        run(&mut i, &packet(SHARED, 0, 47, &[0u8; 24])).0,
        Action::Drop
    );
}

/// Linux's limits: six errors at once to one peer, then one a second; echo replies are
/// never limited.
#[test]
fn unreachables_are_rate_limited_per_peer_and_echo_is_not() {
    let mut i = iface();
    let t0 = Instant::from_secs(100);
    let probe = packet(US, 0, 17, &udp(US, 20, true));
    let sent = (0..20)
        .filter(|_| matches!(run(&mut i, &probe).0, Action::Transmit(_)))
        .count();
    assert_eq!((sent, i.counters.icmp_rate_limited), (6, 14));
    i.set_now(t0 + core::time::Duration::from_millis(1000));
    assert!(matches!(run(&mut i, &probe).0, Action::Transmit(_)));
    assert_eq!(run(&mut i, &probe).0, Action::Drop);
    let ping = packet(US, 0, 1, &echo(0, 56));
    for _ in 0..100 {
        assert!(matches!(run(&mut i, &ping).0, Action::Transmit(_)));
    }
}

/// Never an error about a datagram from a broadcast, multicast or unspecified source.
#[test]
fn no_error_about_a_source_that_is_not_one_host() {
    let mut i = iface();
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
    ] {
        let mut f = packet(US, 0, 47, &[0u8; 8]);
        f[26..30].copy_from_slice(&src.octets());
        f[24..26].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&f[14..34], 0);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        assert_eq!(run(&mut i, &f).0, Action::Drop, "{src}");
    }
    assert_eq!(i.counters.icmp_unreachable_sent, 0);
}

use super::*;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpOptions, TcpPacket, TcpRepr};

const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

/// A header from `A` to `B` with `ext` (already chained) and then `upper` bytes.
fn packet(first_nh: u8, ext: &[u8], upper: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    Ipv6Repr {
        src: A,
        dst: B,
        next_header: first_nh,
        hop_limit: 64,
        payload_len: ext.len() + upper.len(),
        ecn: 2,
    }
    .emit(&mut b);
    b.extend_from_slice(ext);
    b.extend_from_slice(upper);
    b
}

/// An extension header of `units` 8-byte units (options or routing data zero).
fn ext(next: u8, units: u8) -> Vec<u8> {
    let mut h = vec![0u8; (units as usize + 1) * 8];
    h[0] = next;
    h[1] = units;
    h
}

fn fragment(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let mut h = vec![next, 0, 0, 0, 0, 0, 0, 7];
    let v = (offset << 3) | u16::from(more);
    h[2..4].copy_from_slice(&v.to_be_bytes());
    h
}

#[test]
fn emit_parses_and_matches_etherparse() {
    let b = packet(NH_TCP, &[], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!((p.src(), p.dst(), p.hop_limit(), p.ecn()), (A, B, 64, 2));
    assert_eq!(
        (p.upper_protocol(), p.header_len(), p.upper().len()),
        (6, 40, 8)
    );
    let e = etherparse::Ipv6Header::from_slice(&b).unwrap().0;
    assert_eq!(e.source, A.octets());
    assert_eq!(e.destination, B.octets());
    assert_eq!((e.payload_length, e.hop_limit, e.traffic_class), (8, 64, 2));
    // Trailing Ethernet padding is not upper-layer data.
    let mut padded = b.clone();
    padded.extend_from_slice(&[0xaa; 10]);
    assert_eq!(Packet::new_checked(&padded[..]).unwrap().upper().len(), 8);
}

#[test]
fn every_malformation_has_its_reason() {
    let good = packet(NH_TCP, &[], &[0; 20]);
    for len in 0..HEADER_LEN {
        assert_eq!(
            Packet::new_checked(&good[..len]).err(),
            Some(WireError::Truncated),
            "{len}"
        );
    }
    let mut b = good.clone();
    b[0] = 0x45;
    assert_eq!(
        Packet::new_checked(&b[..]).err(),
        Some(WireError::BadVersion)
    );
    // Payload length past the buffer.
    assert_eq!(
        Packet::new_checked(&good[..good.len() - 1]).err(),
        Some(WireError::BadTotalLen)
    );
    // Payload length 0 with a hop-by-hop header: a jumbogram, refused.
    let b = packet(NH_HOP_BY_HOP, &[], &[]);
    assert_eq!(
        Packet::new_checked(&b[..]).err(),
        Some(WireError::BadTotalLen)
    );
    // No next header, no payload: fine, and empty.
    let b = packet(NH_NONE, &[], &[]);
    assert!(Packet::new_checked(&b[..]).unwrap().upper().is_empty());
}

#[test]
fn extension_headers_are_walked_to_the_upper_layer() {
    let mut chain = ext(NH_DEST_OPTS, 0); // hop-by-hop, 8 bytes
    chain.extend(ext(NH_ROUTING, 1)); // destination options, 16 bytes
    chain.extend(ext(NH_FRAGMENT, 0)); // routing, segments left 0
    chain.extend(fragment(NH_TCP, 0, false)); // atomic fragment (RFC 6946)
    let b = packet(NH_HOP_BY_HOP, &chain, &[9; 20]);
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.header_len(), 40 + 8 + 16 + 8 + 8);
    assert_eq!((p.upper_protocol(), p.upper()), (NH_TCP, &[9u8; 20][..]));
    assert_eq!(p.next_header(), NH_HOP_BY_HOP);
}

#[test]
fn extension_headers_a_host_must_not_process_are_refused() {
    // Hop-by-hop anywhere but first (RFC 8200 4.3).
    let mut chain = ext(NH_HOP_BY_HOP, 0);
    chain.extend(ext(NH_TCP, 0));
    let b = packet(NH_DEST_OPTS, &chain, &[0; 20]);
    assert_eq!(
        Packet::new_checked(&b[..]).err(),
        Some(WireError::ExtHeader)
    );
    // A routing header with segments left (RFC 8200 4.4).
    let mut r = ext(NH_TCP, 0);
    r[3] = 1;
    let b = packet(NH_ROUTING, &r, &[0; 20]);
    assert_eq!(
        Packet::new_checked(&b[..]).err(),
        Some(WireError::ExtHeader)
    );
    // Fragments that are not atomic: first (M set), middle, last.
    for (offset, more) in [(0, true), (10, true), (10, false)] {
        let b = packet(NH_FRAGMENT, &fragment(NH_TCP, offset, more), &[0; 20]);
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(WireError::Fragment));
    }
    // The walk's bound: 8 destination option headers pass, 9 do not.
    for (n, ok) in [(MAX_EXT_HEADERS, true), (MAX_EXT_HEADERS + 1, false)] {
        let mut chain = Vec::new();
        for i in 0..n {
            chain.extend(ext(if i + 1 == n { NH_TCP } else { NH_DEST_OPTS }, 0));
        }
        let b = packet(NH_DEST_OPTS, &chain, &[0; 20]);
        let r = Packet::new_checked(&b[..]).map(|p| p.upper_protocol());
        assert_eq!(r.is_ok(), ok, "{n} headers: {r:?}");
        if !ok {
            assert_eq!(r, Err(WireError::ExtHeader));
        }
    }
    // An extension header cut by the payload length, at every length.
    let chain = ext(NH_TCP, 2);
    let b = packet(NH_DEST_OPTS, &chain, &[]);
    for cut in 1..chain.len() {
        let mut c = b[..HEADER_LEN + cut].to_vec();
        c[4..6].copy_from_slice(&(cut as u16).to_be_bytes());
        assert_eq!(
            Packet::new_checked(&c[..]).err(),
            Some(WireError::Truncated),
            "{cut}"
        );
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_chains_agree_with_etherparse() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let n = (rng.next() % 5) as usize;
        let mut kinds: Vec<u8> = (0..n)
            .map(|i| match rng.next() % 3 {
                0 if i == 0 => NH_HOP_BY_HOP,
                1 => NH_ROUTING,
                _ => NH_DEST_OPTS,
            })
            .collect();
        kinds.push(NH_TCP);
        let mut chain = Vec::new();
        for w in kinds.windows(2) {
            chain.extend(ext(w[1], (rng.next() % 4) as u8));
        }
        let upper: Vec<u8> = (0..rng.next() % 64).map(|_| rng.next() as u8).collect();
        let b = packet(kinds[0], &chain, &upper);
        let ours = Packet::new_checked(&b[..]).unwrap();
        let theirs = etherparse::Ipv6Slice::from_slice(&b).unwrap();
        assert_eq!(ours.upper(), theirs.payload().payload);
        assert_eq!(ours.upper_protocol(), theirs.payload().ip_number.0);
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = Rng(7);
    let mut chain = ext(NH_DEST_OPTS, 1);
    chain.extend(ext(NH_TCP, 0));
    let good = packet(NH_HOP_BY_HOP, &chain, &[0; 40]);
    for round in 0..20_000 {
        let mut b = if round % 2 == 0 {
            good.clone()
        } else {
            (0..rng.next() % 160).map(|_| rng.next() as u8).collect()
        };
        for _ in 0..rng.next() % 4 {
            if !b.is_empty() {
                let at = rng.next() as usize % b.len();
                b[at] = rng.next() as u8;
            }
        }
        b.truncate(rng.next() as usize % 200);
        if let Ok(p) = Packet::new_checked(&b[..]) {
            assert!(p.header_len() + p.upper().len() <= b.len());
            let _ = (p.src(), p.dst(), p.flow_label(), p.traffic_class());
            let _ = TcpPacket::parse_v6(p.upper(), p.src(), p.dst());
        }
    }
}

#[test]
fn tcp_checksum_over_the_v6_pseudo_header() {
    let r = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum(1000),
        ack: SeqNum(77),
        flags: Flags::ACK | Flags::PSH,
        window: 500,
        options: TcpOptions {
            timestamps: Some((1, 2)),
            ..TcpOptions::default()
        },
        ..TcpRepr::default()
    };
    let data = b"GET / HTTP/1.1\r\n\r\n";
    let mut seg = vec![0u8; r.header_len() + data.len()];
    seg[r.header_len()..].copy_from_slice(data);
    let n = r.emit_v6(&mut seg, data.len(), A, B);
    let t = etherparse::TcpSlice::from_slice(&seg[..n]).unwrap();
    assert_eq!(
        t.calc_checksum_ipv6(A.octets(), B.octets()).unwrap(),
        t.checksum()
    );
    let p = TcpPacket::parse_v6(&seg, A, B).unwrap();
    assert_eq!((p.repr, p.payload), (r, &data[..]));
    // The same bytes do not verify for other addresses or as IPv4.
    assert_eq!(
        TcpPacket::parse_v6(&seg, B, B).err(),
        Some(WireError::BadChecksum)
    );
    // And a segment etherparse builds parses.
    let mut f = Vec::new();
    etherparse::PacketBuilder::ipv6(B.octets(), A.octets(), 64)
        .tcp(80, 40000, 5, 1000)
        .syn()
        .write(&mut f, &[])
        .unwrap();
    let p = Packet::new_checked(&f[..]).unwrap();
    let t = TcpPacket::parse_v6(p.upper(), p.src(), p.dst()).unwrap();
    assert!(t.repr.flags.syn());
}

#[test]
fn address_helpers() {
    assert_eq!(
        solicited_node(B),
        "ff02::1:ff00:10".parse::<Ipv6Addr>().unwrap()
    );
    let x: Ipv6Addr = "2001:db8::abcd:ef12".parse().unwrap();
    assert_eq!(
        solicited_node(x),
        "ff02::1:ffcd:ef12".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        multicast_mac(solicited_node(x)),
        [0x33, 0x33, 0xff, 0xcd, 0xef, 0x12]
    );
    assert!(is_link_local("fe80::1".parse().unwrap()));
    assert!(!is_link_local(B));
    assert!(same_prefix(A, B, 64));
    assert!(!same_prefix(A, B, 128));
    assert!(same_prefix(A, "2001:db9::".parse().unwrap(), 0));
}

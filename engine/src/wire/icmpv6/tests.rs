use super::*;
use crate::wire::ipv6::solicited_node;

const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 1];

fn info(src: Ipv6Addr, dst: Ipv6Addr) -> IpInfo {
    IpInfo {
        src,
        dst,
        hop_limit: NDP_HOP_LIMIT,
    }
}

/// An ICMPv6 message as etherparse builds it (the oracle), without the IPv6 header.
fn built(t: etherparse::Icmpv6Type, src: Ipv6Addr, dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(t)
        .write(&mut f, data)
        .unwrap();
    f[40..].to_vec()
}

fn etherparse_checksum_ok(m: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    let s = etherparse::Icmpv6Slice::from_slice(m).unwrap();
    s.icmp_type()
        .calc_checksum(src.octets(), dst.octets(), &m[8..])
        .unwrap()
        == s.checksum()
}

#[test]
fn echo_request_becomes_a_reply_with_a_valid_checksum() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let echo = etherparse::Icmpv6Type::EchoRequest(etherparse::IcmpEchoHeader { id: 7, seq: 3 });
    let mut m = built(echo, PEER, US, &data);
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(PEER, US)),
        Ok(Icmpv6Repr::EchoRequest { ident: 7, seq: 3 })
    );
    echo_request_to_reply(&mut m, US, PEER).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(US, PEER)),
        Ok(Icmpv6Repr::EchoReply { ident: 7, seq: 3 })
    );
    assert!(etherparse_checksum_ok(&m, US, PEER));
    assert_eq!(&m[8..], &data[..]);
    // A code that is not 0 is echoed, as Linux does.
    let mut m = built(echo, PEER, US, b"x");
    m[1] = 9;
    write_checksum(&mut m, PEER, US);
    assert!(matches!(
        Icmpv6Repr::parse(&m, &info(PEER, US)),
        Ok(Icmpv6Repr::EchoRequest { .. })
    ));
    echo_request_to_reply(&mut m, US, PEER).unwrap();
    assert_eq!((m[0], m[1]), (TYPE_ECHO_REPLY, 9));
}

#[test]
fn checksum_covers_the_pseudo_header_and_truncation_is_an_error() {
    let echo = etherparse::Icmpv6Type::EchoRequest(etherparse::IcmpEchoHeader { id: 1, seq: 1 });
    let m = built(echo, PEER, US, b"abc");
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(PEER, PEER)),
        Err(WireError::BadChecksum)
    );
    let mut bad = m.clone();
    bad[9] ^= 1;
    assert_eq!(
        Icmpv6Repr::parse(&bad, &info(PEER, US)),
        Err(WireError::BadChecksum)
    );
    for len in 0..HEADER_LEN {
        assert_eq!(
            Icmpv6Repr::parse(&m[..len], &info(PEER, US)),
            Err(WireError::Truncated)
        );
    }
}

#[test]
fn neighbor_messages_round_trip_and_verify_with_etherparse() {
    let sol = solicited_node(US);
    let cases = [
        (
            NdpRepr::NeighborSolicit {
                target: US,
                source_lladdr: Some(PEER_MAC),
            },
            PEER,
            sol,
        ),
        (
            NdpRepr::NeighborSolicit {
                target: US,
                source_lladdr: None,
            },
            Ipv6Addr::UNSPECIFIED,
            sol,
        ),
        (
            NdpRepr::NeighborAdvert {
                router: false,
                solicited: true,
                override_: true,
                target: US,
                target_lladdr: Some(PEER_MAC),
            },
            US,
            PEER,
        ),
        (
            NdpRepr::NeighborAdvert {
                router: true,
                solicited: false,
                override_: false,
                target: US,
                target_lladdr: None,
            },
            US,
            "ff02::1".parse().unwrap(),
        ),
    ];
    for (repr, src, dst) in cases {
        let mut m = [0u8; 64];
        let n = repr.emit(&mut m, src, dst);
        assert_eq!(n, repr.buffer_len());
        assert!(etherparse_checksum_ok(&m[..n], src, dst), "{repr:?}");
        assert_eq!(
            Icmpv6Repr::parse(&m[..n], &info(src, dst)),
            Ok(Icmpv6Repr::Ndp(repr))
        );
    }
}

#[test]
fn neighbor_messages_failing_rfc4861_7_1_are_refused() {
    let sol = solicited_node(US);
    let ns = |src, dst, lladdr| {
        let mut m = vec![0u8; 32];
        let n = NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: lladdr,
        }
        .emit(&mut m, src, dst);
        m.truncate(n);
        m
    };
    let ok = ns(PEER, sol, Some(PEER_MAC));
    // Hop limit below 255: it was forwarded.
    let forwarded = IpInfo {
        hop_limit: 254,
        ..info(PEER, sol)
    };
    assert_eq!(Icmpv6Repr::parse(&ok, &forwarded), Err(WireError::BadNdp));
    // Code not 0.
    let mut m = ok.clone();
    m[1] = 1;
    write_checksum(&mut m, PEER, sol);
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(PEER, sol)),
        Err(WireError::BadNdp)
    );
    // Multicast target.
    let mut m = ok.clone();
    m[8..24].copy_from_slice(&sol.octets());
    write_checksum(&mut m, PEER, sol);
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(PEER, sol)),
        Err(WireError::BadNdp)
    );
    // An option of length 0.
    let mut m = ok.clone();
    m[25] = 0;
    write_checksum(&mut m, PEER, sol);
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(PEER, sol)),
        Err(WireError::BadNdp)
    );
    // An option longer than the message.
    let mut m = ok.clone();
    m[25] = 2;
    write_checksum(&mut m, PEER, sol);
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(PEER, sol)),
        Err(WireError::BadNdp)
    );
    // Shorter than 24 bytes.
    let mut m = ok[..20].to_vec();
    write_checksum(&mut m, PEER, sol);
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(PEER, sol)),
        Err(WireError::Truncated)
    );
    // From :: (duplicate address detection): not to the solicited-node address, or with a
    // source link-layer address option.
    let un = Ipv6Addr::UNSPECIFIED;
    let m = ns(un, PEER, None);
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(un, PEER)),
        Err(WireError::BadNdp)
    );
    let m = ns(un, sol, Some(PEER_MAC));
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(un, sol)),
        Err(WireError::BadNdp)
    );
    // A solicited advertisement to a multicast address.
    let mut m = vec![0u8; 32];
    let all: Ipv6Addr = "ff02::1".parse().unwrap();
    let n = NdpRepr::NeighborAdvert {
        router: false,
        solicited: true,
        override_: true,
        target: US,
        target_lladdr: Some(PEER_MAC),
    }
    .emit(&mut m, US, all);
    assert_eq!(
        Icmpv6Repr::parse(&m[..n], &info(US, all)),
        Err(WireError::BadNdp)
    );
    // Unknown options are skipped.
    let mut m = ok.clone();
    m.extend_from_slice(&[14, 1, 0, 0, 0, 0, 0, 0]); // a nonce option (RFC 3971)
    write_checksum(&mut m, PEER, sol);
    assert!(matches!(
        Icmpv6Repr::parse(&m, &info(PEER, sol)),
        Ok(Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            source_lladdr: Some(PEER_MAC),
            ..
        }))
    ));
}

#[test]
fn packet_too_big_names_the_tcp_segment() {
    // The start of a segment we sent, as a router quotes it (RFC 4443 3.2).
    let mut q = Vec::new();
    etherparse::PacketBuilder::ipv6(US.octets(), PEER.octets(), 64)
        .tcp(80, 40000, 0x1234_5678, 1000)
        .write(&mut q, &[0u8; 1400])
        .unwrap();
    let router: Ipv6Addr = "2001:db8::fe".parse().unwrap();
    let m = built(
        etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 },
        router,
        US,
        &q[..1232],
    );
    assert_eq!(
        Icmpv6Repr::parse(&m, &info(router, US)),
        Ok(Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            orig_src: US,
            orig_dst: PEER,
            orig_protocol: 6,
            orig_src_port: 80,
            orig_dst_port: 40000,
            orig_seq: 0x1234_5678,
        })
    );
    // Quoting less than the TCP ports and sequence number.
    for cut in [39, 40 + 7] {
        let m = built(
            etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 },
            router,
            US,
            &q[..cut],
        );
        assert_eq!(
            Icmpv6Repr::parse(&m, &info(router, US)),
            Err(WireError::Truncated)
        );
    }
}

#[test]
fn random_messages_never_panic() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let sol = solicited_node(US);
    for _ in 0..20_000 {
        let len = (next() % 80) as usize;
        let mut m: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len > 0 {
            m[0] = [128, 129, 2, 135, 136][(next() % 5) as usize];
        }
        if len >= 4 {
            write_checksum(&mut m, PEER, sol);
        }
        let _ = Icmpv6Repr::parse(&m, &info(PEER, sol));
    }
}

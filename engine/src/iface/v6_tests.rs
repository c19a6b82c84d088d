//! IPv6 below TCP: neighbour discovery answers, duplicate address detection's receive
//! side, ICMPv6 echo. Frames are built and checked with etherparse where it knows them.

use super::v6::ALL_NODES;
use super::*;
use crate::wire::icmpv6::{self, Icmpv6Repr, IpInfo, NdpRepr};
use crate::wire::ipv6::{self, solicited_node};
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const SHARED: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const OUR_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 1];

fn iface(tentative: bool) -> Iface {
    let mut i = Iface::new(OUR_MAC, Vec::new());
    i.add_ipv6(
        OurAddr6 {
            addr: US,
            prefix: 64,
            owned: true,
        },
        tentative,
    );
    i.add_ipv6(
        OurAddr6 {
            addr: SHARED,
            prefix: 64,
            owned: false,
        },
        false,
    );
    i
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

/// A neighbour discovery frame from the peer.
fn ndp_frame(src: Ipv6Addr, dst: Ipv6Addr, m: &NdpRepr) -> Vec<u8> {
    let mut f = vec![0u8; 128];
    let ip = crate::frame::Ip6 {
        src,
        dst,
        hop_limit: 255,
    };
    let to = dst.is_multicast().then(|| ipv6::multicast_mac(dst));
    let n = crate::frame::ndp(&mut f, PEER_MAC, to.or(Some(OUR_MAC)), &ip, m);
    f.truncate(n);
    f
}

fn solicit(src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let lladdr = (!src.is_unspecified()).then_some(PEER_MAC);
    ndp_frame(
        src,
        solicited_node(target),
        &NdpRepr::NeighborSolicit {
            target,
            source_lladdr: lladdr,
        },
    )
}

/// The neighbour discovery message in a frame we sent, with its IPv6 addressing.
fn parse_ndp(out: &[u8]) -> (IpInfo, NdpRepr) {
    let p = ipv6::Packet::new_checked(&out[14..]).unwrap();
    let ip = IpInfo {
        src: p.src(),
        dst: p.dst(),
        hop_limit: p.hop_limit(),
    };
    match Icmpv6Repr::parse(p.upper(), &ip).unwrap() {
        Icmpv6Repr::Ndp(n) => (ip, n),
        other => panic!("not ndp: {other:?}"),
    }
}

#[test]
fn answers_solicitation_for_owned_address_with_our_mac() {
    let mut i = iface(false);
    let (a, out) = run(&mut i, &solicit(PEER, US));
    assert!(matches!(a, Action::Transmit(86)), "{a:?}");
    assert_eq!((&out[0..6], &out[6..12]), (&PEER_MAC[..], &OUR_MAC[..]));
    let (ip, na) = parse_ndp(&out);
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (US, PEER, 255));
    assert_eq!(
        na,
        NdpRepr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: US,
            target_lladdr: Some(OUR_MAC),
        }
    );
    // Shared (the kernel answers) and foreign targets: nothing.
    assert_eq!(run(&mut i, &solicit(PEER, SHARED)).0, Action::Drop);
    let other: Ipv6Addr = "2001:db8::99".parse().unwrap();
    assert_eq!(run(&mut i, &solicit(PEER, other)).0, Action::Drop);
    // (Both went to solicited-node groups that are not ours.)
    assert_eq!((i.counters.ndp_replies, i.counters.drop_not_ours), (1, 2));
    // A solicitation for a shared address sent to our address is not answered either.
    let mut f = solicit(PEER, SHARED);
    f[14 + 24..14 + 40].copy_from_slice(&US.octets());
    let n = f.len();
    icmpv6::write_checksum(&mut f[14 + 40..n], PEER, US);
    assert_eq!(run(&mut i, &f).0, Action::Drop);
    assert_eq!(i.counters.ndp_ignored, 1);
}

#[test]
fn solicitation_from_unspecified_is_answered_to_all_nodes() {
    // RFC 4861 7.2.4: another node's duplicate address detection for our address.
    let mut i = iface(false);
    let (a, out) = run(&mut i, &solicit(Ipv6Addr::UNSPECIFIED, US));
    assert!(matches!(a, Action::Transmit(_)));
    assert_eq!(&out[0..6], &ipv6::multicast_mac(ALL_NODES));
    let (ip, na) = parse_ndp(&out);
    assert_eq!((ip.src, ip.dst), (US, ALL_NODES));
    assert!(matches!(
        na,
        NdpRepr::NeighborAdvert {
            solicited: false,
            override_: true,
            ..
        }
    ));
}

#[test]
fn tentative_address_answers_nothing_and_reports_duplicates() {
    let mut i = iface(true);
    // RFC 4862 5.4.3: a solicitation from a unicast source is discarded...
    assert_eq!(run(&mut i, &solicit(PEER, US)).0, Action::Drop);
    // ...one from :: is another node's detection for the same address: a duplicate.
    assert_eq!(
        run(&mut i, &solicit(Ipv6Addr::UNSPECIFIED, US)).0,
        Action::DadConflict(US)
    );
    // RFC 4862 5.4.4: an advertisement for it (the owner defending it, from it).
    let na = NdpRepr::NeighborAdvert {
        router: false,
        solicited: false,
        override_: true,
        target: US,
        target_lladdr: Some(PEER_MAC),
    };
    assert_eq!(
        run(&mut i, &ndp_frame(US, ALL_NODES, &na)).0,
        Action::DadConflict(US)
    );
    // Echo to a tentative address is not answered.
    assert_eq!(run(&mut i, &ping(US, b"x")).0, Action::Drop);
    assert_eq!(i.counters.dad_conflicts, 2);
    // Once confirmed, it answers.
    i.confirm_ipv6(US);
    assert!(matches!(
        run(&mut i, &solicit(PEER, US)).0,
        Action::Transmit(_)
    ));
    // And after removal (a duplicate), it is not ours.
    i.remove_ipv6(US);
    assert_eq!(run(&mut i, &solicit(PEER, US)).0, Action::Drop);
}

#[test]
fn advertisements_for_others_go_to_the_neighbor_cache() {
    let mut i = iface(false);
    let na = |target_lladdr| NdpRepr::NeighborAdvert {
        router: false,
        solicited: true,
        override_: true,
        target: PEER,
        target_lladdr,
    };
    assert_eq!(
        run(&mut i, &ndp_frame(PEER, US, &na(Some(PEER_MAC)))).0,
        Action::Neighbor6 {
            ip: PEER,
            mac: PEER_MAC
        }
    );
    assert_eq!(run(&mut i, &ndp_frame(PEER, US, &na(None))).0, Action::Drop);
    // Someone claiming our confirmed address is not believed.
    let claim = NdpRepr::NeighborAdvert {
        router: false,
        solicited: false,
        override_: true,
        target: US,
        target_lladdr: Some(PEER_MAC),
    };
    // (From our own usable address: a martian.)
    assert_eq!(
        run(&mut i, &ndp_frame(PEER, ALL_NODES, &claim)).0,
        Action::Drop
    );
    assert_eq!((i.counters.ndp_learned, i.counters.ndp_ignored), (1, 2));
}

fn ping(dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
        .ipv6(PEER.octets(), dst.octets(), 64)
        .icmpv6_echo_request(7, 3)
        .write(&mut out, data)
        .unwrap();
    out
}

#[test]
fn answers_ping6_with_valid_checksums() {
    let mut i = iface(false);
    let data: Vec<u8> = (0..56u8).collect();
    let (a, out) = run(&mut i, &ping(US, &data));
    assert!(matches!(a, Action::Transmit(_)), "{a:?}");
    assert_eq!((&out[0..6], &out[6..12]), (&PEER_MAC[..], &OUR_MAC[..]));
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not ipv6")
    };
    assert_eq!(ip.header().source_addr(), US);
    assert_eq!(ip.header().destination_addr(), PEER);
    let Some(TransportSlice::Icmpv6(icmp)) = p.transport else {
        panic!("no icmpv6")
    };
    assert_eq!(
        icmp.icmp_type(),
        etherparse::Icmpv6Type::EchoReply(etherparse::IcmpEchoHeader { id: 7, seq: 3 })
    );
    assert_eq!(icmp.payload(), &data[..]);
    assert_eq!(
        icmp.checksum(),
        icmp.icmp_type()
            .calc_checksum(US.octets(), PEER.octets(), icmp.payload())
            .unwrap()
    );
    assert_eq!(i.counters.icmp6_echo_replies, 1);
    // The kernel answers for a shared address; multicast echo is not answered.
    assert_eq!(run(&mut i, &ping(SHARED, b"x")).0, Action::Drop);
    assert_eq!(run(&mut i, &ping(ALL_NODES, b"x")).0, Action::Drop);
}

#[test]
fn ping6_through_extension_headers_is_answered_without_them() {
    let mut i = iface(false);
    let mut f = ping(US, b"hello");
    // Insert an 8-byte destination options header between IPv6 and ICMPv6.
    let nh = f[14 + 6];
    f[14 + 6] = ipv6::NH_DEST_OPTS;
    let plen = u16::from_be_bytes([f[18], f[19]]) + 8;
    f[18..20].copy_from_slice(&plen.to_be_bytes());
    f.splice(54..54, [nh, 0, 1, 4, 0, 0, 0, 0]);
    let (a, out) = run(&mut i, &f);
    assert!(matches!(a, Action::Transmit(_)), "{a:?}");
    let p = ipv6::Packet::new_checked(&out[14..]).unwrap();
    assert_eq!((p.header_len(), p.upper_protocol()), (40, ipv6::NH_ICMPV6));
    let ip = IpInfo {
        src: p.src(),
        dst: p.dst(),
        hop_limit: p.hop_limit(),
    };
    assert_eq!(
        Icmpv6Repr::parse(p.upper(), &ip),
        Ok(Icmpv6Repr::EchoReply { ident: 7, seq: 3 })
    );
}

#[test]
fn spoofed_sources_and_malformed_packets_are_counted() {
    let mut i = iface(false);
    // From our own address, from ::1.
    for src in [US, Ipv6Addr::LOCALHOST] {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
            .ipv6(src.octets(), US.octets(), 64)
            .icmpv6_echo_request(1, 1)
            .write(&mut f, b"x")
            .unwrap();
        assert_eq!(run(&mut i, &f).0, Action::Drop);
    }
    assert_eq!(i.counters.drop_martian, 2);
    // A solicitation forwarded by a router (hop limit below 255).
    let mut f = solicit(PEER, US);
    f[14 + 7] = 254;
    assert_eq!(run(&mut i, &f).0, Action::Drop);
    assert_eq!(i.malformed[WireError::BadNdp.index()], 1);
    // Every prefix of a ping.
    let p = ping(US, b"abc");
    for len in 0..p.len() {
        assert_eq!(run(&mut i, &p[..len]).0, Action::Drop, "{len}");
    }
    assert_eq!(i.counters.icmp6_echo_replies, 0);
    // Not answered: the checksum of an echo from another source.
    let mut f = ping(US, b"abc");
    f[22] ^= 1;
    assert_eq!(run(&mut i, &f).0, Action::Drop);
    assert!(i.malformed[WireError::BadChecksum.index()] >= 1);
    let _ = icmpv6::HEADER_LEN;
}

#[test]
fn a_unicast_solicitation_is_answered_as_linux_does_without_override_or_option() {
    // nmap's NS probe, and neighbour unreachability detection: sent to our address.
    let mut i = iface(false);
    let f = ndp_frame(
        PEER,
        US,
        &NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: Some(PEER_MAC),
        },
    );
    let (a, out) = run(&mut i, &f);
    assert!(matches!(a, Action::Transmit(_)), "{a:?}");
    let (ip, na) = parse_ndp(&out);
    assert_eq!((ip.src, ip.dst), (US, PEER));
    assert_eq!(
        na,
        NdpRepr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: false,
            target: US,
            target_lladdr: None,
        },
        "Linux's ndisc_recv_ns: override and the option only for a multicast solicitation"
    );
}

fn udp(dst: Ipv6Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
        .ipv6(PEER.octets(), dst.octets(), 64)
        .udp(40000, port)
        .write(&mut f, payload)
        .unwrap();
    f
}

#[test]
fn udp_to_an_owned_address_gets_port_unreachable_quoting_the_datagram() {
    let mut i = iface(false);
    let f = udp(US, 33434, b"nmap U1 probe");
    let (a, out) = run(&mut i, &f);
    assert!(matches!(a, Action::Transmit(_)), "{a:?}");
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("IPv6")
    };
    let h = ip.header();
    assert_eq!((h.source_addr(), h.destination_addr()), (US, PEER));
    assert_eq!(h.hop_limit(), 64);
    assert_ne!(
        h.flow_label().value(),
        0,
        "an automatic flow label, as Linux's"
    );
    let Some(TransportSlice::Icmpv6(m)) = &p.transport else {
        panic!("ICMPv6")
    };
    assert_eq!(
        m.icmp_type(),
        etherparse::Icmpv6Type::DestinationUnreachable(
            etherparse::icmpv6::DestUnreachableCode::Port
        )
    );
    let sum = m
        .icmp_type()
        .calc_checksum(h.source(), h.destination(), m.payload());
    assert_eq!(sum.unwrap(), m.checksum(), "ICMPv6 checksum");
    assert_eq!(
        m.payload(),
        &f[14..],
        "the whole datagram quoted (it fits in 1280)"
    );
    assert_eq!(i.counters.icmp_unreachable_sent, 1);
    // A bad or zero checksum: dropped silently (RFC 8200 8.1; Linux).
    let mut bad = udp(US, 33434, b"x");
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    assert_eq!(run(&mut i, &bad).0, Action::Drop);
    let mut zero = udp(US, 33434, b"x");
    zero[14 + 40 + 6..14 + 40 + 8].copy_from_slice(&[0, 0]);
    assert_eq!(run(&mut i, &zero).0, Action::Drop);
    // A shared address's UDP is the kernel's business.
    assert_eq!(run(&mut i, &udp(SHARED, 53, b"x")).0, Action::Drop);
    assert_eq!(i.counters.icmp_unreachable_sent, 1);
}

#[test]
fn echo_replies_carry_an_automatic_flow_label() {
    let mut i = iface(false);
    let (_, out) = run(&mut i, &ping(US, b"abc"));
    let label = u32::from_be_bytes([0, out[15] & 0x0f, out[16], out[17]]);
    assert_ne!(label, 0);
    let (_, again) = run(&mut i, &ping(US, b"abcdef"));
    assert_eq!(again[15..18], out[15..18], "one flow, one label");
}

#[test]
fn a_hop_by_hop_header_not_first_gets_a_parameter_problem_as_from_linux() {
    // nmap's IE2: hop-by-hop, destination options, routing (type 0, nothing left), then
    // hop-by-hop again before an echo request. Linux: parameter problem, code 1, pointer
    // 56 (the routing header's next header field, which named the second hop-by-hop).
    let echo = [128u8, 0, 0, 0, 0xab, 0xcd, 0, 1];
    let mut l4 = Vec::new();
    l4.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> destination options
    l4.extend_from_slice(&[43, 0, 1, 4, 0, 0, 0, 0]); // destination options -> routing
    l4.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // routing -> hop-by-hop
    l4.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> ICMPv6
    l4.extend_from_slice(&echo);
    let mut f = Vec::new();
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0x01, 0x23, 0x45]);
    f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 45]);
    f.extend_from_slice(&PEER.octets());
    f.extend_from_slice(&US.octets());
    f.extend_from_slice(&l4);
    let mut i = iface(false);
    let (a, out) = run(&mut i, &f);
    assert!(matches!(a, Action::Transmit(_)), "{a:?}");
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let Some(TransportSlice::Icmpv6(m)) = &p.transport else {
        panic!("ICMPv6: {p:?}")
    };
    assert_eq!(
        m.icmp_type(),
        etherparse::Icmpv6Type::ParameterProblem(etherparse::icmpv6::ParameterProblemHeader {
            code: etherparse::icmpv6::ParameterProblemCode::UnrecognizedNextHeader,
            pointer: 56,
        })
    );
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("IPv6")
    };
    let h = ip.header();
    let sum = m
        .icmp_type()
        .calc_checksum(h.source(), h.destination(), m.payload());
    assert_eq!(sum.unwrap(), m.checksum());
    assert_eq!(m.payload(), &f[14..], "the packet quoted");
    assert_eq!(i.counters.icmp6_param_problems, 1);
    assert_eq!(i.malformed[crate::wire::WireError::ExtHeader.index()], 1);
    // To a shared address: the kernel's business, nothing sent.
    let mut g = f.clone();
    g[38..54].copy_from_slice(&SHARED.octets());
    assert_eq!(run(&mut i, &g).0, Action::Drop);
}

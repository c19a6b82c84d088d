use super::*;
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SHARED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const OUR_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 1];

fn iface() -> Iface {
    Iface::new(
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
    )
}

fn run(i: &mut Iface, frame: &[u8]) -> (Action, Vec<u8>) {
    let mut buf = vec![0u8; 2048];
    buf[..frame.len()].copy_from_slice(frame);
    let mut a = i.handle(&mut buf, frame.len());
    if let Action::Tcp(t) = a {
        // No host in these tests: every segment is one nothing takes.
        a = i.reset(&mut buf, &t);
    }
    let out = match a {
        Action::Transmit(n) => buf[..n].to_vec(),
        _ => Vec::new(),
    };
    (a, out)
}

fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    ethernet::emit(&mut f, ethernet::BROADCAST, PEER_MAC, None, EtherType::Arp);
    ArpRepr {
        op: Op::Request,
        sender_mac: PEER_MAC,
        sender_ip: PEER,
        target_mac: [0; 6],
        target_ip: target,
    }
    .emit(&mut f[14..]);
    f
}

#[test]
fn answers_arp_for_owned_addresses_only() {
    let mut i = iface();
    let (a, out) = run(&mut i, &arp_request(US));
    assert_eq!(a, Action::Transmit(42));
    assert_eq!(&out[0..6], &PEER_MAC);
    assert_eq!(&out[6..12], &OUR_MAC);
    let r = ArpRepr::parse(&out[14..]).unwrap();
    assert_eq!(
        (r.op, r.sender_mac, r.sender_ip, r.target_mac, r.target_ip),
        (Op::Reply, OUR_MAC, US, PEER_MAC, PEER)
    );
    assert_eq!(run(&mut i, &arp_request(SHARED)).0, Action::Drop);
    assert_eq!(run(&mut i, &arp_request(PEER)).0, Action::Drop);
    assert_eq!((i.counters.arp_replies, i.counters.arp_ignored), (1, 2));
}

fn ping(dst: Ipv4Addr, vlan: bool, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let b = PacketBuilder::ethernet2(PEER_MAC, OUR_MAC);
    if vlan {
        b.single_vlan(5.try_into().unwrap())
            .ipv4(PEER.octets(), dst.octets(), 64)
            .icmpv4_echo_request(7, 3)
            .write(&mut out, data)
            .unwrap();
    } else {
        b.ipv4(PEER.octets(), dst.octets(), 64)
            .icmpv4_echo_request(7, 3)
            .write(&mut out, data)
            .unwrap();
    }
    out
}

#[test]
fn fragmentation_needed_for_our_tcp_names_the_connection() {
    // The start of a TCP segment we sent, as a router quotes it back (RFC 792, 1191).
    let mut quoted = Vec::new();
    PacketBuilder::ipv4(US.octets(), PEER.octets(), 64)
        .tcp(80, 40000, 0x1234_5678, 1000)
        .write(&mut quoted, &[0u8; 100])
        .unwrap();
    for (mtu, from_us) in [(1400u16, true), (1400, false)] {
        let mut q = quoted.clone();
        if !from_us {
            q[12..16].copy_from_slice(&PEER.octets()); // not a segment we sent
        }
        let mut out = Vec::new();
        let icmp = etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
        );
        PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
            .ipv4([10, 0, 0, 254], US.octets(), 64)
            .icmpv4(icmp)
            .write(&mut out, &q[..28])
            .unwrap();
        let (a, _) = run(&mut iface(), &out);
        if from_us {
            assert_eq!(
                a,
                Action::PathMtu {
                    tuple: crate::tcp::FourTuple {
                        local: std::net::SocketAddrV4::new(US, 80),
                        remote: std::net::SocketAddrV4::new(PEER, 40000),
                    },
                    seq: crate::tcp::SeqNum(0x1234_5678),
                    mtu,
                }
            );
        } else {
            assert_eq!(a, Action::Drop);
        }
    }
}

#[test]
fn answers_ping_with_valid_checksums_also_tagged() {
    for vlan in [false, true] {
        let mut i = iface();
        let data: Vec<u8> = (0..56u8).collect();
        let (a, out) = run(&mut i, &ping(US, vlan, &data));
        assert!(matches!(a, Action::Transmit(_)));
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let ip = match p.net.unwrap() {
            etherparse::NetSlice::Ipv4(ip) => ip,
            _ => panic!("not ipv4"),
        };
        assert_eq!(ip.header().source_addr(), US);
        assert_eq!(ip.header().destination_addr(), PEER);
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
            panic!("no icmp")
        };
        assert_eq!(
            icmp.icmp_type(),
            etherparse::Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id: 7, seq: 3 })
        );
        assert_eq!(icmp.payload(), &data[..]);
        assert_eq!(
            icmp.checksum(),
            icmp.icmp_type().calc_checksum(icmp.payload())
        );
        assert_eq!(i.counters.icmp_echo_replies, 1);
    }
    // The kernel answers ping for a shared address.
    let mut i = iface();
    assert_eq!(run(&mut i, &ping(SHARED, false, b"x")).0, Action::Drop);
}

#[test]
fn resets_tcp_with_no_listener_per_rfc9293() {
    let mut i = iface();
    let mut syn = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
        .ipv4(PEER.octets(), US.octets(), 64)
        .tcp(40000, 22, 1000, 64240)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    let (a, out) = run(&mut i, &syn);
    assert_eq!(a, Action::Transmit(54));
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("no tcp")
    };
    assert!(t.rst() && t.ack() && !t.syn());
    assert_eq!(
        (
            t.source_port(),
            t.destination_port(),
            t.sequence_number(),
            t.acknowledgment_number()
        ),
        (22, 40000, 0, 1001)
    );
    let etherparse::NetSlice::Ipv4(ip) = p.net.unwrap() else {
        panic!()
    };
    assert_eq!(
        t.calc_checksum_ipv4(ip.header().source(), ip.header().destination())
            .unwrap(),
        t.checksum()
    );
}

#[test]
fn malformed_frames_are_counted_by_reason() {
    let mut i = iface();
    let mut p = ping(US, false, b"abc");
    p[14 + 8] = 1; // TTL changed: IPv4 header checksum now wrong
    assert_eq!(run(&mut i, &p).0, Action::Drop);
    assert_eq!(i.malformed[WireError::BadChecksum.index()], 1);
    let p = ping(US, false, b"abc");
    for len in 0..p.len() {
        let (a, _) = run(&mut i, &p[..len]);
        assert_eq!(a, Action::Drop, "prefix of {len} bytes");
    }
    assert!(i.counters.drop_malformed >= 40);
}

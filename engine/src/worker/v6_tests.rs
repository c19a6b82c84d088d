//! IPv6 in the loop, over in-memory links in virtual time: duplicate address detection
//! before an owned address is used (RFC 4862 5.4), then neighbour solicitations and echo
//! answered; a duplicate, seen by any worker, keeps the address unused on all of them.

use std::net::Ipv6Addr;
use std::time::Duration;

use crate::io::memory::{link, LinkConfig, MemDevice};
use crate::testing::*;
use crate::wire::ethernet::MacAddr;
use crate::wire::icmpv6::{self, Icmpv6Repr, IpInfo, NdpRepr};
use crate::wire::ipv6::{self, solicited_node};

const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

fn engine(queues: usize) -> (Sim, Vec<MemDevice>) {
    let mut spec = EngineSpec::server(SERVER, SERVER_MAC);
    spec.addrs6 = vec![(US, 64)];
    let (devs, fars): (Vec<_>, Vec<_>) = (0..queues).map(|_| link(LinkConfig::default())).unzip();
    let mut sim = Sim::new();
    sim.add_engine(spec, devs, vec![]);
    (sim, fars)
}

fn ndp_frame(src: Ipv6Addr, dst: Ipv6Addr, m: &NdpRepr) -> Vec<u8> {
    let mut f = vec![0u8; 128];
    let ip = crate::frame::Ip6 {
        src,
        dst,
        hop_limit: 255,
    };
    let n = crate::frame::ndp(&mut f, CLIENT_MAC, None, &ip, m);
    f.truncate(n);
    f
}

fn ping(seq: u16) -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv6(PEER.octets(), US.octets(), 64)
        .icmpv6_echo_request(9, seq)
        .write(&mut f, b"ping6 data")
        .unwrap();
    f
}

/// The ICMPv6 message of an IPv6 frame, with its addressing and Ethernet destination.
fn icmp6(frame: &[u8]) -> (MacAddr, IpInfo, Icmpv6Repr) {
    let p = ipv6::Packet::new_checked(&frame[14..]).expect("ipv6");
    let ip = IpInfo {
        src: p.src(),
        dst: p.dst(),
        hop_limit: p.hop_limit(),
    };
    let dst: MacAddr = frame[..6].try_into().unwrap();
    (dst, ip, Icmpv6Repr::parse(p.upper(), &ip).expect("icmpv6"))
}

fn drain(far: &mut MemDevice) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| far.take()).collect()
}

#[test]
fn an_owned_address_is_probed_then_answers_solicitations_and_ping6() {
    let (mut sim, mut fars) = engine(1);
    let far = &mut fars[0];
    // Before detection ends: the probe goes out, a ping is not answered.
    sim.run_for(Duration::from_millis(10));
    far.inject(&ping(1));
    sim.run_for(Duration::from_millis(10));
    let out = drain(far);
    assert_eq!(out.len(), 1, "only the probe");
    let (mac, ip, m) = icmp6(&out[0]);
    assert_eq!(mac, ipv6::multicast_mac(solicited_node(US)));
    assert_eq!(
        (ip.src, ip.dst, ip.hop_limit),
        (Ipv6Addr::UNSPECIFIED, solicited_node(US), 255)
    );
    assert_eq!(
        m,
        Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: None
        })
    );
    assert_eq!(sim.addrs6[0].states(), vec![(US, AddrState::Tentative)]);
    // RetransTimer (1 s) of silence: unique.
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.addrs6[0].states(), vec![(US, AddrState::Unique)]);
    // Now the peer resolves us and pings.
    let ns = NdpRepr::NeighborSolicit {
        target: US,
        source_lladdr: Some(CLIENT_MAC),
    };
    far.inject(&ndp_frame(PEER, solicited_node(US), &ns));
    far.inject(&ping(2));
    sim.run_for(Duration::from_millis(10));
    let out = drain(far);
    assert_eq!(out.len(), 2);
    let (mac, ip, m) = icmp6(&out[0]);
    assert_eq!((mac, ip.src, ip.dst), (CLIENT_MAC, US, PEER));
    assert_eq!(
        m,
        Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: US,
            target_lladdr: Some(SERVER_MAC),
        })
    );
    let (mac, ip, m) = icmp6(&out[1]);
    assert_eq!((mac, ip.src, ip.dst), (CLIENT_MAC, US, PEER));
    assert_eq!(m, Icmpv6Repr::EchoReply { ident: 9, seq: 2 });
    let c = sim.finish().pop().unwrap().counters;
    assert_eq!((c.dad_probes, c.dad_conflicts), (1, 0));
    assert_eq!((c.ndp_replies, c.icmp6_echo_replies), (1, 1));
}

#[test]
fn a_duplicate_seen_by_another_worker_keeps_the_address_unused_everywhere() {
    let (mut sim, mut fars) = engine(2);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(drain(&mut fars[0]).len(), 1, "worker 0 probes");
    assert!(drain(&mut fars[1]).is_empty(), "worker 1 does not");
    // The owner defends the address (RFC 4862 5.4.4), on the second queue.
    let na = NdpRepr::NeighborAdvert {
        router: false,
        solicited: false,
        override_: true,
        target: US,
        target_lladdr: Some(CLIENT_MAC),
    };
    fars[1].inject(&ndp_frame(US, ALL_NODES, &na));
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.addrs6[0].states(), vec![(US, AddrState::Duplicate)]);
    // Neither worker uses it: no answer to solicitations or pings on either queue.
    for far in &mut fars {
        let ns = NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: Some(CLIENT_MAC),
        };
        far.inject(&ndp_frame(PEER, solicited_node(US), &ns));
        far.inject(&ping(3));
    }
    sim.run_for(Duration::from_millis(10));
    for far in &mut fars {
        assert!(drain(far).is_empty());
    }
    let s = sim.finish();
    // Gone from both, not merely still tentative: the solicitation and the ping are for an
    // address neither worker has.
    for w in &s {
        assert_eq!(w.counters.drop_not_ours, 2, "{:?}", w.counters);
    }
    assert_eq!(s[1].counters.dad_conflicts, 1);
    assert_eq!(s[0].counters.dad_probes, 1);
    assert_eq!(
        s[0].counters.icmp6_echo_replies + s[1].counters.icmp6_echo_replies,
        0
    );
}

#[test]
fn another_node_probing_for_the_same_address_is_a_duplicate() {
    // RFC 4862 5.4.3: a solicitation from :: for our tentative address.
    let (mut sim, mut fars) = engine(1);
    sim.run_for(Duration::from_millis(10));
    let ns = NdpRepr::NeighborSolicit {
        target: US,
        source_lladdr: None,
    };
    fars[0].inject(&ndp_frame(Ipv6Addr::UNSPECIFIED, solicited_node(US), &ns));
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.addrs6[0].states(), vec![(US, AddrState::Duplicate)]);
    let _ = icmpv6::HEADER_LEN;
}

//! The steering program's rules, one case each, run with BPF_PROG_TEST_RUN on hand-built
//! frames. No socket sits in the XSKMAP here, so a frame the program hands to the engine
//! comes back as XDP_PASS with `no_socket` counted: each case asserts which rule matched
//! (its counter) and that nothing else moved. Real redirection into an AF_XDP socket is
//! covered by the veth tests.

use std::net::Ipv4Addr;

use etherparse::PacketBuilder;
use fastpath_xdp::{AddrMode, Counter, Counters, SteerConfig, Steering};

const XDP_PASS: u32 = 2;

const OWNED: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const SHARED: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 3);
const OTHER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 77);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn steering() -> Option<Steering> {
    if !fastpath_testbed::privileged::check("xdp steer rules (BPF_PROG_TEST_RUN)") {
        return None;
    }
    let cfg = SteerConfig {
        addrs: vec![(OWNED, AddrMode::Owned), (SHARED, AddrMode::Shared)],
        ports: vec![(SHARED, 80), (Ipv4Addr::UNSPECIFIED, 8080)],
        local_port_range: Some((61000, 61999)),
        sockets_per_queue: 1,
    };
    Some(Steering::load(&cfg).expect("load steering program"))
}

/// Runs one frame and returns (action, what the counters did).
fn run(s: &Steering, frame: &[u8]) -> (u32, Counters) {
    let before = s.counters().unwrap();
    let action = s.test_run(frame).unwrap();
    (action, s.counters().unwrap().since(&before))
}

/// Asserts the frame went to the engine through `rule` (empty slot: passed, no_socket).
fn assert_engine(s: &Steering, frame: &[u8], rule: Counter) {
    let (action, d) = run(s, frame);
    assert_eq!(
        action, XDP_PASS,
        "empty XSKMAP slot falls back to the kernel"
    );
    assert_eq!(d.get(rule), 1, "rule {rule:?} should match: {d:?}");
    assert_eq!(d.get(Counter::NoSocket), 1, "{d:?}");
    let rules = [
        Counter::RuleArp,
        Counter::RuleIcmp,
        Counter::RuleTcpOwned,
        Counter::RuleTcpPort,
        Counter::RuleTcpRange,
        Counter::RuleFragment,
        Counter::RuleOwnedOther,
    ];
    let total: u64 = rules.iter().map(|&r| d.get(r)).sum();
    assert_eq!(total, 1, "exactly one rule: {d:?}");
    assert_eq!(d.malformed(), 0);
}

/// Asserts the frame is the kernel's: passed, no rule, optionally one malformed reason.
fn assert_kernel(s: &Steering, frame: &[u8], malformed: Option<Counter>) {
    let (action, d) = run(s, frame);
    assert_eq!(action, XDP_PASS);
    assert_eq!(d.get(Counter::Pass), 1, "{d:?}");
    assert_eq!(d.get(Counter::NoSocket), 0, "no rule should match: {d:?}");
    match malformed {
        Some(c) => {
            assert_eq!(d.get(c), 1, "expected {c:?}: {d:?}");
            assert_eq!(d.malformed(), 1, "{d:?}");
        }
        None => assert_eq!(d.malformed(), 0, "{d:?}"),
    }
}

fn tcp(dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(PEER.octets(), dst.octets(), 64)
        .tcp(40000, dport, 1, 65535)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    out
}

fn icmp_echo(dst: Ipv4Addr) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(PEER.octets(), dst.octets(), 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut out, b"ping")
        .unwrap();
    out
}

fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&PEER.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// Offsets in a plain Ethernet + 20-byte IPv4 frame.
const IP: usize = 14;
const L4: usize = 34;

#[test]
fn rules() {
    let Some(s) = steering() else { return };

    // ARP for an owned address is the engine's; for a shared one or another host, the kernel's.
    assert_engine(&s, &arp_request(OWNED), Counter::RuleArp);
    assert_kernel(&s, &arp_request(SHARED), None);
    assert_kernel(&s, &arp_request(OTHER), None);

    // ICMP echo: the engine answers for owned addresses, the kernel for shared ones.
    assert_engine(&s, &icmp_echo(OWNED), Counter::RuleIcmp);
    assert_kernel(&s, &icmp_echo(SHARED), None);
    assert_kernel(&s, &icmp_echo(OTHER), None);

    // TCP: any port of an owned address; only the engine's ports on a shared one.
    assert_engine(&s, &tcp(OWNED, 22), Counter::RuleTcpOwned);
    assert_engine(&s, &tcp(SHARED, 80), Counter::RuleTcpPort);
    assert_engine(&s, &tcp(SHARED, 8080), Counter::RuleTcpPort); // wildcard address
    assert_kernel(&s, &tcp(SHARED, 22), None);
    assert_kernel(&s, &tcp(SHARED, 81), None);
    assert_kernel(&s, &tcp(OTHER, 80), None);

    // The local port range (connections the engine opens), edges included.
    assert_engine(&s, &tcp(SHARED, 61000), Counter::RuleTcpRange);
    assert_engine(&s, &tcp(SHARED, 61999), Counter::RuleTcpRange);
    assert_kernel(&s, &tcp(SHARED, 62000), None);
    assert_kernel(&s, &tcp(SHARED, 60999), None);
}

#[test]
fn vlan_options_fragments_and_other_protocols() {
    let Some(s) = steering() else { return };

    // One 802.1Q tag is looked through.
    let mut tagged = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(7.try_into().unwrap())
        .ipv4(PEER.octets(), SHARED.octets(), 64)
        .tcp(40000, 80, 1, 65535)
        .syn()
        .write(&mut tagged, &[])
        .unwrap();
    assert_engine(&s, &tagged, Counter::RuleTcpPort);

    // IPv4 with options: the TCP header is found by IHL.
    let mut with_opts = tcp(SHARED, 80);
    with_opts.splice(L4..L4, [1u8, 1, 1, 0]); // NOP NOP NOP EOL
    with_opts[IP] = 0x46;
    assert_engine(&s, &with_opts, Counter::RuleTcpPort);
    // The same with the port changed to one that is not ours: proves the offset was used.
    let mut not_ours = with_opts.clone();
    not_ours[L4 + 4 + 2..L4 + 4 + 4].copy_from_slice(&81u16.to_be_bytes());
    assert_kernel(&s, &not_ours, None);

    // Fragments: owned -> engine (which counts and drops them); shared -> kernel.
    for (dst, owned) in [(OWNED, true), (SHARED, false)] {
        let mut frag = tcp(dst, 80);
        frag[IP + 6] = 0x20; // MF
        if owned {
            assert_engine(&s, &frag, Counter::RuleFragment);
        } else {
            assert_kernel(&s, &frag, None);
        }
    }

    // UDP and other protocols to an owned address are the engine's (it answers ICMP
    // unreachable); to a shared address, the kernel's.
    for (dst, owned) in [(OWNED, true), (SHARED, false), (OTHER, false)] {
        let mut udp = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(PEER.octets(), dst.octets(), 64)
            .udp(5353, 53)
            .write(&mut udp, b"q")
            .unwrap();
        let mut gre = tcp(dst, 80);
        gre[IP + 9] = 47;
        for f in [udp, gre] {
            if owned {
                assert_engine(&s, &f, Counter::RuleOwnedOther);
            } else {
                assert_kernel(&s, &f, None);
            }
        }
    }
    // IPv6 and other ethertypes are the kernel's.
    let mut v6 = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6([0xfe; 16], [0xfd; 16], 64)
        .tcp(40000, 80, 1, 65535)
        .write(&mut v6, &[])
        .unwrap();
    assert_kernel(&s, &v6, None);
    let mut lldp = tcp(OWNED, 80);
    lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
    assert_kernel(&s, &lldp, None);
}

#[test]
fn truncated_frames_are_counted_by_reason_and_passed() {
    let Some(s) = steering() else { return };

    // Every prefix of a TCP SYN to an owned address: each boundary names its reason. The
    // kernel refuses to run XDP on less than an Ethernet header (no NIC delivers one), so
    // the program's own BadEth check cannot be reached from here.
    let full = tcp(OWNED, 80);
    assert!(
        s.test_run(&full[..13]).is_err(),
        "kernel refuses frames under 14 bytes"
    );
    for len in 14..full.len() {
        let want = match len {
            14..=33 => Some(Counter::BadIp),
            34..=53 => Some(Counter::BadL4),
            _ => unreachable!(),
        };
        assert_kernel(&s, &full[..len], want);
    }
    assert_engine(&s, &full, Counter::RuleTcpOwned);

    let ping = icmp_echo(OWNED);
    for len in L4..L4 + 8 {
        assert_kernel(&s, &ping[..len], Some(Counter::BadL4));
    }

    let arp = arp_request(OWNED);
    for len in 14..arp.len() {
        assert_kernel(&s, &arp[..len], Some(Counter::BadArp));
    }

    let mut tagged = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(7.try_into().unwrap())
        .ipv4(PEER.octets(), OWNED.octets(), 64)
        .tcp(40000, 80, 1, 65535)
        .write(&mut tagged, &[])
        .unwrap();
    for len in 14..18 {
        assert_kernel(&s, &tagged[..len], Some(Counter::BadVlan));
    }

    // Bad IHL and version.
    let mut bad_ihl = tcp(OWNED, 80);
    bad_ihl[IP] = 0x44;
    assert_kernel(&s, &bad_ihl, Some(Counter::BadIhl));
    let mut v5 = tcp(OWNED, 80);
    v5[IP] = 0x55;
    assert_kernel(&s, &v5, Some(Counter::BadIhl));
    // IHL pointing past the frame.
    let mut long_ihl = tcp(OWNED, 80);
    long_ihl[IP] = 0x4f;
    assert_kernel(&s, &long_ihl[..L4 + 20], Some(Counter::BadIp));

    // TCP data offset below 5, or past the frame.
    let mut doff = tcp(OWNED, 80);
    doff[L4 + 12] = 0x40;
    assert_kernel(&s, &doff, Some(Counter::BadTcpDoff));
    doff[L4 + 12] = 0xf0;
    assert_kernel(&s, &doff, Some(Counter::BadTcpDoff));
}

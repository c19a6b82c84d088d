//! TCP over IPv6 through the interface and the host, frames in memory, in virtual time: a
//! peer's segments are full Ethernet frames handed to `Iface::handle`, and what the host
//! sends is checked with etherparse (an independent reading of the IPv6 and TCP headers
//! and the pseudo-header checksum).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::*;
use crate::iface::{Action, Iface, OurAddr, OurAddr6};
use crate::tcp::{Conn, FourTuple6, SeqNum};

const US_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 1];
const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const US4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// What etherparse read in a frame the host sent.
#[derive(Debug)]
struct Seen {
    hop_limit: u8,
    flow_label: u32,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ip_len: usize,
    tcp: etherparse::TcpHeader,
    _payload: Vec<u8>,
}

fn read(frame: &[u8]) -> Seen {
    let p = etherparse::SlicedPacket::from_ethernet(frame).expect("a valid frame");
    let Some(etherparse::NetSlice::Ipv6(ip)) = p.net else {
        panic!("not IPv6: {:?}", p.net);
    };
    let h = ip.header().to_header();
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP");
    };
    let tcp = t.to_header();
    let sum = tcp
        .calc_checksum_ipv6(&h, t.payload())
        .expect("checksum computable");
    assert_eq!(
        tcp.checksum, sum,
        "the pseudo-header checksum (RFC 8200 8.1)"
    );
    Seen {
        hop_limit: h.hop_limit,
        flow_label: h.flow_label.value(),
        src: Ipv6Addr::from(h.source),
        dst: Ipv6Addr::from(h.destination),
        ip_len: 40 + h.payload_length as usize,
        tcp,
        _payload: t.payload().to_vec(),
    }
}

/// One engine (interface and host, both families) and one IPv6 peer made of our own TCP.
struct Pair {
    now: Instant,
    iface: Iface,
    host: Host,
    peer: Conn,
    got: Vec<u8>,
    /// Every frame the engine sent.
    out: Vec<Vec<u8>>,
}

impl Pair {
    fn new(cfg: HostConfig, body: &str) -> Pair {
        let now = Instant::from_secs(10);
        let mut iface = Iface::new(
            US_MAC,
            vec![OurAddr {
                addr: US4,
                prefix: 24,
                owned: true,
            }],
        );
        let a6 = OurAddr6 {
            addr: US,
            prefix: 64,
            owned: true,
        };
        iface.add_ipv6(a6, false);
        let listen: [SocketAddr; 2] = [(US, 80).into(), (US4, 80).into()];
        let mut host = Host::new(
            0,
            US_MAC,
            cfg,
            &listen,
            Arc::new(Site::body(body)),
            Arc::new(SocketTable::new()),
            Secrets::from_master([7; 32]),
        );
        host.set_date(1_795_392_000);
        let peer = Conn::connect(&TcpConfig::default(), tuple(40000, 80), SeqNum(1000), now);
        Pair {
            now,
            iface,
            host,
            peer,
            got: Vec::new(),
            out: Vec::new(),
        }
    }

    /// A frame from the peer into the engine, as a worker handles it.
    fn inject(&mut self, mut frame: Vec<u8>) {
        let len = frame.len();
        frame.resize(2048, 0);
        let mut tx = VecTx::default();
        match self.iface.handle(&mut frame, len) {
            Action::Tcp6(t) => {
                let payload = frame[t.payload.0..t.payload.1].to_vec();
                let d = self
                    .host
                    .on_segment6(self.now, &t.meta, &t.repr, &payload, &mut tx);
                if d == Disposition::Reset {
                    if let Action::Transmit(n) = self.iface.reset6(&mut frame, &t) {
                        tx.0.push(frame[..n].to_vec());
                    }
                }
            }
            Action::PathMtu6 { tuple, seq, mtu } => {
                self.host.on_path_mtu(self.now, tuple, seq, mtu, &mut tx)
            }
            a => panic!("unexpected {a:?}"),
        }
        self.out.extend(tx.0.iter().cloned());
        for f in tx.0 {
            self.deliver(&f);
        }
    }

    /// A frame the engine sent, into the peer's connection.
    fn deliver(&mut self, f: &[u8]) {
        let s = read(f);
        if s.tcp.destination_port != self.peer.tuple().local_port() {
            return;
        }
        let t = crate::wire::tcp::TcpPacket::parse_v6(&f[54..], s.src, s.dst).unwrap();
        self.peer.on_segment(self.now, &t.repr, t.payload);
        let n = self.peer.readable();
        let mut buf = vec![0; n];
        self.peer.recv(&mut buf);
        self.got.extend(buf);
    }

    /// Moves segments both ways until neither side has anything to send.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut buf = vec![0u8; 2048];
            let Some((r, n)) = self.peer.poll_transmit(self.now, &mut buf[114..]) else {
                return;
            };
            let ip = crate::frame::Ip6 {
                src: PEER,
                dst: US,
                hop_limit: 64,
            };
            let link = crate::frame::Link {
                src: PEER_MAC,
                dst: US_MAC,
                vlan: None,
            };
            let f =
                crate::frame::tcp_segment6(&mut buf, 114 - r.header_len(), Some(&link), &ip, &r, n);
            self.inject(buf[f].to_vec());
        }
        panic!("no end");
    }
}

fn tuple(local_port: u16, remote_port: u16) -> FourTuple6 {
    FourTuple6 {
        local: PEER,
        remote: US,
        local_port,
        remote_port,
    }
}

/// A TCP segment from the peer, built by etherparse.
fn segment(dst_port: u16, syn: bool) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(PEER_MAC, US_MAC)
        .ipv6(PEER.octets(), US.octets(), 64)
        .tcp(40001, dst_port, 77, 64240);
    let b = if syn { b.syn() } else { b.ack(5) };
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    f
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn an_http_exchange_over_ipv6_announces_mtu_minus_60_and_sums_the_pseudo_header() {
    let mut p = Pair::new(HostConfig::default(), "hello\n");
    p.settle();
    assert_eq!(p.peer.state(), State::Established);
    let syn_ack = read(&p.out[0]);
    assert!(syn_ack.tcp.syn && syn_ack.tcp.ack);
    assert_eq!((syn_ack.src, syn_ack.dst), (US, PEER));
    assert_eq!(syn_ack.hop_limit, 64);
    let mss = syn_ack.tcp.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    });
    assert_eq!(mss, Some(1440), "RFC 9293 3.7.1: 1500 - 60 over IPv6");
    p.peer.send(GET);
    p.settle();
    let text = String::from_utf8_lossy(&p.got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
    assert_eq!(p.host.stats().accepted, 1);
    // One flow label for the connection's every packet, not 0 (Linux's automatic flow
    // labels, RFC 6437).
    let labels: Vec<u32> = p.out.iter().map(|f| read(f).flow_label).collect();
    assert!(labels.len() >= 2 && labels[0] != 0, "{labels:?}");
    assert!(labels.iter().all(|l| *l == labels[0]), "{labels:?}");
}

#[test]
fn a_segment_nothing_takes_is_reset_over_ipv6_in_place() {
    let mut p = Pair::new(HostConfig::default(), "hello\n");
    p.inject(segment(81, true));
    assert_eq!(p.out.len(), 1, "one answer");
    let rst = read(&p.out[0]);
    assert!(rst.tcp.rst && rst.tcp.ack && !rst.tcp.syn);
    assert_eq!((rst.src, rst.dst), (US, PEER));
    assert_eq!((rst.tcp.source_port, rst.tcp.destination_port), (81, 40001));
    assert_eq!(
        rst.tcp.acknowledgment_number, 78,
        "RFC 9293 3.10.7.1: SEG.SEQ + 1"
    );
    assert_eq!(p.out[0][..6], PEER_MAC);
    // A lone ACK to the listening port without a connection: reset too (no cookie).
    p.inject(segment(80, false));
    let rst = read(&p.out[1]);
    assert!(rst.tcp.rst && rst.tcp.sequence_number == 5);
}

#[test]
fn packet_too_big_lowers_the_mss_but_not_below_the_ipv6_minimum() {
    let body = "x".repeat(6000);
    let mut p = Pair::new(HostConfig::default(), &body);
    p.settle();
    // The response leaves; the peer acknowledges none of it.
    p.peer.send(GET);
    let mut buf = vec![0u8; 2048];
    let (r, n) = p.peer.poll_transmit(p.now, &mut buf[114..]).unwrap();
    let ip = crate::frame::Ip6 {
        src: PEER,
        dst: US,
        hop_limit: 64,
    };
    let link = crate::frame::Link {
        src: PEER_MAC,
        dst: US_MAC,
        vlan: None,
    };
    let f = crate::frame::tcp_segment6(&mut buf, 114 - r.header_len(), Some(&link), &ip, &r, n);
    let before = p.out.len();
    let mut frame = buf[f].to_vec();
    let len = frame.len();
    frame.resize(2048, 0);
    let mut tx = VecTx::default();
    let Action::Tcp6(t) = p.iface.handle(&mut frame, len) else {
        panic!("a segment")
    };
    let payload = frame[t.payload.0..t.payload.1].to_vec();
    p.host
        .on_segment6(p.now, &t.meta, &t.repr, &payload, &mut tx);
    let full: Vec<Seen> = tx.0.iter().map(|f| read(f)).collect();
    assert!(
        full.iter().any(|s| s.ip_len == 1500),
        "full-sized packets first"
    );
    assert!(before > 0);
    // A router on the path: "packet too big, MTU 1000", quoting the first data packet.
    let first = tx.0.iter().find(|f| read(f).ip_len == 1500).unwrap();
    let router: Ipv6Addr = "2001:db8::fe".parse().unwrap();
    let mut ptb = Vec::new();
    etherparse::PacketBuilder::ethernet2(PEER_MAC, US_MAC)
        .ipv6(router.octets(), US.octets(), 64)
        .icmpv6(etherparse::Icmpv6Type::PacketTooBig { mtu: 1000 })
        .write(&mut ptb, &first[14..14 + 1232])
        .unwrap();
    p.out.clear();
    p.inject(ptb);
    let resent: Vec<Seen> = p.out.iter().map(|f| read(f)).collect();
    assert!(!resent.is_empty(), "what was too big is sent again at once");
    assert!(
        resent.iter().all(|s| s.ip_len <= 1280),
        "RFC 8201 4: not above the new MTU, raised to 1280: {:?}",
        resent.iter().map(|s| s.ip_len).collect::<Vec<_>>()
    );
    assert!(
        resent.iter().any(|s| s.ip_len == 1280),
        "and not below it (MSS 1280 - 60 - 12 of timestamps): {:?}",
        resent.iter().map(|s| s.ip_len).collect::<Vec<_>>()
    );
    assert_eq!(p.host.stats().tcp.pmtu_updates, 1);
}

#[test]
fn syn_cookies_over_ipv6_carry_the_ipv6_mss_and_complete_the_handshake() {
    let cfg = HostConfig {
        backlog: 0,
        ..HostConfig::default()
    };
    let mut p = Pair::new(cfg, "hello\n");
    p.settle();
    assert_eq!(p.peer.state(), State::Established);
    assert_eq!(p.host.stats().syn_cookies_sent, 1);
    assert_eq!(p.host.stats().cookie_accepted, 1);
    let syn_ack = read(&p.out[0]);
    let mss = syn_ack.tcp.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    });
    assert_eq!(mss, Some(1440));
    p.peer.send(GET);
    p.settle();
    assert!(String::from_utf8_lossy(&p.got).ends_with("hello\n"));
    // The stateless SYN-ACK has the label the connection then uses.
    let last = read(p.out.last().unwrap());
    assert_eq!(syn_ack.flow_label, last.flow_label);
    assert_ne!(syn_ack.flow_label, 0);
}

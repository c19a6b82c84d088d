//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus replay test
//! (`engine/tests/fuzz_corpus.rs`, on stable in the normal suite). Each takes arbitrary
//! bytes and must not panic; what each checks beyond that is in its docs.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::iface::{Action, Iface, OurAddr};
use crate::tcp::{Conn, FourTuple, Listener, SeqNum, State, SynVerdict, TcpConfig};
use crate::time::Instant;
use crate::wire::tcp::{Flags, SackBlock, TcpOptions, TcpPacket, TcpRepr};
use crate::wire::{arp, ethernet, icmp, icmpv6, ipv4, ipv6};

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const OUR_IP6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

/// A whole frame from the wire: every layer's checked constructor on the bytes as they
/// are, then the per-frame path (`Iface::handle`) that answers ARP, ICMP and stray TCP in
/// place. A reply must fit the buffer and parse back as Ethernet.
pub fn wire_frame(data: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        let _ = arp::ArpRepr::parse(f.payload());
        if let Ok(p) = ipv4::Packet::new_checked(f.payload()) {
            let _ = icmp::IcmpRepr::parse(p.payload());
            let _ = TcpPacket::parse(p.payload(), p.src(), p.dst());
        }
    }
    let _ = ipv4::Packet::new_checked(data);
    let _ = TcpPacket::parse(data, PEER_IP, OUR_IP);
    ipv6_packet(data);

    let mut iface = Iface::new(
        OUR_MAC,
        vec![OurAddr {
            addr: OUR_IP,
            prefix: 24,
            owned: true,
        }],
    );
    let mut buf = [0u8; 2048];
    let len = data.len().min(buf.len());
    buf[..len].copy_from_slice(&data[..len]);
    if let Action::Transmit(n) = iface.handle(&mut buf, len) {
        assert!(n <= buf.len());
        ethernet::Frame::new_checked(&buf[..n]).expect("a reply we built parses");
    }
}

/// An IPv6 packet (no Ethernet header): the extension header walk, then ICMPv6 (echo,
/// packet too big, neighbour discovery) and TCP over the IPv6 pseudo-header. What parses
/// stays inside the buffer. Then the per-frame path (also for what does not parse: a
/// refused extension chain may be answered), and a reset for a TCP segment.
pub fn ipv6_packet(data: &[u8]) {
    let Ok(p) = ipv6::Packet::new_checked(data) else {
        if data.len() >= ipv6::HEADER_LEN {
            let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&data[24..40]).unwrap());
            ipv6_frame_path(data, dst);
        }
        return;
    };
    assert!(p.header_len() + p.upper().len() <= data.len());
    let ip = icmpv6::IpInfo {
        src: p.src(),
        dst: p.dst(),
        hop_limit: p.hop_limit(),
    };
    match p.upper_protocol() {
        ipv6::NH_ICMPV6 => {
            if let Ok(icmpv6::Icmpv6Repr::Ndp(n)) = icmpv6::Icmpv6Repr::parse(p.upper(), &ip) {
                // What parses re-emits to a message that parses to the same.
                let mut b = [0u8; 64];
                let len = n.emit(&mut b, ip.src, ip.dst);
                let back = icmpv6::Icmpv6Repr::parse(&b[..len], &ip);
                assert_eq!(back, Ok(icmpv6::Icmpv6Repr::Ndp(n)));
            }
        }
        ipv6::NH_TCP => {
            let _ = TcpPacket::parse_v6(p.upper(), ip.src, ip.dst);
        }
        _ => {}
    }
    ipv6_frame_path(data, p.dst());
}

/// The per-frame path for IPv6 packet `data`, with `dst` (and one more address) ours: one
/// usable, one tentative. A reply (or a reset for a TCP segment) must fit and parse back
/// as IPv6.
fn ipv6_frame_path(data: &[u8], dst: std::net::Ipv6Addr) {
    let mut iface = Iface::new(OUR_MAC, Vec::new());
    for (addr, tentative) in [(dst, false), (OUR_IP6, true)] {
        let a = crate::iface::OurAddr6 {
            addr,
            prefix: 64,
            owned: true,
        };
        iface.add_ipv6(a, tentative);
    }
    let mut buf = [0u8; 2048];
    let len = (data.len() + 14).min(buf.len());
    ethernet::emit(
        &mut buf,
        OUR_MAC,
        [2, 0, 0, 0, 0, 9],
        None,
        ethernet::EtherType::Ipv6,
    );
    buf[14..len].copy_from_slice(&data[..len - 14]);
    let action = match iface.handle(&mut buf, len) {
        Action::Tcp6(t) => iface.reset6(&mut buf, &t),
        a => a,
    };
    if let Action::Transmit(n) = action {
        assert!(n <= buf.len());
        ipv6::Packet::new_checked(&buf[14..n]).expect("a reply we built parses");
    }
}

/// TCP options: whatever parses, once emitted, parses back to the same options, and the
/// emitted header stays within 60 bytes.
pub fn tcp_options(data: &[u8]) {
    let Ok(opts) = TcpOptions::parse(data) else {
        return;
    };
    let once = reemit(opts);
    let twice = reemit(once);
    assert_eq!(once, twice, "emit/parse is not stable for {opts:?}");
}

fn reemit(options: TcpOptions) -> TcpOptions {
    let repr = TcpRepr {
        src_port: 1,
        dst_port: 2,
        flags: Flags::ACK,
        options,
        ..TcpRepr::default()
    };
    assert!(
        repr.header_len() <= 60,
        "header of {} bytes",
        repr.header_len()
    );
    let mut buf = [0u8; 60];
    let n = repr.emit(&mut buf, 0, PEER_IP, OUR_IP);
    TcpPacket::parse(&buf[..n], PEER_IP, OUR_IP)
        .expect("what we emit parses")
        .repr
        .options
}

/// Reads fuzz input as a little program.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
}

/// A listener and the connections it creates, fed an arbitrary sequence of segments,
/// application calls and time steps. Sequence and acknowledgment numbers are mostly
/// chosen near what the connection last sent, so the fuzzer reaches every state instead
/// of bouncing off the window check. After every step: the connection's invariants hold,
/// and it never transmits without end.
pub fn tcp_conn(data: &[u8]) {
    let mut input = Input(data);
    let Some(cfg_bits) = input.u8() else { return };
    let cfg = TcpConfig {
        sack: cfg_bits & 1 != 0,
        timestamps: cfg_bits & 2 != 0,
        window_scaling: cfg_bits & 4 != 0,
        nagle: cfg_bits & 8 != 0,
        recv_buffer: if cfg_bits & 16 != 0 { 4096 } else { 65536 },
        send_buffer: if cfg_bits & 32 != 0 { 4096 } else { 65536 },
        // Ask for ECN on the engine's own SYN whenever it opens the connection.
        ecn: crate::tcp::Ecn::On,
        // Both kinds of congestion control: loss-based, and BBR's model on rate samples.
        cc: if cfg_bits & 64 != 0 {
            crate::tcp::cc::Algorithm::Bbr
        } else {
            crate::tcp::cc::Algorithm::Cubic
        },
        ..TcpConfig::default()
    };
    let local = SocketAddrV4::new(OUR_IP, 80);
    let remote = SocketAddrV4::new(PEER_IP, 40000);
    let tuple = FourTuple { local, remote };
    let mut listener = Listener::new(
        local,
        cfg,
        (cfg_bits >> 6) as usize,
        &crate::tcp::Secrets::from_master([9; 32]),
    );
    let mut now = Instant::ZERO;
    let mut conn: Option<Conn> = if cfg_bits & 64 != 0 && cfg_bits & 128 != 0 {
        Some(Conn::connect(&cfg, tuple, SeqNum(1000), now))
    } else {
        None
    };
    // What the connection last told the peer: the peer's next sequence number (our ACK)
    // and what it may acknowledge (our sequence plus length).
    let (mut peer_seq, mut peer_ack) = (SeqNum(0), SeqNum(0));
    let mut scratch = vec![0u8; 70_000];
    let payload = vec![0x5au8; 70_000];

    let mut steps = 0;
    while let Some(op) = input.u8() {
        steps += 1;
        if steps > 2000 {
            break;
        }
        match op % 10 {
            // A segment relative to the connection's state.
            0..=4 => {
                let Some(flags) = input.u8() else { break };
                let (Some(dseq), Some(dack), Some(window), Some(len)) =
                    (input.u16(), input.u16(), input.u16(), input.u16())
                else {
                    break;
                };
                let Some(opt_bits) = input.u8() else { break };
                let ts = (opt_bits & 1 != 0)
                    .then(|| (input.u32().unwrap_or(0), input.u32().unwrap_or(0)));
                let mut options = TcpOptions {
                    mss: (opt_bits & 2 != 0).then(|| input.u16().unwrap_or(0)),
                    window_scale: (opt_bits & 4 != 0).then(|| input.u8().unwrap_or(0)),
                    sack_permitted: opt_bits & 8 != 0,
                    timestamps: ts,
                    ..TcpOptions::default()
                };
                // Up to two SACK blocks near what we sent: below the ACK or inside the
                // second, the first is a D-SACK.
                for (bit, i) in [(16, 0), (32, 1)] {
                    if opt_bits & bit != 0 && options.sack_len as usize == i {
                        let l = peer_ack + (input.u16().unwrap_or(0) as i16 as i32 as u32);
                        let r = l + input.u16().unwrap_or(0) as u32;
                        options.sack[i] = SackBlock { left: l, right: r };
                        options.sack_len += 1;
                    }
                }
                let seg = TcpRepr {
                    src_port: remote.port(),
                    dst_port: local.port(),
                    seq: peer_seq + (dseq as i16 as i32 as u32),
                    ack: peer_ack + (dack as i16 as i32 as u32),
                    flags: Flags(flags),
                    window,
                    urgent: 0,
                    options,
                    // The IP ECN field: CE marks, ECT, Not-ECT in any state.
                    ecn: opt_bits >> 6,
                };
                let len = (len as usize) % 3000;
                let body = &payload[..len];
                match conn.as_mut() {
                    Some(c) => c.on_segment(now, &seg, body),
                    None => {
                        if seg.flags.syn() && !seg.flags.ack() {
                            match listener.on_syn(now, remote, &seg) {
                                SynVerdict::Accept(c) => conn = Some(*c),
                                SynVerdict::Cookie(sa) => {
                                    peer_seq = sa.ack;
                                    peer_ack = sa.seq + 1;
                                }
                                SynVerdict::Ignore => {}
                            }
                        } else if seg.flags.ack() {
                            conn = listener.on_ack(now, remote, &seg, body);
                        }
                    }
                }
            }
            // Raw header bytes: whatever the parser accepts goes in.
            5 => {
                let Some(n) = input.u8() else { break };
                let n = (n as usize).min(input.0.len());
                let (raw, rest) = input.0.split_at(n);
                input.0 = rest;
                if let (Ok(p), Some(c)) = (TcpPacket::parse(raw, PEER_IP, OUR_IP), conn.as_mut()) {
                    c.on_segment(now, &p.repr, p.payload);
                }
            }
            // Time passes; due timers fire.
            6 => {
                let Some(ms) = input.u16() else { break };
                now += core::time::Duration::from_millis(ms as u64 * 4);
                if let Some(c) = conn.as_mut() {
                    if c.poll_at().is_some_and(|t| t <= now) {
                        c.on_timeout(now);
                    }
                }
            }
            7 => {
                let Some(n) = input.u16() else { break };
                if let Some(c) = conn.as_mut() {
                    let n = (n as usize * 4).min(payload.len());
                    let took = c.send(&payload[..n]);
                    assert!(took <= n);
                }
            }
            8 => {
                let Some(n) = input.u16() else { break };
                if let Some(c) = conn.as_mut() {
                    let before = c.readable();
                    let got = c.recv(&mut scratch[..n as usize]);
                    assert_eq!(got, before.min(n as usize));
                }
            }
            _ => {
                let Some(what) = input.u8() else { break };
                if let Some(c) = conn.as_mut() {
                    match what % 4 {
                        0 => c.close(),
                        1 => c.release(),
                        2 => c.abort(),
                        _ => {
                            let seq = peer_ack - (what as u32 >> 2) * 64;
                            c.on_path_mtu(seq, 400 + (what as u16) * 4);
                        }
                    }
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut sent = 0;
        while let Some((r, n)) = c.poll_transmit(now, &mut scratch) {
            sent += 1;
            assert!(sent < 10_000, "transmits without end: {r:?} len {n}");
            assert!(r.header_len() <= 60);
            assert!(n <= c.send_mss() as usize || r.flags.syn());
            if !r.flags.rst() {
                peer_seq = r.ack;
                peer_ack = r.seq + r.seq_len(n);
            }
        }
        if let Err(e) = c.check_invariants() {
            panic!("invariant broken in {:?}: {e}", c.state());
        }
        if c.state() == State::Closed {
            conn = None;
        }
    }
}

/// The HTTP responder fed arbitrary request bytes in arbitrary pieces over a real pair of
/// connections, with time passing: never a panic, never more responses queued than the
/// pipelining bound, and every byte the server sends is part of a well-formed response
/// head or body (each begins "HTTP/1.1 ").
pub fn http_session(data: &[u8]) {
    use crate::http::{HttpConfig, Session, Site};
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let tcp = TcpConfig::default();
    let now0 = Instant::from_secs(100);
    let client_t = FourTuple {
        local: SocketAddrV4::new(PEER_IP, 40000),
        remote: SocketAddrV4::new(OUR_IP, 80),
    };
    let server_t = FourTuple {
        local: client_t.remote,
        remote: client_t.local,
    };
    let mut client = Conn::connect(&tcp, client_t, SeqNum(1), now0);
    let mut scratch = vec![0u8; 65536];
    let Some((syn, _)) = client.poll_transmit(now0, &mut scratch) else {
        return;
    };
    let mut server = Conn::accept(&tcp, server_t, &syn, SeqNum(9), now0);
    let cfg = HttpConfig {
        max_pipeline: 8,
        ..HttpConfig::default()
    };
    // A file with validators and a gzip representation: fuzzed If-*, Range and
    // Accept-Encoding headers reach every rule of `http/answer.rs`.
    let site = {
        use crate::http::{Encoded, FileInfo, Resource};
        use std::sync::Arc;
        let body = b"fuzz body 0123456789".repeat(8);
        let gz = b"pretend gzip".to_vec();
        let mut info = FileInfo::new(&body, 784_111_777, 2_000_000_000);
        info.gzip = Some(Encoded {
            etag: FileInfo::new(&gz, 0, 0).etag,
            body: Arc::from(gz),
        });
        Site::Body(Resource {
            content_type: "text/plain",
            body: Arc::from(body),
            file: Some(Arc::new(info)),
        })
    };
    let date = *b"Mon, 23 Nov 2026 10:00:00 GMT";
    let mut session = Session::new(now0);
    let mut now = now0;
    let mut received = Vec::new();
    let piece = (cut as usize % 64) + 1;
    let mut chunks = data.chunks(piece);
    for round in 0..10_000 {
        let mut moved = false;
        while let Some((r, n)) = client.poll_transmit(now, &mut scratch) {
            let p = scratch[..n].to_vec();
            server.on_segment(now, &r, &p);
            moved = true;
        }
        if server.state().synchronized() && server.state() != State::SynReceived {
            session.drive(now, &mut server, &site, &cfg, &date);
            assert!(session.pending() <= cfg.max_pipeline + 1);
        }
        while let Some((r, n)) = server.poll_transmit(now, &mut scratch) {
            let p = scratch[..n].to_vec();
            client.on_segment(now, &r, &p);
            moved = true;
        }
        loop {
            let n = client.recv(&mut scratch);
            if n == 0 {
                break;
            }
            received.extend_from_slice(&scratch[..n]);
        }
        if moved {
            continue;
        }
        if let Some(c) = chunks.next() {
            client.send(c);
            continue;
        }
        // Input exhausted: let time run so timeouts fire, then stop.
        now += core::time::Duration::from_secs(5);
        if session.deadline(&cfg).is_some_and(|t| t <= now) {
            session.on_timeout(now, &mut server, &cfg, &date);
        }
        for c in [&mut client, &mut server] {
            if c.poll_at().is_some_and(|t| t <= now) {
                c.on_timeout(now);
            }
        }
        if round > 200 || server.is_closed() {
            break;
        }
    }
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 "),
        "server sent something other than a response"
    );
}

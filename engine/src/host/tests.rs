//! The host with the engine's own TCP as clients: every segment is a full Ethernet frame,
//! encoded by the host and parsed back here, in virtual time.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::tcp::{Conn, SeqNum};
use crate::wire::ipv4;
use crate::wire::tcp::{Flags, TcpPacket};

const SERVER_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const CLIENT_MAC: MacAddr = [2, 0, 0, 0, 0, 1];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

struct Net {
    now: Instant,
    hosts: Vec<Host>,
    table: Arc<SocketTable>,
    clients: Vec<(Conn, Vec<u8>)>,
    resets: u64,
    forwarded: u64,
    scratch: Vec<u8>,
    /// Every frame the hosts sent: (client port, TCP flags, IPv4 identification, DF).
    sent: Vec<(u16, Flags, u16, bool)>,
}

fn meta() -> Meta {
    Meta {
        src_mac: CLIENT_MAC,
        vlan: None,
        src: CLIENT,
        dst: SERVER,
    }
}

impl Net {
    fn new(workers: u16, cfg: HostConfig) -> Net {
        let table = Arc::new(SocketTable::with_readers(0, workers as usize));
        let hosts = (0..workers)
            .map(|w| {
                let mut h = Host::new(
                    w,
                    SERVER_MAC,
                    cfg.clone(),
                    &[SocketAddrV4::new(SERVER, 80).into()],
                    Arc::new(Site::body("hello\n")),
                    table.clone(),
                    Secrets::from_master([w as u8 + 1; 32]),
                );
                h.set_date(1_795_392_000);
                h
            })
            .collect();
        Net {
            now: Instant::from_secs(10),
            hosts,
            table,
            clients: Vec::new(),
            resets: 0,
            forwarded: 0,
            scratch: vec![0; 65536],
            sent: Vec::new(),
        }
    }

    fn connect(&mut self, port: u16) -> usize {
        let tuple = FourTuple {
            local: SocketAddrV4::new(CLIENT, port),
            remote: SocketAddrV4::new(SERVER, 80),
        };
        let c = Conn::connect(
            &TcpConfig::default(),
            tuple,
            SeqNum(port as u32 * 1000),
            self.now,
        );
        self.clients.push((c, Vec::new()));
        self.clients.len() - 1
    }

    /// Which worker receives client `i`'s segments (a NIC's RSS would decide).
    fn steer(&self, i: usize) -> usize {
        i % self.hosts.len()
    }

    fn run_for(&mut self, horizon: Duration) {
        let until = self.now + horizon;
        for _ in 0..100_000 {
            let mut moved = false;
            for i in 0..self.clients.len() {
                let w = self.steer(i);
                loop {
                    let (c, _) = &mut self.clients[i];
                    let Some((r, n)) = c.poll_transmit(self.now, &mut self.scratch) else {
                        break;
                    };
                    moved = true;
                    let payload = self.scratch[..n].to_vec();
                    self.deliver(w, &r, &payload);
                }
            }
            if moved {
                continue;
            }
            let next = self
                .clients
                .iter()
                .filter_map(|(c, _)| c.poll_at())
                .chain(self.hosts.iter().filter_map(|h| h.next_deadline()))
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    for i in 0..self.clients.len() {
                        let (c, _) = &mut self.clients[i];
                        if c.poll_at().is_some_and(|t| t <= self.now) {
                            c.on_timeout(self.now);
                        }
                    }
                    for w in 0..self.hosts.len() {
                        let mut tx = VecTx::default();
                        self.hosts[w].poll_timers(self.now, &mut tx);
                        self.hand_to_clients(tx);
                    }
                }
                _ => {
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
        panic!("no quiescence");
    }

    fn deliver(&mut self, mut w: usize, r: &TcpRepr, payload: &[u8]) {
        let mut tx = VecTx::default();
        for _ in 0..2 {
            match self.hosts[w].on_segment(self.now, &meta(), r, payload, &mut tx) {
                Disposition::Forward(to) => {
                    self.forwarded += 1;
                    w = to as usize;
                    continue;
                }
                Disposition::Reset => {
                    self.resets += 1;
                    if let Some(rst) = r.rst_reply(payload.len()) {
                        let (c, _) = self
                            .clients
                            .iter_mut()
                            .find(|(c, _)| c.tuple().local_port() == r.src_port)
                            .unwrap();
                        c.on_segment(self.now, &rst, &[]);
                    }
                }
                Disposition::Done | Disposition::Dropped => {}
            }
            break;
        }
        self.hand_to_clients(tx);
    }

    fn hand_to_clients(&mut self, tx: VecTx) {
        for f in tx.0 {
            let eth = ethernet::Frame::new_checked(&f[..]).unwrap();
            assert_eq!((eth.dst(), eth.src()), (CLIENT_MAC, SERVER_MAC));
            let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
            assert_eq!((ip.src(), ip.dst()), (SERVER, CLIENT));
            let p = TcpPacket::parse(ip.payload(), ip.src(), ip.dst()).expect("checksums");
            let df = f[eth.header_len() + 6] & 0x40 != 0;
            self.sent
                .push((p.repr.dst_port, p.repr.flags, ip.ident(), df));
            let (c, got) = self
                .clients
                .iter_mut()
                .find(|(c, _)| c.tuple().local_port() == p.repr.dst_port)
                .expect("a client for the segment");
            c.on_segment(self.now, &p.repr, p.payload);
            let mut buf = [0u8; 65536];
            loop {
                let n = c.recv(&mut buf);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
    }

    fn live(&self) -> usize {
        self.hosts.iter().map(|h| h.connections()).sum()
    }
}

#[test]
fn serves_a_request_and_forgets_the_connection_after_time_wait() {
    let mut cfg = HostConfig::default();
    cfg.tcp.time_wait = Duration::from_secs(2);
    let mut net = Net::new(1, cfg);
    let i = net.connect(40000);
    net.run_for(Duration::from_millis(100));
    assert_eq!((net.live(), net.table.len()), (1, 1));
    net.clients[i]
        .0
        .send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    net.run_for(Duration::from_millis(200));
    let got = String::from_utf8(net.clients[i].1.clone()).unwrap();
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\nhello\n"),
        "{got}"
    );
    assert!(got.contains("Date: Mon, 23 Nov 2026 00:00:00 GMT\r\n"));
    net.clients[i].0.close();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.live(), 1, "the server side holds TIME_WAIT or LAST_ACK");
    net.run_for(Duration::from_secs(120));
    assert_eq!((net.live(), net.table.len()), (0, 0), "no leaked entries");
    let s = net.hosts[0].stats();
    assert_eq!(
        (s.accepted, s.closed, s.http.requests, s.http.responses_2xx),
        (1, 1, 1, 1)
    );
}

#[test]
fn a_port_without_listener_is_reset() {
    let mut net = Net::new(1, HostConfig::default());
    let tuple = FourTuple {
        local: SocketAddrV4::new(CLIENT, 40001),
        remote: SocketAddrV4::new(SERVER, 81),
    };
    net.clients.push((
        Conn::connect(&TcpConfig::default(), tuple, SeqNum(7), net.now),
        Vec::new(),
    ));
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.resets, 1);
    assert_eq!(
        net.clients[0].0.close_reason(),
        Some(crate::tcp::CloseReason::Reset)
    );
}

#[test]
fn many_connections_over_two_workers_each_stay_with_their_owner() {
    let mut cfg = HostConfig::default();
    cfg.tcp.time_wait = Duration::from_secs(1);
    let mut net = Net::new(2, cfg);
    for p in 0..200u16 {
        net.connect(41000 + p);
    }
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.table.len(), 200);
    assert_eq!(net.table.count_owned_by(0), 100);
    assert_eq!(net.table.count_owned_by(1), 100);
    for (c, _) in net.clients.iter_mut() {
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    net.run_for(Duration::from_millis(200));
    for (_, got) in &net.clients {
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
    assert_eq!(
        net.forwarded, 0,
        "symmetric steering: nothing crosses workers"
    );
    // Now the steering changes: segments arrive at the other worker, which hands them
    // to the owner. Each is processed once: every request gets exactly one response.
    for (c, got) in net.clients.iter_mut() {
        got.clear();
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    let hosts = net.hosts.len();
    // Deliver client i's next segments to worker (i + 1) % 2.
    for i in 0..net.clients.len() {
        loop {
            let (c, _) = &mut net.clients[i];
            let Some((r, n)) = c.poll_transmit(net.now, &mut net.scratch) else {
                break;
            };
            let payload = net.scratch[..n].to_vec();
            net.deliver((i + 1) % hosts, &r, &payload);
        }
    }
    net.run_for(Duration::from_millis(200));
    assert!(net.forwarded > 0);
    for (_, got) in &net.clients {
        let s = String::from_utf8_lossy(got);
        assert_eq!(s.matches("HTTP/1.1 200 OK").count(), 1, "{s}");
    }
    for (c, _) in net.clients.iter_mut() {
        c.close();
    }
    net.run_for(Duration::from_secs(200));
    assert_eq!((net.live(), net.table.len()), (0, 0));
}

#[test]
fn beyond_max_connections_syns_are_reset() {
    let cfg = HostConfig {
        max_conns: 3,
        ..HostConfig::default()
    };
    let mut net = Net::new(1, cfg);
    for p in 0..5u16 {
        net.connect(42000 + p);
    }
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.live(), 3);
    assert_eq!(net.hosts[0].stats().refused_full, 2);
    let reset = net
        .clients
        .iter()
        .filter(|(c, _)| c.close_reason() == Some(crate::tcp::CloseReason::Reset))
        .count();
    assert_eq!(reset, 2);
}

#[test]
fn time_wait_does_not_count_against_max_conns_and_is_bounded() {
    let mut cfg = HostConfig {
        max_conns: 1,
        max_time_wait: 2,
        ..HostConfig::default()
    };
    cfg.tcp.time_wait = Duration::from_secs(60);
    let mut net = Net::new(1, cfg);
    // Five connections one after another, each closed by the server (Connection: close):
    // the server side goes to TIME_WAIT each time.
    for p in 0..5u16 {
        let i = net.connect(43000 + p);
        net.run_for(Duration::from_millis(50));
        net.clients[i]
            .0
            .send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        net.run_for(Duration::from_millis(50));
        net.clients[i].0.close();
        net.run_for(Duration::from_millis(100));
        assert!(
            String::from_utf8_lossy(&net.clients[i].1).starts_with("HTTP/1.1 200 OK"),
            "connection {p} served although max_conns is 1 and TIME_WAITs are held"
        );
    }
    let s = net.hosts[0].stats();
    assert_eq!(net.hosts[0].held(), (2, 0), "TIME_WAIT bounded at 2");
    assert_eq!(
        (s.accepted, s.time_wait_overflow, s.refused_full),
        (5, 3, 0)
    );
}

#[test]
fn connections_are_listed_in_bounded_chunks() {
    let mut net = Net::new(1, HostConfig::default());
    for port in 40000..40005 {
        net.connect(port);
    }
    net.run_for(Duration::from_millis(100));
    let h = &net.hosts[0];
    assert_eq!(h.gauges().connections, 5);
    let mut out = Vec::new();
    let mut from = Some(0);
    let mut calls = 0;
    while let Some(f) = from {
        let before = out.len();
        from = h.list_connections(net.now, f, 2, &mut out);
        assert!(out.len() - before <= 2, "at most 2 slots visited per call");
        calls += 1;
    }
    assert_eq!(calls, 3, "5 slots in chunks of 2");
    let mut ports: Vec<u16> = out.iter().map(|e| e.info.remote.port()).collect();
    ports.sort();
    assert_eq!(ports, (40000..40005).collect::<Vec<_>>());
    assert!(out
        .iter()
        .all(|e| e.info.state == "established" && e.role == "server" && e.worker == 0));
    assert!(out.iter().all(|e| e.info.srtt_us.is_some()));
}

#[test]
fn a_small_response_lands_in_the_first_latency_bucket() {
    let mut net = Net::new(1, HostConfig::default());
    let i = net.connect(40100);
    net.run_for(Duration::from_millis(100));
    net.clients[i]
        .0
        .send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    net.run_for(Duration::from_millis(200));
    let l = net.hosts[0].gauges().latency;
    assert_eq!(l.count, 2, "a sample per request");
    assert_eq!(
        l.buckets[0], 2,
        "handed to TCP in the turn that parsed them"
    );
}

/// What one chunk of a listing costs the worker (run by hand, `--ignored --nocapture` in
/// release; docs/performance.md): 2,000 connections listed 256 slots at a time.
#[test]
#[ignore]
fn listing_cost() {
    let mut net = Net::new(1, HostConfig::default());
    for port in 0..2000u16 {
        net.connect(20000 + port);
    }
    net.run_for(Duration::from_millis(200));
    let h = &net.hosts[0];
    assert_eq!(h.gauges().connections, 2000);
    let mut out = Vec::with_capacity(2000);
    let mut chunks = 0;
    let start = std::time::Instant::now();
    for _ in 0..100 {
        out.clear();
        let mut from = Some(0);
        while let Some(f) = from {
            from = h.list_connections(net.now, f, crate::worker::LIST_CHUNK, &mut out);
            chunks += 1;
        }
    }
    let per_chunk = start.elapsed() / chunks;
    println!(
        "{} connections, {chunks} chunks of {} slots: {per_chunk:?} per chunk",
        out.len(),
        crate::worker::LIST_CHUNK
    );
}

/// RFC 9293 3.10.7.2 (LISTEN, fourth): a segment with none of SYN, ACK or RST to a
/// listening port is dropped (nmap's null, FIN and Xmas probes; Linux drops them), while
/// an ACK to a listener and anything to a closed port are reset.
#[test]
fn a_listener_drops_segments_without_syn_ack_or_rst() {
    let mut net = Net::new(1, HostConfig::default());
    let seg = |flags, dst_port| TcpRepr {
        src_port: 40000,
        dst_port,
        seq: SeqNum(7),
        flags,
        window: 1024,
        ..TcpRepr::default()
    };
    let mut tx = VecTx::default();
    for flags in [
        Flags::NONE,
        Flags::FIN,
        Flags::FIN | Flags::PSH | Flags::URG,
        Flags::PSH,
    ] {
        let d = net.hosts[0].on_segment(net.now, &meta(), &seg(flags, 80), b"", &mut tx);
        assert_eq!(d, Disposition::Dropped, "{flags:?} to a listener");
    }
    assert_eq!(net.hosts[0].stats().listen_dropped, 4);
    let d = net.hosts[0].on_segment(net.now, &meta(), &seg(Flags::ACK, 80), b"", &mut tx);
    assert_eq!(d, Disposition::Reset, "an ACK to a listener is reset");
    let d = net.hosts[0].on_segment(net.now, &meta(), &seg(Flags::NONE, 81), b"", &mut tx);
    assert_eq!(
        d,
        Disposition::Reset,
        "a closed port resets even a null segment"
    );
    assert!(tx.0.is_empty());
}

/// IPv4 identification as Linux 6.x sets it on TCP: 0 in a SYN-ACK, then a counter of
/// the connection's own, one up per segment, from a start that differs per connection
/// (so no peer learns the host's other traffic from it); DF always.
#[test]
fn ip_ids_are_zero_in_syn_acks_and_count_per_connection() {
    let mut net = Net::new(1, HostConfig::default());
    let a = net.connect(40000);
    let b = net.connect(40001);
    net.run_for(Duration::from_millis(100));
    for close in ["keep-alive", "close"] {
        for i in [a, b] {
            let req = format!("GET / HTTP/1.1\r\nHost: x\r\nConnection: {close}\r\n\r\n");
            net.clients[i].0.send(req.as_bytes());
        }
        net.run_for(Duration::from_secs(1));
    }
    let mut starts = Vec::new();
    for port in [40000, 40001] {
        let seen: Vec<_> = net.sent.iter().filter(|s| s.0 == port).collect();
        assert!(seen.len() >= 3, "{seen:?}");
        assert!(seen.iter().all(|s| s.3), "DF on every segment");
        assert_eq!((seen[0].1, seen[0].2), (Flags::SYN | Flags::ACK, 0));
        for w in seen[1..].windows(2) {
            assert_eq!(w[1].2, w[0].2.wrapping_add(1), "{seen:?}");
        }
        starts.push(seen[1].2);
    }
    assert_ne!(starts[0], starts[1], "each connection has its own counter");
}

#[test]
fn the_containers_a_burst_grew_go_back_once_its_connections_are_gone() {
    let mut cfg = HostConfig::default();
    cfg.tcp.time_wait = Duration::from_secs(1);
    let mut net = Net::new(1, cfg);
    let serve_and_close = |net: &mut Net, ports: std::ops::Range<u16>| {
        let first = net.clients.len();
        for p in ports {
            net.connect(p);
        }
        net.run_for(Duration::from_millis(100));
        for i in first..net.clients.len() {
            net.clients[i]
                .0
                .send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        }
        net.run_for(Duration::from_millis(200));
        for i in first..net.clients.len() {
            assert!(
                net.clients[i].1.ends_with(b"hello\n"),
                "client {i} answered"
            );
            net.clients[i].0.close();
        }
        net.run_for(Duration::from_secs(120));
    };
    serve_and_close(&mut net, 40000..40300);
    let h = &mut net.hosts[0];
    assert_eq!((h.connections(), net.table.len()), (0, 0));
    assert!(h.slab.capacity() >= 300 && h.free.len() == 300);
    assert_eq!(
        h.spare_entries.len(),
        64,
        "closed records kept for reuse, bounded"
    );
    let generations = h.generations.clone();
    assert!(h.release_idle_memory(), "nothing held: released");
    assert_eq!((h.slab.capacity(), h.free.capacity()), (0, 0));
    assert_eq!(
        h.spare_entries.capacity(),
        0,
        "the spare records go back too"
    );
    assert_eq!(h.generations, generations, "generations are kept");
    // The next connections take slots from 0 again, with newer generations than the
    // ones a stale handle could carry.
    serve_and_close(&mut net, 41000..41010);
    let h = &mut net.hosts[0];
    assert_eq!(h.slab.len(), 10);
    assert!((0..10).all(|s| h.generations[s] > generations[s]));
    // Not while anything is held.
    net.connect(42000);
    net.run_for(Duration::from_millis(100));
    assert!(!net.hosts[0].release_idle_memory());
    assert_eq!(net.hosts[0].connections(), 1);
}

#[test]
fn a_closed_connections_record_serves_the_next_connection_as_new() {
    let mut cfg = HostConfig::default();
    cfg.tcp.time_wait = Duration::from_secs(1);
    let mut net = Net::new(1, cfg);
    // Closed mid-request: the session holds half a request head, the sent queue data.
    net.connect(40000);
    net.run_for(Duration::from_millis(100));
    net.clients[0]
        .0
        .send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT");
    net.run_for(Duration::from_millis(200));
    assert!(net.clients[0].1.ends_with(b"hello\n"));
    net.clients[0].0.close();
    net.run_for(Duration::from_secs(30));
    assert_eq!(net.hosts[0].connections(), 0);
    assert_eq!(net.hosts[0].spare_entries.len(), 1, "its record is kept");
    // The next connection takes that record: nothing of the last one's state shows.
    net.connect(40001);
    net.run_for(Duration::from_millis(100));
    assert!(
        net.hosts[0].spare_entries.is_empty(),
        "the record was reused"
    );
    net.clients[1].0.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    net.run_for(Duration::from_millis(200));
    let got = String::from_utf8_lossy(&net.clients[1].1).into_owned();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert_eq!(got.matches("HTTP/1.1").count(), 1, "one response: {got}");
    assert!(!got.contains("close"), "keep-alive, as asked: {got}");
    // Served again on the same connection, then closed by the client.
    net.clients[1].0.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    net.run_for(Duration::from_millis(200));
    let got = String::from_utf8_lossy(&net.clients[1].1).into_owned();
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
    assert_eq!(net.hosts[0].stats().accepted, 2);
}

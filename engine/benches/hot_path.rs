//! Hot-path microbenchmarks: frame parse, checksum, HTTP request parse, and one whole
//! request through two instances of the engine linked without a NIC (client and server
//! hosts exchanging real Ethernet frames: framing, checksums, parsing, TCP, HTTP).
//!
//!     cargo bench -p fastpath-engine --bench hot_path
//!
//! The socket table has its own bench (`socket_table`: 2 threads, 1k/64k/1M entries).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fastpath_engine::app::{App, ConnId, Event, Net};
use fastpath_engine::host::{Host, HostConfig, Tx};
use fastpath_engine::http::Site;
use fastpath_engine::iface::{Action, Iface, OurAddr};
use fastpath_engine::table::SocketTable;
use fastpath_engine::tcp::cc::Algorithm;
use fastpath_engine::tcp::TcpConfig;
use fastpath_engine::time::Instant;
use fastpath_engine::wire::arp::{ArpRepr, Op};
use fastpath_engine::wire::checksum;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CMAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SMAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n";

#[derive(Default)]
struct Frames(Vec<Vec<u8>>, Vec<Vec<u8>>);

impl Tx for Frames {
    fn send(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let mut f = self.1.pop().unwrap_or_else(|| vec![0u8; 2048]);
        f.resize(2048, 0);
        let n = build(&mut f);
        f.truncate(n);
        self.0.push(f);
        true
    }
}

/// The client: one keep-alive connection, one request at a time; counts responses by
/// their bytes (the body is fixed, so each response has the same length).
struct OneAtATime {
    conn: Option<ConnId>,
    ready: bool,
    response_len: usize,
    got: usize,
    done: Arc<Mutex<u64>>,
    buf: Vec<u8>,
}

impl App for OneAtATime {
    fn poll(&mut self, _now: Instant, net: &mut Net<'_>) {
        if self.conn.is_none() {
            self.conn = net.connect(SocketAddrV4::new(SERVER, 80)).ok();
        }
    }
    fn on_event(&mut self, _now: Instant, net: &mut Net<'_>, id: ConnId, ev: Event) {
        match ev {
            Event::Connected => self.ready = true,
            Event::Readable => loop {
                let n = net.recv(id, &mut self.buf);
                if n == 0 {
                    break;
                }
                self.got += n;
                if self.response_len > 0 && self.got >= self.response_len {
                    self.got -= self.response_len;
                    *self.done.lock().unwrap() += 1;
                    self.ready = true;
                }
            },
            _ => {}
        }
    }
}

struct Pair {
    client: Host,
    server: Host,
    ci: Iface,
    si: Iface,
    app: OneAtATime,
    to_server: Frames,
    to_client: Frames,
    now: Instant,
}

impl Pair {
    fn new(cc: Algorithm) -> Pair {
        let mk = |w: u16, mac, ip, listen: &[std::net::SocketAddr]| {
            let tcp = TcpConfig {
                cc,
                ..TcpConfig::default()
            };
            Host::new(
                w,
                mac,
                HostConfig {
                    addrs: vec![(ip, 24)],
                    tcp,
                    ..HostConfig::default()
                },
                listen,
                Arc::new(Site::hello()),
                Arc::new(SocketTable::new()),
                fastpath_engine::tcp::Secrets::from_master([w as u8 + 3; 32]),
            )
        };
        let our = |addr| {
            vec![OurAddr {
                addr,
                prefix: 24,
                owned: true,
            }]
        };
        let mut p = Pair {
            client: mk(0, CMAC, CLIENT, &[]),
            server: mk(0, SMAC, SERVER, &[SocketAddrV4::new(SERVER, 80).into()]),
            ci: Iface::new(CMAC, our(CLIENT)),
            si: Iface::new(SMAC, our(SERVER)),
            app: OneAtATime {
                conn: None,
                ready: false,
                response_len: 0,
                got: 0,
                done: Arc::new(Mutex::new(0)),
                buf: vec![0; 65536],
            },
            to_server: Frames::default(),
            to_client: Frames::default(),
            now: Instant::from_secs(1),
        };
        p.server.set_date(1_795_392_000);
        let reply = ArpRepr {
            op: Op::Reply,
            sender_mac: SMAC,
            sender_ip: SERVER,
            target_mac: CMAC,
            target_ip: CLIENT,
        };
        p.client.on_arp(p.now, &reply, &mut p.to_server);
        p.to_server.0.clear();
        // Handshake, then learn the response's length from a first exchange.
        p.pump();
        assert!(p.app.ready, "connected");
        p.request();
        p.app.response_len = p.app.got;
        p.app.got = 0;
        p
    }

    /// Moves frames both ways until nothing is left.
    fn pump(&mut self) {
        for _ in 0..64 {
            self.client
                .run_app(self.now, &mut self.app, &mut self.to_server);
            if self.to_server.0.is_empty() && self.to_client.0.is_empty() {
                break;
            }
            deliver(
                &mut self.to_server,
                &mut self.si,
                &mut self.server,
                &mut self.to_client,
                self.now,
            );
            deliver(
                &mut self.to_client,
                &mut self.ci,
                &mut self.client,
                &mut self.to_server,
                self.now,
            );
            self.now += Duration::from_micros(20);
        }
    }

    fn request(&mut self) {
        let id = self.app.conn.unwrap();
        self.app.ready = false;
        struct Send(ConnId);
        impl App for Send {
            fn poll(&mut self, _now: Instant, net: &mut Net<'_>) {
                net.send(self.0, REQUEST);
            }
            fn on_event(&mut self, _: Instant, _: &mut Net<'_>, _: ConnId, _: Event) {}
        }
        self.client
            .run_app(self.now, &mut Send(id), &mut self.to_server);
        self.pump();
        // Let delayed ACKs and timers run, as a worker's loop would.
        if self.server.next_deadline().is_some_and(|t| t <= self.now) {
            self.server.poll_timers(self.now, &mut self.to_client);
        }
        if self.client.next_deadline().is_some_and(|t| t <= self.now) {
            self.client.poll_timers(self.now, &mut self.to_server);
        }
        self.pump();
    }
}

fn deliver(q: &mut Frames, iface: &mut Iface, host: &mut Host, back: &mut Frames, now: Instant) {
    for mut f in std::mem::take(&mut q.0) {
        let len = f.len();
        f.resize(2048, 0);
        if let Action::Tcp(t) = iface.handle(&mut f, len) {
            let payload = f[t.payload.0..t.payload.1].to_vec();
            host.on_segment(now, &t.meta, &t.repr, &payload, back);
        }
        q.1.push(f);
    }
}

/// A TCP frame from the server to the client with `payload` bytes.
fn tcp_frame(payload: usize) -> Vec<u8> {
    let body = vec![b'x'; payload];
    let mut f = vec![0u8; 2048];
    let eth = fastpath_engine::wire::ethernet::emit(
        &mut f,
        CMAC,
        SMAC,
        None,
        fastpath_engine::wire::ethernet::EtherType::Ipv4,
    );
    let repr = fastpath_engine::wire::tcp::TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq: fastpath_engine::tcp::SeqNum(1000),
        ack: fastpath_engine::tcp::SeqNum(2000),
        flags: fastpath_engine::wire::tcp::Flags::ACK,
        window: 1000,
        urgent: 0,
        options: Default::default(),
        ecn: 0,
    };
    let at = eth + 20;
    let hl = repr.header_len();
    f[at + hl..at + hl + payload].copy_from_slice(&body);
    let seg = repr.emit(&mut f[at..], payload, SERVER, CLIENT);
    fastpath_engine::wire::ipv4::Ipv4Repr {
        src: SERVER,
        dst: CLIENT,
        protocol: fastpath_engine::wire::ipv4::PROTO_TCP,
        ttl: 64,
        ident: 1,
        payload_len: seg,
        ecn: 0,
    }
    .emit(&mut f[eth..]);
    f.truncate(at + seg);
    f
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_parse");
    for (name, payload) in [("ack_54B", 0usize), ("data_1514B", 1460)] {
        let frame = tcp_frame(payload);
        let mut iface = Iface::new(
            CMAC,
            vec![OurAddr {
                addr: CLIENT,
                prefix: 24,
                owned: true,
            }],
        );
        let mut buf = vec![0u8; 2048];
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| {
                buf[..frame.len()].copy_from_slice(&frame);
                let a = iface.handle(&mut buf, frame.len());
                assert!(matches!(a, Action::Tcp(_)));
                a
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("checksum");
    for n in [64usize, 1460] {
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(format!("{n}B"), |b| {
            b.iter(|| checksum::sum(std::hint::black_box(&data)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("http");
    g.bench_function("request_parse_httparse", |b| {
        b.iter(|| {
            let mut headers = [httparse_header(); 32];
            let mut r = httparse::Request::new(&mut headers);
            r.parse(std::hint::black_box(REQUEST))
                .unwrap()
                .is_complete()
        })
    });
    g.finish();

    // The responder alone: a request already in the server connection's receive buffer;
    // timed is `Session::drive` (parse, answer, response head and body into the send
    // buffer). Moving segments between the two connections happens outside the timing.
    g_http_drive(c);

    let mut g = c.benchmark_group("stack");
    g.throughput(Throughput::Elements(1));
    // Both ends run the same congestion control: CUBIC (the default) and BBR, whose
    // per-ACK model update (delivery-rate sample, filters) is the difference.
    for (name, cc) in [
        ("whole_request_keepalive", Algorithm::Cubic),
        ("whole_request_keepalive_bbr", Algorithm::Bbr),
    ] {
        let mut p = Pair::new(cc);
        let done = p.app.done.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                let before = *done.lock().unwrap();
                p.request();
                assert_eq!(
                    *done.lock().unwrap(),
                    before + 1,
                    "one response per request"
                );
            })
        });
    }
    g.finish();
}

fn g_http_drive(c: &mut Criterion) {
    use fastpath_engine::http::{HttpConfig, Session};
    use fastpath_engine::tcp::{Conn, FourTuple, SeqNum, TcpConfig};
    let cli = SocketAddrV4::new(CLIENT, 40000);
    let srv = SocketAddrV4::new(SERVER, 80);
    let tcp = TcpConfig::default();
    let mut now = Instant::from_secs(10);
    let mut scratch = vec![0u8; 65536];
    let mut client = Conn::connect(
        &tcp,
        FourTuple {
            local: cli,
            remote: srv,
        },
        SeqNum(1),
        now,
    );
    let (syn, _) = client.poll_transmit(now, &mut scratch).unwrap();
    let mut server = Conn::accept(
        &tcp,
        FourTuple {
            local: srv,
            remote: cli,
        },
        &syn,
        SeqNum(9),
        now,
    );
    let shuttle = |from: &mut Conn, to: &mut Conn, now: Instant, scratch: &mut Vec<u8>| {
        while let Some((r, n)) = from.poll_transmit(now, scratch) {
            let payload = scratch[..n].to_vec();
            to.on_segment(now, &r, &payload);
        }
    };
    for _ in 0..4 {
        shuttle(&mut client, &mut server, now, &mut scratch);
        shuttle(&mut server, &mut client, now, &mut scratch);
    }
    let site = Site::hello();
    let cfg = HttpConfig::default();
    let date = *b"Mon, 23 Nov 2026 10:00:00 GMT";
    let mut session = Session::new(now);
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_parse_and_response_write", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                client.send(REQUEST);
                shuttle(&mut client, &mut server, now, &mut scratch);
                let t = std::time::Instant::now();
                session.drive(now, &mut server, &site, &cfg, &date);
                timed += t.elapsed();
                shuttle(&mut server, &mut client, now, &mut scratch);
                while client.recv(&mut scratch) > 0 {}
                shuttle(&mut client, &mut server, now, &mut scratch);
                now += Duration::from_micros(10);
            }
            timed
        })
    });
    g.finish();
}

fn httparse_header() -> httparse::Header<'static> {
    httparse::EMPTY_HEADER
}

criterion_group! {
    name = hot;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(hot);

//! The engine as a client: connections opened by an application, to the engine's own
//! addresses in memory (the loopback fast path) and to a next hop resolved by ARP. Driven
//! in virtual time, several hosts sharing one socket table, the way workers do.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::app::{App, Closed, ConnId, ConnectError, Event, Net};
use crate::io::memory::MemDevice;
use crate::load::{LoadApp, LoadConfig, LoadReport, Progress};
use crate::testing::{link, EngineSpec, LinkConfig, Sim};
use crate::wire::arp::Op;

const MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Workers in memory: each a host, an optional app, a NIC (frames collected, never
/// delivered) and a bounded loopback inbox.
struct Engine {
    now: Instant,
    hosts: Vec<Host>,
    apps: Vec<Option<Box<dyn App>>>,
    nic: Vec<VecTx>,
    inbox: Vec<std::collections::VecDeque<LoopSegment>>,
    inbox_depth: usize,
    inbox_dropped: u64,
    table: Arc<SocketTable>,
}

impl Engine {
    fn new(workers: u16, inbox_depth: usize, cfg: HostConfig) -> Engine {
        let table = Arc::new(SocketTable::new());
        let cfg = HostConfig {
            workers,
            addrs: vec![(US, 24)],
            ..cfg
        };
        let hosts = (0..workers)
            .map(|w| {
                Host::new(
                    w,
                    MAC,
                    cfg.clone(),
                    &[SocketAddrV4::new(US, 80)],
                    Arc::new(Site::body("hello\n")),
                    table.clone(),
                    Secrets::from_master([7; 32]),
                )
            })
            .collect();
        Engine {
            now: Instant::from_secs(10),
            hosts,
            apps: (0..workers).map(|_| None).collect(),
            nic: (0..workers).map(|_| VecTx::default()).collect(),
            inbox: (0..workers).map(|_| Default::default()).collect(),
            inbox_depth,
            inbox_dropped: 0,
            table,
        }
    }

    /// One loop iteration of every worker, then time moves by `step`.
    fn step(&mut self, step: Duration) {
        for w in 0..self.hosts.len() {
            let h = &mut self.hosts[w];
            let tx = &mut self.nic[w];
            while let Some(seg) = self.inbox[w].pop_front() {
                h.on_loopback(self.now, seg, tx);
            }
            if h.next_deadline().is_some_and(|t| t <= self.now) {
                h.poll_timers(self.now, tx);
            }
            if let Some(app) = self.apps[w].as_mut() {
                h.run_app(self.now, app.as_mut(), tx);
            }
            for seg in std::mem::take(h.loopback_out()) {
                let q = &mut self.inbox[seg.to as usize];
                if q.len() >= self.inbox_depth {
                    self.inbox_dropped += 1;
                } else {
                    q.push_back(seg);
                }
            }
        }
        self.now += step;
    }

    fn run(&mut self, d: Duration, step: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.step(step);
        }
    }

    fn nic_frames(&self) -> usize {
        self.nic.iter().map(|t| t.0.len()).sum()
    }

    fn held(&self) -> usize {
        self.hosts.iter().map(|h| h.connections()).sum()
    }
}

fn load(
    target: SocketAddrV4,
    connections: usize,
    close: bool,
) -> (LoadApp, Arc<Mutex<LoadReport>>) {
    let out = Arc::new(Mutex::new(LoadReport::default()));
    let app = LoadApp::new(
        LoadConfig {
            target,
            host: target.to_string(),
            path: "/".into(),
            connections,
            duration: Duration::from_secs(2),
            pipeline: 2,
            rate: None,
            close,
            timeout: Duration::from_secs(5),
        },
        Arc::new(Progress::default()),
        out.clone(),
    );
    (app, out)
}

/// `workers` real workers of one engine, each running a load generator against `target`
/// (one of the engine's own addresses: every segment takes the loopback inboxes, of
/// `inbox_depth` each), in virtual time (`crate::testing`).
fn self_load(
    workers: u16,
    inbox_depth: usize,
    target: SocketAddrV4,
    close: bool,
) -> (Sim, LoadReport) {
    let mut spec = EngineSpec::server(US, MAC);
    spec.loop_depth = inbox_depth;
    let devices: Vec<MemDevice> = (0..workers)
        .map(|_| link(LinkConfig::default()).0)
        .collect();
    let mut apps: Vec<Option<Box<dyn App>>> = Vec::new();
    let mut outs = Vec::new();
    for _ in 0..workers {
        let (app, out) = load(target, 8, close);
        apps.push(Some(Box::new(app)));
        outs.push(out);
    }
    let mut sim = Sim::new();
    sim.add_engine(spec, devices, apps);
    sim.run_for(Duration::from_secs(3));
    // Let the last FINs, retransmissions (backed off, after drops at a tiny inbox) and
    // TIME_WAITs (60 s) finish.
    sim.run_for(Duration::from_secs(200));
    let mut total = LoadReport::default();
    for o in outs {
        total.merge(&o.lock().unwrap());
    }
    sim.assert_frames_settled();
    (sim, total)
}

/// What the engine's workers counted, summed.
fn counted(sim: &mut Sim) -> crate::stats::Counters {
    let mut sum = crate::stats::Counters::default();
    for w in &mut sim.workers {
        sum.add(&w.counters());
    }
    sum
}

fn host(sim: &Sim, w: usize) -> &Host {
    sim.workers[w].host().expect("a host")
}

#[test]
fn self_load_within_one_worker_never_touches_the_nic() {
    let (mut e, r) = self_load(1, 4096, SocketAddrV4::new(US, 80), false);
    assert!(r.requests > 1000, "{}", r.render());
    assert_eq!(r.error_count(), 0, "{}", r.render());
    assert_eq!(r.non_2xx, 0);
    assert_eq!(counted(&mut e).tx_frames, 0, "no frame for the NIC");
    let s = host(&e, 0).stats();
    // The client stops counting at the end of the run; a pipelined request or two per
    // connection may have been answered after that.
    assert!(
        s.http.responses_2xx >= r.requests && s.http.responses_2xx <= r.requests + 16,
        "server answered {} for {} counted",
        s.http.responses_2xx,
        r.requests
    );
    assert!(s.loopback_out > 0 && s.loopback_out == s.loopback_in);
    assert_eq!(
        (e.connections(), e.tables[0].len()),
        (0, 0),
        "every connection reclaimed"
    );
}

#[test]
fn self_load_across_two_workers() {
    let (mut e, r) = self_load(2, 4096, SocketAddrV4::new(US, 80), false);
    assert!(r.requests > 1000, "{}", r.render());
    assert_eq!(r.error_count(), 0, "{}", r.render());
    assert_eq!(counted(&mut e).tx_frames, 0);
    // Some client connections were served by the other worker.
    let served: Vec<u64> = (0..2).map(|w| host(&e, w).stats().accepted).collect();
    assert!(
        served.iter().all(|&a| a > 0),
        "both workers accepted: {served:?}"
    );
    let answered: u64 = (0..2).map(|w| host(&e, w).stats().http.responses_2xx).sum();
    assert!(
        answered >= r.requests,
        "nothing counted twice: {answered} >= {}",
        r.requests
    );
    assert_eq!((e.connections(), e.tables[0].len()), (0, 0));
}

#[test]
fn connection_per_request_to_127_0_0_1() {
    let (mut e, r) = self_load(2, 4096, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80), true);
    assert!(r.requests > 500, "{}", r.render());
    assert_eq!(r.error_count(), 0, "{}", r.render());
    assert!(r.connects >= r.requests, "one connection per request");
    // 60 s of TIME_WAIT on the server side and 4,000 local ports: ports came back while
    // their server end was still in TIME_WAIT, and the new SYN took it over.
    assert!(r.connects > 4000, "{} connects", r.connects);
    assert_eq!(counted(&mut e).tx_frames, 0);
    assert_eq!((e.connections(), e.tables[0].len()), (0, 0));
}

#[test]
fn a_tiny_inbox_drops_like_a_link_and_tcp_recovers() {
    let (mut e, r) = self_load(2, 3, SocketAddrV4::new(US, 80), false);
    assert!(counted(&mut e).loopback_dropped > 0, "the inbox filled up");
    assert!(r.requests > 50, "{}", r.render());
    // Every request sent was answered. A SYN dropped at the full inbox waits for its
    // retransmission (1 s, then 3 s): a connection still waiting at the end is reported
    // as not connected, which loses no request.
    let lost: u64 = r
        .errors
        .iter()
        .filter(|(k, _)| !k.starts_with("not connected"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(lost, 0, "{}", r.render());
    let answered: u64 = (0..2).map(|w| host(&e, w).stats().http.responses_2xx).sum();
    // Every response the client counted was sent once by a server; nothing duplicated
    // (at most the two pipelined requests per connection in flight at the end).
    assert!(answered >= r.requests && answered <= r.requests + 32);
    assert_eq!((e.connections(), e.tables[0].len()), (0, 0));
}

/// An app that opens one connection and records what happens to it.
struct Probe {
    target: SocketAddrV4,
    id: Option<Result<ConnId, ConnectError>>,
    events: Arc<Mutex<Vec<Event>>>,
}

impl App for Probe {
    fn poll(&mut self, _now: Instant, net: &mut Net<'_>) {
        if self.id.is_none() {
            self.id = Some(net.connect(self.target));
        }
    }
    fn on_event(&mut self, _now: Instant, _net: &mut Net<'_>, _id: ConnId, ev: Event) {
        self.events.lock().unwrap().push(ev);
    }
}

fn probe(e: &mut Engine, target: SocketAddrV4) -> Arc<Mutex<Vec<Event>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    e.apps[0] = Some(Box::new(Probe {
        target,
        id: None,
        events: events.clone(),
    }));
    events
}

#[test]
fn a_next_hop_nobody_answers_fails_cleanly_after_the_arp_retries() {
    let mut e = Engine::new(1, 64, HostConfig::default());
    let events = probe(&mut e, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 80));
    e.run(Duration::from_millis(2500), Duration::from_millis(10));
    // Requests so far, broadcast, for the unanswered address; no TCP segment.
    let frames = &e.nic[0].0;
    assert!(
        !frames.is_empty() && frames.len() <= 3,
        "{} frames",
        frames.len()
    );
    for f in frames {
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(u16::from_be_bytes([f[12], f[13]]), 0x0806);
        let a = ArpRepr::parse(&f[14..]).unwrap();
        assert_eq!(
            (a.op, a.target_ip, a.sender_ip),
            (Op::Request, Ipv4Addr::new(10, 0, 0, 77), US)
        );
    }
    assert!(events.lock().unwrap().is_empty(), "still resolving");
    e.run(Duration::from_secs(2), Duration::from_millis(10));
    assert_eq!(
        *events.lock().unwrap(),
        vec![Event::Closed(Closed::Unreachable(Ipv4Addr::new(
            10, 0, 0, 77
        )))]
    );
    assert_eq!(e.nic[0].0.len(), 3, "three requests, then it gave up");
    assert_eq!((e.held(), e.table.len()), (0, 0), "no leaked state");
    assert_eq!(e.hosts[0].stats().unreachable, 1);
    assert_eq!(e.hosts[0].next_deadline(), None, "nothing left to wake for");
}

#[test]
fn an_arp_answer_releases_the_syn_to_the_resolved_mac() {
    let mut e = Engine::new(1, 64, HostConfig::default());
    let peer = Ipv4Addr::new(10, 0, 0, 9);
    let peer_mac = [2, 0, 0, 0, 0, 9];
    let events = probe(&mut e, SocketAddrV4::new(peer, 8080));
    e.step(Duration::from_millis(1));
    assert_eq!(e.nic[0].0.len(), 1, "one ARP request");
    e.nic[0].0.clear();
    let reply = ArpRepr {
        op: Op::Reply,
        sender_mac: peer_mac,
        sender_ip: peer,
        target_mac: MAC,
        target_ip: US,
    };
    let now = e.now;
    e.hosts[0].on_arp(now, &reply, &mut e.nic[0]);
    let frames = std::mem::take(&mut e.nic[0].0);
    assert_eq!(frames.len(), 1, "the SYN left");
    let f = &frames[0];
    assert_eq!(&f[0..6], &peer_mac);
    let ip = crate::wire::ipv4::Packet::new_checked(&f[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (US, peer));
    let seg = crate::wire::tcp::TcpPacket::parse(&f[34..], US, peer).unwrap();
    assert!(seg.repr.flags.syn() && !seg.repr.flags.ack());
    assert_eq!(seg.repr.dst_port, 8080);
    assert!(
        (61000..=64999).contains(&seg.repr.src_port),
        "from the local port range"
    );
    assert!(seg.repr.options.mss.is_some() && seg.repr.options.sack_permitted);
    assert!(events.lock().unwrap().is_empty());
}

#[test]
fn connect_errors_say_why() {
    let mut e = Engine::new(1, 64, HostConfig::default());
    let now = e.now;
    let far = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80);
    assert_eq!(
        e.hosts[0].connect(now, far, &mut e.nic[0]),
        Err(ConnectError::NoRoute(*far.ip()))
    );
    // With a gateway the same destination resolves the gateway instead.
    let cfg = HostConfig {
        gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
        ..HostConfig::default()
    };
    let mut e = Engine::new(1, 64, cfg);
    assert!(e.hosts[0].connect(now, far, &mut e.nic[0]).is_ok());
    let a = ArpRepr::parse(&e.nic[0].0[0][14..]).unwrap();
    assert_eq!(
        a.target_ip,
        Ipv4Addr::new(10, 0, 0, 1),
        "asks for the gateway"
    );
    // A two-port range towards one destination: the third connect finds no port.
    let cfg = HostConfig {
        local_ports: (50000, 50001),
        ..HostConfig::default()
    };
    let mut e = Engine::new(1, 64, cfg);
    let dst = SocketAddrV4::new(US, 80);
    assert!(e.hosts[0].connect(now, dst, &mut e.nic[0]).is_ok());
    assert!(e.hosts[0].connect(now, dst, &mut e.nic[0]).is_ok());
    assert_eq!(
        e.hosts[0].connect(now, dst, &mut e.nic[0]),
        Err(ConnectError::NoPorts)
    );
}

#[test]
fn refused_when_nothing_listens() {
    let mut e = Engine::new(2, 64, HostConfig::default());
    let events = probe(&mut e, SocketAddrV4::new(US, 81));
    e.run(Duration::from_millis(20), Duration::from_millis(1));
    assert_eq!(
        *events.lock().unwrap(),
        vec![Event::Closed(Closed::Refused)]
    );
    assert_eq!((e.held(), e.table.len(), e.nic_frames()), (0, 0, 0));
}

#[test]
fn an_exhausted_port_range_fails_cleanly_and_ports_return_after_time_wait() {
    let mut cfg = HostConfig {
        local_ports: (50000, 50001),
        ..HostConfig::default()
    };
    cfg.tcp.time_wait = Duration::from_secs(2);
    let mut e = Engine::new(1, 64, cfg);
    let dst = SocketAddrV4::new(US, 80);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let now = e.now;
        ids.push(e.hosts[0].connect(now, dst, &mut e.nic[0]).unwrap());
    }
    e.run(Duration::from_millis(50), Duration::from_millis(1));
    // We close first: our ends go to TIME_WAIT and keep their 4-tuples.
    for &id in &ids {
        assert_eq!(e.hosts[0].client_state(id), Some(State::Established));
        e.hosts[0].client_close(id, false);
    }
    e.hosts[0].flush(e.now, &mut e.nic[0]);
    e.run(Duration::from_millis(500), Duration::from_millis(1));
    for &id in &ids {
        assert_eq!(e.hosts[0].client_state(id), Some(State::TimeWait));
    }
    let now = e.now;
    assert_eq!(
        e.hosts[0].connect(now, dst, &mut e.nic[0]),
        Err(ConnectError::NoPorts),
        "both ports are held by TIME_WAIT"
    );
    assert_eq!(e.held(), 2, "the failed connect left nothing behind");
    e.run(Duration::from_secs(3), Duration::from_millis(10));
    assert_eq!((e.held(), e.table.len()), (0, 0), "TIME_WAIT over");
    let now = e.now;
    let again = e.hosts[0]
        .connect(now, dst, &mut e.nic[0])
        .expect("ports came back");
    e.run(Duration::from_millis(50), Duration::from_millis(1));
    assert_eq!(e.hosts[0].client_state(again), Some(State::Established));
}

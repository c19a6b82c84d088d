//! The engine as a client: connections opened by an application, to the engine's own
//! addresses in memory (the loopback fast path) and to a next hop resolved by ARP. Driven
//! in virtual time, several hosts sharing one socket table, the way workers do.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::app::{App, Closed, ConnId, ConnectError, Event, Net};
use crate::io::memory::MemDevice;
use crate::testing::{link, EngineSpec, LinkConfig, Sim};
use crate::wire::arp::Op;
use crate::wire::ethernet::EtherType;

const MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn host(sim: &Sim, w: usize) -> &Host {
    sim.workers[w].host().expect("a host")
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

/// What happened to a probe's connection.
type Events = Arc<Mutex<Vec<Event>>>;

fn probe(target: SocketAddrV4) -> (Option<Box<dyn App>>, Events) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let app = Probe {
        target,
        id: None,
        events: events.clone(),
    };
    (Some(Box::new(app)), events)
}

/// One engine of `workers` real workers serving on `US`:80 with `apps`; the far end of
/// worker 0's link is returned: what the engine puts on the NIC arrives there.
fn engine(workers: u16, cfg: HostConfig, apps: Vec<Option<Box<dyn App>>>) -> (Sim, MemDevice) {
    let mut spec = EngineSpec::server(US, MAC);
    spec.host = cfg;
    let (dev, far) = link(LinkConfig::default());
    let mut devices = vec![dev];
    devices.extend((1..workers).map(|_| link(LinkConfig::default()).0));
    let mut sim = Sim::new();
    sim.add_engine(spec, devices, apps);
    (sim, far)
}

fn drain(far: &mut MemDevice) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| far.take()).collect()
}

fn host_mut(sim: &mut Sim, w: usize) -> &mut Host {
    sim.workers[w].host_mut().expect("a host")
}

#[test]
fn a_next_hop_nobody_answers_fails_cleanly_after_the_arp_retries() {
    let (app, events) = probe(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 80));
    let (mut e, mut far) = engine(1, HostConfig::default(), vec![app]);
    e.run_for(Duration::from_millis(2500));
    // Requests so far, broadcast, for the unanswered address; no TCP segment.
    let mut frames = drain(&mut far);
    assert!(
        !frames.is_empty() && frames.len() <= 3,
        "{} frames",
        frames.len()
    );
    for f in &frames {
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(u16::from_be_bytes([f[12], f[13]]), 0x0806);
        let a = ArpRepr::parse(&f[14..]).unwrap();
        assert_eq!(
            (a.op, a.target_ip, a.sender_ip),
            (Op::Request, Ipv4Addr::new(10, 0, 0, 77), US)
        );
    }
    assert!(events.lock().unwrap().is_empty(), "still resolving");
    e.run_for(Duration::from_secs(2));
    assert_eq!(
        *events.lock().unwrap(),
        vec![Event::Closed(Closed::Unreachable(
            Ipv4Addr::new(10, 0, 0, 77).into()
        ))]
    );
    frames.extend(drain(&mut far));
    assert_eq!(frames.len(), 3, "three requests, then it gave up");
    assert_eq!(
        (e.connections(), e.tables[0].len()),
        (0, 0),
        "no leaked state"
    );
    assert_eq!(host(&e, 0).stats().unreachable, 1);
    assert_eq!(
        host(&e, 0).next_deadline(),
        None,
        "nothing left to wake for"
    );
    e.assert_frames_settled();
}

#[test]
fn an_arp_answer_releases_the_syn_to_the_resolved_mac() {
    let peer = Ipv4Addr::new(10, 0, 0, 9);
    let peer_mac = [2, 0, 0, 0, 0, 9];
    let (app, events) = probe(SocketAddrV4::new(peer, 8080));
    let (mut e, mut far) = engine(1, HostConfig::default(), vec![app]);
    e.step();
    assert_eq!(drain(&mut far).len(), 1, "one ARP request");
    // The peer answers on the link.
    let reply = ArpRepr {
        op: Op::Reply,
        sender_mac: peer_mac,
        sender_ip: peer,
        target_mac: MAC,
        target_ip: US,
    };
    let mut f = [0u8; 60];
    let at = ethernet::emit(&mut f, MAC, peer_mac, None, EtherType::Arp);
    reply.emit(&mut f[at..]);
    far.inject(&f);
    e.step();
    let frames = drain(&mut far);
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
    let (mut e, _far) = engine(1, HostConfig::default(), vec![]);
    let now = e.now;
    let mut nic = VecTx::default();
    let far = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80);
    assert_eq!(
        host_mut(&mut e, 0).connect(now, far, &mut nic),
        Err(ConnectError::NoRoute((*far.ip()).into()))
    );
    // With a gateway the same destination resolves the gateway instead.
    let cfg = HostConfig {
        gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
        ..HostConfig::default()
    };
    let (mut e, _far) = engine(1, cfg, vec![]);
    assert!(host_mut(&mut e, 0).connect(now, far, &mut nic).is_ok());
    let a = ArpRepr::parse(&nic.0[0][14..]).unwrap();
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
    let (mut e, _far) = engine(1, cfg, vec![]);
    let dst = SocketAddrV4::new(US, 80);
    let h = host_mut(&mut e, 0);
    assert!(h.connect(now, dst, &mut nic).is_ok());
    assert!(h.connect(now, dst, &mut nic).is_ok());
    assert_eq!(h.connect(now, dst, &mut nic), Err(ConnectError::NoPorts));
}

#[test]
fn refused_when_nothing_listens() {
    let (app, events) = probe(SocketAddrV4::new(US, 81));
    let (mut e, mut far) = engine(2, HostConfig::default(), vec![app]);
    e.run_for(Duration::from_millis(20));
    assert_eq!(
        *events.lock().unwrap(),
        vec![Event::Closed(Closed::Refused)]
    );
    assert_eq!(
        (e.connections(), e.tables[0].len(), drain(&mut far).len()),
        (0, 0, 0)
    );
}

#[test]
fn an_exhausted_port_range_fails_cleanly_and_ports_return_after_time_wait() {
    let mut cfg = HostConfig {
        local_ports: (50000, 50001),
        ..HostConfig::default()
    };
    cfg.tcp.time_wait = Duration::from_secs(2);
    let (mut e, _far) = engine(1, cfg, vec![]);
    let dst = SocketAddrV4::new(US, 80);
    let mut nic = VecTx::default();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let now = e.now;
        ids.push(host_mut(&mut e, 0).connect(now, dst, &mut nic).unwrap());
    }
    e.run_for(Duration::from_millis(50));
    // We close first: our ends go to TIME_WAIT and keep their 4-tuples.
    let now = e.now;
    let h = host_mut(&mut e, 0);
    for &id in &ids {
        assert_eq!(h.client_state(id), Some(State::Established));
        h.client_close(id, crate::host::CloseHow::Shutdown);
    }
    h.flush(now, &mut nic);
    e.run_for(Duration::from_millis(500));
    for &id in &ids {
        assert_eq!(host(&e, 0).client_state(id), Some(State::TimeWait));
    }
    let now = e.now;
    assert_eq!(
        host_mut(&mut e, 0).connect(now, dst, &mut nic),
        Err(ConnectError::NoPorts),
        "both ports are held by TIME_WAIT"
    );
    assert_eq!(e.connections(), 2, "the failed connect left nothing behind");
    e.run_for(Duration::from_secs(3));
    assert_eq!(
        (e.connections(), e.tables[0].len()),
        (0, 0),
        "TIME_WAIT over"
    );
    let now = e.now;
    let again = host_mut(&mut e, 0)
        .connect(now, dst, &mut nic)
        .expect("ports came back");
    e.run_for(Duration::from_millis(50));
    assert_eq!(host(&e, 0).client_state(again), Some(State::Established));
    assert!(nic.0.is_empty(), "nothing for the NIC");
}

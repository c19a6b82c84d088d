//! The application's sockets, server side and client side, over an in-memory link and
//! over the loopback fast path, in virtual time: listen, accept with the 4-tuple, echo,
//! half-close, close, the errors an IPv6 address or a foreign address get, and the
//! per-connection options (Nagle, keep-alive), each set against the engine's default.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastpath_engine::app::{App, Closed, ConnId, ConnectError, Event, ListenError, Net};
use fastpath_engine::tcp::Keepalive;
use fastpath_engine::testing::{
    link, EngineSpec, LinkConfig, Sim, CLIENT, CLIENT_MAC, SERVER, SERVER_MAC,
};
use fastpath_engine::time::Instant;

const PORT: u16 = 7;

/// What the server and the client saw.
#[derive(Default, Debug)]
struct Seen {
    listen: Option<Result<(), ListenError>>,
    accepted: Vec<(SocketAddr, SocketAddr)>,
    peer_of_accepted: Option<SocketAddr>,
    echoed: Vec<u8>,
    client_closed: Option<Closed>,
    connect_v6: Option<ConnectError>,
}

/// Listens on 0.0.0.0:7 and sends back whatever arrives, reading in place; closes when
/// the peer has. Optionally also a client of `to`: sends `payload` in pieces, half-closes,
/// and collects the echo until the server closes.
struct Echo {
    seen: Arc<Mutex<Seen>>,
    listening: bool,
    to: Option<SocketAddr>,
    client: Option<ConnId>,
    payload: Vec<u8>,
    sent: usize,
}

impl Echo {
    fn new(seen: Arc<Mutex<Seen>>, to: Option<SocketAddr>, payload: Vec<u8>) -> Echo {
        Echo {
            seen,
            listening: false,
            to,
            client: None,
            payload,
            sent: 0,
        }
    }

    fn push(&mut self, net: &mut Net<'_>, id: ConnId) {
        self.sent += net.send(id, &self.payload[self.sent..]);
        if self.sent == self.payload.len() {
            net.shutdown(id);
        }
    }
}

impl App for Echo {
    fn poll(&mut self, _now: Instant, net: &mut Net<'_>) {
        if !self.listening {
            self.listening = true;
            let r = net.listen(SocketAddr::from(([0, 0, 0, 0], PORT)));
            let mut s = self.seen.lock().unwrap();
            s.listen = Some(r);
            s.connect_v6 = net
                .connect(SocketAddr::from((
                    "2001:db8::99".parse::<Ipv6Addr>().unwrap(),
                    PORT,
                )))
                .err();
        }
        if let (Some(to), None) = (self.to, self.client) {
            self.client = Some(net.connect(to).expect("a route"));
        }
    }

    fn on_event(&mut self, _now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        let is_client = Some(id) == self.client;
        match event {
            Event::Accepted { local, remote } => {
                let mut s = self.seen.lock().unwrap();
                s.accepted.push((local, remote));
                s.peer_of_accepted = net.peer_addr(id);
            }
            Event::Connected | Event::Writable if is_client => self.push(net, id),
            Event::Readable if is_client => {
                let mut buf = [0u8; 3000];
                let n = net.recv(id, &mut buf);
                self.seen
                    .lock()
                    .unwrap()
                    .echoed
                    .extend_from_slice(&buf[..n]);
            }
            Event::Readable | Event::Writable => {
                // Echo: what fits goes back, the rest waits for `Writable`.
                let (a, _) = net.recv_view(id);
                let a = a.to_vec();
                let n = net.send(id, &a);
                net.consume(id, n);
            }
            Event::PeerClosed if is_client => net.close(id),
            Event::PeerClosed => {
                if net.readable(id) == 0 {
                    net.close(id);
                }
            }
            Event::Closed(how) if is_client => self.seen.lock().unwrap().client_closed = Some(how),
            Event::Connected | Event::Closed(_) => {}
        }
    }
}

fn payload() -> Vec<u8> {
    (0..600_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn an_echo_server_over_a_link_sees_its_peer_and_echoes_every_byte() {
    let (c, s) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let srv_seen = Arc::new(Mutex::new(Seen::default()));
    let cli_seen = Arc::new(Mutex::new(Seen::default()));
    let server = Echo::new(srv_seen.clone(), None, Vec::new());
    let to = SocketAddr::from((SERVER, PORT));
    let client = Echo::new(cli_seen.clone(), Some(to), payload());
    sim.add_engine(
        EngineSpec::client(CLIENT, CLIENT_MAC),
        vec![c],
        vec![Some(Box::new(client))],
    );
    sim.add_engine(
        EngineSpec::client(SERVER, SERVER_MAC),
        vec![s],
        vec![Some(Box::new(server))],
    );
    let until = sim.now + Duration::from_secs(20);
    let done = sim.run_until(until, |_| cli_seen.lock().unwrap().client_closed.is_some());
    assert!(
        done,
        "the exchange ends: {:?} {}",
        srv_seen.lock().unwrap(),
        cli_seen.lock().unwrap().echoed.len()
    );
    let srv = srv_seen.lock().unwrap();
    assert_eq!(srv.listen, Some(Ok(())));
    assert_eq!(srv.accepted.len(), 1);
    let (local, remote) = srv.accepted[0];
    assert_eq!(local, to);
    assert_eq!(remote.ip(), std::net::IpAddr::V4(CLIENT));
    assert_eq!(srv.peer_of_accepted, Some(remote));
    let cli = cli_seen.lock().unwrap();
    assert_eq!(cli.client_closed, Some(Closed::Normal));
    assert!(cli.echoed == payload(), "{} bytes echoed", cli.echoed.len());
    // An engine without IPv6 addresses has nothing to connect from.
    assert_eq!(srv.connect_v6, Some(ConnectError::NoAddress));
}

#[test]
fn the_same_api_over_the_loopback_fast_path() {
    let (dev, _unused) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, PORT));
    let app = Echo::new(seen.clone(), Some(to), payload());
    let w = sim.add_engine(
        EngineSpec::client(SERVER, SERVER_MAC),
        vec![dev],
        vec![Some(Box::new(app))],
    )[0];
    let until = sim.now + Duration::from_secs(20);
    assert!(sim.run_until(until, |_| seen.lock().unwrap().client_closed.is_some()));
    let s = seen.lock().unwrap();
    assert_eq!(s.accepted.len(), 1);
    assert_eq!(
        s.accepted[0].0,
        SocketAddr::from((Ipv4Addr::LOCALHOST, PORT))
    );
    assert!(s.echoed == payload(), "{} bytes echoed", s.echoed.len());
    assert_eq!(
        sim.workers[w].counters().tx_frames,
        0,
        "nothing left for the NIC"
    );
}

/// Listens as told and records the answers.
struct Listens(Vec<SocketAddr>, Arc<Mutex<Vec<Result<(), ListenError>>>>);

impl App for Listens {
    fn poll(&mut self, _now: Instant, net: &mut Net<'_>) {
        for a in std::mem::take(&mut self.0) {
            let r = net.listen(a);
            self.1.lock().unwrap().push(r);
        }
    }
    fn on_event(&mut self, _: Instant, _: &mut Net<'_>, _: ConnId, _: Event) {}
}

#[test]
fn listening_refuses_what_it_cannot_do_with_a_reason() {
    let (dev, _far) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let out = Arc::new(Mutex::new(Vec::new()));
    let asks = vec![
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 9)),
        SocketAddr::from((Ipv4Addr::new(10, 9, 9, 9), 9)),
        SocketAddr::from((SERVER, 0)),
        SocketAddr::from((SERVER, 80)), // the HTTP responder's
        SocketAddr::V4(SocketAddrV4::new(SERVER, 9)),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9)),
    ];
    let app = Listens(asks, out.clone());
    sim.add_engine(
        EngineSpec::server(SERVER, SERVER_MAC),
        vec![dev],
        vec![Some(Box::new(app))],
    );
    sim.run_for(Duration::from_millis(1));
    let got = out.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            Err(ListenError::NoAddress),
            Err(ListenError::NotOurs(SocketAddr::from((
                Ipv4Addr::new(10, 9, 9, 9),
                9
            )))),
            Err(ListenError::NoPort),
            Err(ListenError::InUse(SocketAddr::from((SERVER, 80)))),
            Ok(()),
            Err(ListenError::InUse(SocketAddr::from((SERVER, 9)))),
        ]
    );
}

/// What a client with options saw, and what its peer received, each piece with its time.
#[derive(Default, Debug)]
struct Log {
    connected_at: Option<Instant>,
    closed: Option<Closed>,
    /// Everything received so far, each time it grew.
    received: Vec<(Instant, Vec<u8>)>,
}

impl Log {
    /// Everything received by `t`.
    fn received_by(&self, t: Instant) -> Vec<u8> {
        let mut by = self.received.iter().filter(|(at, _)| *at <= t);
        by.next_back().map_or(Vec::new(), |(_, b)| b.clone())
    }
}

/// Connects to `to`; once connected sets the options it was given (`None`: left alone)
/// and writes each of `writes` that long after the connection was made.
struct Optioned {
    to: SocketAddr,
    nagle: Option<bool>,
    keepalive: Option<Option<Keepalive>>,
    writes: Vec<(Duration, &'static [u8])>,
    conn: Option<ConnId>,
    log: Arc<Mutex<Log>>,
}

impl Optioned {
    fn write_due(&mut self, now: Instant, net: &mut Net<'_>) {
        let (Some(id), Some(at)) = (self.conn, self.log.lock().unwrap().connected_at) else {
            return;
        };
        while let Some(&(d, bytes)) = self.writes.first() {
            if at + d > now {
                break;
            }
            assert_eq!(net.send(id, bytes), bytes.len());
            self.writes.remove(0);
        }
    }
}

impl App for Optioned {
    fn poll(&mut self, now: Instant, net: &mut Net<'_>) {
        if self.conn.is_none() {
            self.conn = Some(net.connect(self.to).expect("a route"));
        }
        self.write_due(now, net);
    }

    fn poll_at(&self) -> Option<Instant> {
        let at = self.log.lock().unwrap().connected_at?;
        self.writes.first().map(|&(d, _)| at + d)
    }

    fn on_event(&mut self, now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        match event {
            Event::Connected => {
                if let Some(on) = self.nagle {
                    net.set_nagle(id, on);
                }
                if let Some(k) = self.keepalive {
                    net.set_keepalive(id, k);
                }
                self.log.lock().unwrap().connected_at = Some(now);
                self.write_due(now, net);
            }
            Event::Closed(how) => self.log.lock().unwrap().closed = Some(how),
            _ => {}
        }
    }
}

/// Listens on 0.0.0.0:7 and logs what has arrived whenever it changes, reading it in
/// place: nothing is consumed, so the reading itself sends nothing (no window update).
/// With `greet`, writes one byte to each connection it accepts.
struct Sink {
    log: Arc<Mutex<Log>>,
    listening: bool,
    conn: Option<ConnId>,
    greet: bool,
}

impl Sink {
    fn look(&mut self, now: Instant, net: &mut Net<'_>) {
        let Some(id) = self.conn else { return };
        let (a, b) = net.recv_view(id);
        let all = [a, b].concat();
        let mut log = self.log.lock().unwrap();
        if log.received.last().is_none_or(|(_, l)| *l != all) {
            log.received.push((now, all));
        }
    }
}

impl App for Sink {
    fn poll(&mut self, now: Instant, net: &mut Net<'_>) {
        if !self.listening {
            self.listening = true;
            net.listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                .expect("listen");
        }
        self.look(now, net);
    }

    fn on_event(&mut self, now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        if let Event::Accepted { .. } = event {
            self.conn = Some(id);
            if self.greet {
                net.send(id, b"!");
            }
        }
        self.look(now, net);
    }
}

/// A client engine (its default TCP settings changed by `client_tcp`) running `client`,
/// and a server engine that delays every ACK by its 40 ms (no quick ACKs) running a sink
/// (greeting with a byte if `greet`). Returns the simulation, the client's worker and the
/// server's.
fn optioned_pair(
    client: Optioned,
    sink: Arc<Mutex<Log>>,
    greet: bool,
    client_tcp: impl FnOnce(&mut fastpath_engine::tcp::TcpConfig),
) -> (Sim, usize, usize) {
    let (c, s) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let mut cspec = EngineSpec::client(CLIENT, CLIENT_MAC);
    client_tcp(&mut cspec.host.tcp);
    let mut sspec = EngineSpec::client(SERVER, SERVER_MAC);
    sspec.host.tcp.quickacks = 0;
    let cw = sim.add_engine(cspec, vec![c], vec![Some(Box::new(client))])[0];
    let sw = sim.add_engine(
        sspec,
        vec![s],
        vec![Some(Box::new(Sink {
            log: sink,
            listening: false,
            conn: None,
            greet,
        }))],
    )[0];
    (sim, cw, sw)
}

/// Writes "a" when connected and "b" 1 ms later, with `Net::set_nagle(on)` against the
/// engine's default of `!on`. Returns what the peer had 20 ms after the connection was
/// made (its delayed ACK of "a" is due at 40 ms) and 100 ms after.
fn two_runts(on: bool) -> (Vec<u8>, Vec<u8>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let sink = Arc::new(Mutex::new(Log::default()));
    let client = Optioned {
        to: SocketAddr::from((SERVER, PORT)),
        nagle: Some(on),
        keepalive: None,
        writes: vec![(Duration::ZERO, b"a"), (Duration::from_millis(1), b"b")],
        conn: None,
        log: log.clone(),
    };
    let (mut sim, _, _) = optioned_pair(client, sink.clone(), false, |t| t.nagle = !on);
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, |_| log.lock().unwrap().connected_at.is_some()));
    let t0 = log.lock().unwrap().connected_at.unwrap();
    sim.run_until(t0 + Duration::from_millis(20), |_| false);
    let early = sink
        .lock()
        .unwrap()
        .received_by(t0 + Duration::from_millis(20));
    sim.run_until(t0 + Duration::from_millis(100), |_| false);
    let late = sink
        .lock()
        .unwrap()
        .received_by(t0 + Duration::from_millis(100));
    (early, late)
}

#[test]
fn nagle_on_holds_a_second_runt_until_the_first_is_acknowledged() {
    // RFC 896: "b" waits while "a" is unacknowledged, and leaves with the peer's ACK.
    let (early, late) = two_runts(true);
    assert_eq!(early, b"a", "only the first runt before the ACK");
    assert_eq!(late, b"ab", "the second after it");
}

#[test]
fn nagle_off_sends_both_runts_at_once() {
    // TCP_NODELAY: "b" leaves when written, without waiting for the ACK of "a".
    let (early, late) = two_runts(false);
    assert_eq!(early, b"ab");
    assert_eq!(late, b"ab");
}

const PROBING: Keepalive = Keepalive {
    idle: Duration::from_secs(30),
    interval: Duration::from_secs(5),
    probes: 3,
};

/// Connects with `Net::set_keepalive(keepalive)` (the engine's default being the other
/// one) and writes nothing; the server writes a byte when it accepts (a segment after the
/// handshake, which restarts the keep-alive timer whichever way it was set). Once that has
/// settled the server vanishes: its worker is taken out and what the client sends goes
/// nowhere. Returns the simulation, the client's worker, the client's log and when the
/// connection was made.
fn idle_towards_a_vanished_peer(
    keepalive: Option<Keepalive>,
) -> (Sim, usize, Arc<Mutex<Log>>, Instant) {
    let default = match keepalive {
        Some(_) => None,
        None => Some(PROBING),
    };
    idle_with(Some(keepalive), default, true)
}

/// [`idle_towards_a_vanished_peer`] with the call (`Some`: `Net::set_keepalive`), the
/// engine's default and the server's greeting chosen by the caller.
fn idle_with(
    call: Option<Option<Keepalive>>,
    default: Option<Keepalive>,
    greet: bool,
) -> (Sim, usize, Arc<Mutex<Log>>, Instant) {
    let log = Arc::new(Mutex::new(Log::default()));
    let client = Optioned {
        to: SocketAddr::from((SERVER, PORT)),
        nagle: None,
        keepalive: call,
        writes: Vec::new(),
        conn: None,
        log: log.clone(),
    };
    let sink = Arc::new(Mutex::new(Log::default()));
    let (mut sim, cw, sw) = optioned_pair(client, sink, greet, |t| t.keepalive = default);
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, |_| log.lock().unwrap().connected_at.is_some()));
    let t0 = log.lock().unwrap().connected_at.unwrap();
    sim.run_until(t0 + Duration::from_millis(100), |_| false);
    assert_eq!(sw, sim.workers.len() - 1);
    drop(sim.workers.pop());
    (sim, cw, log, t0)
}

#[test]
fn keepalive_probes_an_idle_connection_and_gives_up_on_a_vanished_peer() {
    // RFC 1122 4.2.3.6: a probe after `idle`, then one per `interval`; after `probes`
    // unanswered the connection is closed as timed out.
    let (mut sim, cw, log, t0) = idle_towards_a_vanished_peer(Some(PROBING));
    let base = sim.workers[cw].counters().tx_frames;
    let sent_by = |sim: &mut Sim, t: Instant| {
        sim.run_until(t, |_| false);
        sim.workers[cw].counters().tx_frames - base
    };
    let ms = Duration::from_millis;
    assert_eq!(sent_by(&mut sim, t0 + PROBING.idle - ms(1)), 0, "idle");
    assert_eq!(sent_by(&mut sim, t0 + PROBING.idle + ms(1)), 1, "a probe");
    let last = t0 + PROBING.idle + PROBING.interval * (PROBING.probes - 1);
    assert_eq!(sent_by(&mut sim, last - ms(1)), 2);
    assert_eq!(sent_by(&mut sim, last + ms(1)), 3, "every probe");
    assert_eq!(log.lock().unwrap().closed, None, "open while probing");
    let end = last + PROBING.interval;
    sim.run_until(end + ms(1), |_| false);
    assert_eq!(log.lock().unwrap().closed, Some(Closed::TimedOut));
    assert_eq!(sim.connections(), 0);
}

#[test]
fn without_keepalive_an_idle_connection_sends_nothing() {
    let (mut sim, cw, log, t0) = idle_towards_a_vanished_peer(None);
    let base = sim.workers[cw].counters().tx_frames;
    sim.run_until(t0 + Duration::from_secs(600), |_| false);
    assert_eq!(sim.workers[cw].counters().tx_frames - base, 0);
    assert_eq!(log.lock().unwrap().closed, None);
    assert_eq!(sim.connections(), 1);
}

#[test]
fn the_default_keepalive_probes_a_connection_the_engine_opened_and_left_idle() {
    // Linux arms keep-alive when a connection it opened is established (tcp_finish_connect):
    // with nothing received after the handshake, the probe still comes after `idle`.
    let (mut sim, cw, _log, t0) = idle_with(None, Some(PROBING), false);
    let base = sim.workers[cw].counters().tx_frames;
    let ms = Duration::from_millis;
    sim.run_until(t0 + PROBING.idle - ms(1), |_| false);
    assert_eq!(sim.workers[cw].counters().tx_frames - base, 0, "idle");
    sim.run_until(t0 + PROBING.idle + ms(1), |_| false);
    assert_eq!(sim.workers[cw].counters().tx_frames - base, 1, "a probe");
}

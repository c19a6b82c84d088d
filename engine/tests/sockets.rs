//! The application's sockets, server side and client side, over an in-memory link and
//! over the loopback fast path, in virtual time: listen, accept with the 4-tuple, echo,
//! half-close, close, and the errors an IPv6 address or a foreign address get.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastpath_engine::app::{App, Closed, ConnId, ConnectError, Event, ListenError, Net};
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
                .connect(SocketAddr::from((Ipv6Addr::LOCALHOST, PORT)))
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
    assert_eq!(srv.connect_v6, Some(ConnectError::Ipv6Unsupported));
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
            Err(ListenError::Ipv6Unsupported),
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

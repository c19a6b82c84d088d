//! TCP over IPv6 between engines, over in-memory links in virtual time: a connection the
//! application opens resolves its next hop by neighbour discovery, then HTTP both ways;
//! and the loopback fast path for `::1` and the engine's own IPv6 address.

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::io::memory::{link, LinkConfig};
use crate::testing::*;

const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn closed(out: &Arc<Mutex<Fetched>>) -> impl FnMut(&mut Sim) -> bool + '_ {
    move |_| out.lock().unwrap().closed.is_some()
}

#[test]
fn an_engine_fetches_from_another_over_ipv6_after_neighbour_discovery() {
    let (c, s) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let (fetch, out) = Fetch::new(SocketAddr::from((US, 80)), GET);
    let mut client = EngineSpec::client(CLIENT, CLIENT_MAC);
    client.addrs6 = vec![(PEER, 64)];
    let mut server = EngineSpec::server(SERVER, SERVER_MAC);
    server.addrs6 = vec![(US, 64)];
    // Both addresses pass duplicate address detection before the fetch begins.
    let cw = sim.add_engine(client, vec![c], vec![Some(Box::new(fetch))])[0];
    let sw = sim.add_engine(server, vec![s], vec![])[0];
    let until = sim.now + Duration::from_secs(10);
    assert!(sim.run_until(until, closed(&out)), "the exchange ends");
    let got = out.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&got.response);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
    assert_eq!(got.closed, Some("closed"));
    let cc = sim.workers[cw].counters();
    let sc = sim.workers[sw].counters();
    assert!(
        cc.ndp_learned >= 1,
        "the client learned the server's MAC: {cc:?}"
    );
    // Solicitations are counted with ARP requests; the first ones went to an address still
    // under duplicate address detection, which does not answer.
    assert!(cc.arp_requests >= 1, "{cc:?}");
    assert!(sc.tcp_segments > 0 && sc.tcp_rst_sent == 0, "{sc:?}");
    assert_eq!(sim.workers[sw].host().unwrap().stats().accepted, 1);
}

/// An engine serving on IPv4 and IPv6 that fetches from itself at `to`.
fn fetch_from_itself(to: SocketAddr) {
    let (dev, _far) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let (fetch, out) = Fetch::new(to, GET);
    let mut spec = EngineSpec::server(SERVER, SERVER_MAC);
    spec.addrs6 = vec![(US, 64)];
    let w = sim.add_engine(spec, vec![dev], vec![Some(Box::new(fetch))])[0];
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, closed(&out)), "the exchange ends");
    let got = out.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&got.response);
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
    let c = sim.workers[w].counters();
    assert_eq!(c.tcp_segments, 0, "no segment came from the NIC: {c:?}");
    let h = sim.workers[w].host().unwrap().stats();
    assert!(
        h.loopback_in > 0 && h.loopback_in == h.loopback_out,
        "{h:?}"
    );
}

#[test]
fn ipv6_localhost_takes_the_loopback_fast_path() {
    fetch_from_itself(SocketAddr::from((Ipv6Addr::LOCALHOST, 80)));
}

#[test]
fn the_engines_own_ipv6_address_takes_the_loopback_fast_path() {
    fetch_from_itself(SocketAddr::from((US, 80)));
}

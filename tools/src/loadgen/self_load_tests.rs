//! Self-load through the engine's workers, in virtual time: the load generator and
//! the loopback fast path under real workers (`fastpath_engine::testing`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastpath_engine::app::App;
use fastpath_engine::host::HostStats;
use fastpath_engine::stats::Counters;
use fastpath_engine::testing::{link, EngineSpec, LinkConfig, Sim};
use fastpath_engine::wire::ethernet::MacAddr;

use super::{LoadApp, LoadConfig, LoadReport, Progress};

const MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

fn load(target: SocketAddr, connections: usize, close: bool) -> (LoadApp, Arc<Mutex<LoadReport>>) {
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
/// `inbox_depth` each), in virtual time (`fastpath_engine::testing`).
fn self_load(
    workers: u16,
    inbox_depth: usize,
    target: impl Into<SocketAddr>,
    close: bool,
) -> (Sim, LoadReport) {
    let target = target.into();
    let mut spec = EngineSpec::server(US, MAC);
    spec.loop_depth = inbox_depth;
    if target.is_ipv6() {
        spec.addrs6 = vec![(US6, 64)];
    }
    let devices: Vec<_> = (0..workers)
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
fn counted(sim: &mut Sim) -> Counters {
    let mut sum = Counters::default();
    for w in &mut sim.workers {
        sum.add(&w.counters());
    }
    sum
}

fn host_stats(sim: &Sim, w: usize) -> HostStats {
    sim.workers[w].host().expect("a host").stats()
}

#[test]
fn self_load_within_one_worker_never_touches_the_nic() {
    let (mut e, r) = self_load(1, 4096, SocketAddrV4::new(US, 80), false);
    assert!(r.requests > 1000, "{}", r.render());
    assert_eq!(r.error_count(), 0, "{}", r.render());
    assert_eq!(r.non_2xx, 0);
    assert_eq!(counted(&mut e).tx_frames, 0, "no frame for the NIC");
    let s = host_stats(&e, 0);
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
    let served: Vec<u64> = (0..2).map(|w| host_stats(&e, w).accepted).collect();
    assert!(
        served.iter().all(|&a| a > 0),
        "both workers accepted: {served:?}"
    );
    let answered: u64 = (0..2).map(|w| host_stats(&e, w).http.responses_2xx).sum();
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
fn self_load_over_ipv6_to_the_own_address_and_to_ipv6_localhost() {
    for target in [US6, Ipv6Addr::LOCALHOST] {
        let (mut e, r) = self_load(2, 4096, SocketAddr::from((target, 80)), false);
        assert!(r.requests > 1000, "{target}: {}", r.render());
        assert_eq!(r.error_count(), 0, "{target}: {}", r.render());
        let c = counted(&mut e);
        // The owned IPv6 address's duplicate address detection probe is the only frame.
        assert_eq!(
            c.tx_frames, c.dad_probes,
            "{target}: no segment for the NIC"
        );
        let answered: u64 = (0..2).map(|w| host_stats(&e, w).http.responses_2xx).sum();
        assert!(answered >= r.requests, "{target}");
        assert_eq!((e.connections(), e.tables[0].len()), (0, 0), "{target}");
    }
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
    let answered: u64 = (0..2).map(|w| host_stats(&e, w).http.responses_2xx).sum();
    // Every response the client counted was sent once by a server; nothing duplicated
    // (at most the two pipelined requests per connection in flight at the end).
    assert!(answered >= r.requests && answered <= r.requests + 32);
    assert_eq!((e.connections(), e.tables[0].len()), (0, 0));
}

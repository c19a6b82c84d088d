//! The worker loop itself, over in-memory links in virtual time (`crate::testing`): an
//! HTTP exchange between two engines (ARP first), a transfer over a lossy, reordering
//! link, a handoff between workers, the loopback inbox, timers, and frame accounting.
//! No root: these run under plain `cargo test`.

use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::App;
use crate::http::Site;
use crate::io::memory::{link, LinkConfig, MemDevice};
use crate::io::Device;
use crate::testing::*;
use crate::worker::DEFAULT_RX_BACKLOG;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn fetch(request: &[u8]) -> (Box<dyn App>, Arc<Mutex<Fetched>>) {
    let (f, out) = Fetch::new(SocketAddrV4::new(SERVER, 80), request);
    (Box::new(f), out)
}

/// A client engine (one worker, running `app`) and a server engine, one link between.
fn client_and_server(
    cfg: LinkConfig,
    server: EngineSpec,
    app: Box<dyn App>,
) -> (Sim, usize, usize) {
    let (c, s) = link(cfg);
    let mut sim = Sim::new();
    let client = sim.add_engine(
        EngineSpec::client(CLIENT, CLIENT_MAC),
        vec![c],
        vec![Some(app)],
    )[0];
    let server = sim.add_engine(server, vec![s], vec![])[0];
    (sim, client, server)
}

fn closed(out: &Arc<Mutex<Fetched>>) -> impl FnMut(&mut Sim) -> bool + '_ {
    move |_| out.lock().unwrap().closed.is_some()
}

#[test]
fn two_engines_exchange_http_over_a_link_and_forget_the_connection() {
    let (app, out) = fetch(GET);
    let server = EngineSpec::server(SERVER, SERVER_MAC);
    let (mut sim, client, srv) = client_and_server(LinkConfig::default(), server, app);
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, closed(&out)), "the exchange ends");
    let got = out.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&got.response);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
    assert_eq!(got.closed, Some("closed"));

    let (c, s) = (sim.workers[client].counters(), sim.workers[srv].counters());
    assert_eq!(
        c.arp_requests, 1,
        "the client resolved the server's address first"
    );
    assert_eq!((c.conns_opened, s.conns_accepted), (1, 1));
    assert_eq!((s.http_requests, s.http_2xx), (1, 1));
    assert_eq!(c.tx_frames, s.rx_frames, "a lossless link");

    // The server closed first and holds TIME_WAIT until its timer fires.
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.connections(), 1);
    sim.run_for(Duration::from_secs(120));
    assert_eq!(sim.connections(), 0, "TIME_WAIT's timer fired");
    assert!(sim.tables.iter().all(|t| t.is_empty()));
    sim.assert_frames_settled();
    for s in sim.finish() {
        assert!(s.frames.balanced(), "{:?}", s.frames);
        assert_eq!((s.timers_left, s.connections_left), (0, 0));
    }
}

#[test]
fn a_transfer_survives_loss_and_reordering() {
    let body = "0123456789abcdef".repeat(16 * 1024); // 256 KiB
    let mut server = EngineSpec::server(SERVER, SERVER_MAC);
    server.site = Arc::new(Site::body(&body));
    let cfg = LinkConfig {
        loss_ppm: 30_000,
        reorder_ppm: 20_000,
        seed: 7,
        ..LinkConfig::default()
    };
    let (app, out) = fetch(GET);
    let (mut sim, client, srv) = client_and_server(cfg, server, app);
    let until = sim.now + Duration::from_secs(60);
    assert!(sim.run_until(until, closed(&out)), "the transfer ends");
    let got = out.lock().unwrap().clone();
    assert!(got.response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(
        got.response.ends_with(body.as_bytes()),
        "every byte, in order ({} received)",
        got.response.len()
    );
    let s = sim.workers[srv].counters();
    assert!(s.tcp_retransmits > 0, "losses were repaired: {s:?}");
    let link = sim.workers[client].device().stats();
    assert!(link.lost > 0 && link.reordered > 0, "{link:?}");
    sim.run_for(Duration::from_secs(200));
    assert_eq!(sim.connections(), 0);
    sim.assert_frames_settled();
}

#[test]
fn a_small_frame_pool_runs_dry_and_every_frame_comes_back() {
    let body = "x".repeat(512 * 1024);
    let mut server = EngineSpec::server(SERVER, SERVER_MAC);
    server.site = Arc::new(Site::body(&body));
    let cfg = LinkConfig {
        frames: 64,
        capacity: 48,
        ..LinkConfig::default()
    };
    let (app, out) = fetch(GET);
    let (mut sim, _client, srv) = client_and_server(cfg, server, app);
    let mut checked = 0;
    let until = sim.now + Duration::from_secs(120);
    let done = sim.run_until(until, |sim| {
        // Between turns of the loop, every frame is in exactly one place.
        for w in &sim.workers {
            let a = w.device().accounting();
            assert!(a.balanced(), "{a:?}");
            assert_eq!(a.in_use, 0, "{a:?}");
        }
        checked += 1;
        out.lock().unwrap().closed.is_some()
    });
    assert!(done, "the transfer ends");
    assert!(checked > 10);
    assert!(out.lock().unwrap().response.ends_with(body.as_bytes()));
    let s = sim.workers[srv].counters();
    assert!(
        s.drop_tx_full > 0 || s.tcp_retransmits > 0,
        "the pool or the link ran out at some point: {s:?}"
    );
    sim.run_for(Duration::from_secs(200));
    sim.assert_frames_settled();
}

#[test]
fn segments_reaching_the_wrong_worker_are_handed_to_the_owner() {
    // The server has two workers (queues); the client's link reaches worker 0 until the
    // steering changes under the connection, then worker 1, which hands over.
    let (c, s0) = link(LinkConfig::default());
    let (far1, s1) = link(LinkConfig::default());
    let (mut f, out) = Fetch::new(SocketAddrV4::new(SERVER, 80), GET);
    f.send_at = crate::time::Instant::from_secs(11);
    let mut sim = Sim::new();
    sim.add_engine(
        EngineSpec::client(CLIENT, CLIENT_MAC),
        vec![c],
        vec![Some(Box::new(f))],
    );
    let ws = sim.add_engine(EngineSpec::server(SERVER, SERVER_MAC), vec![s0, s1], vec![]);
    let until = crate::time::Instant::from_millis(10_900);
    sim.run_until(until, |_| false);
    assert!(out.lock().unwrap().connected);
    assert_eq!(sim.tables[1].count_owned_by(0), 1, "worker 0 took the SYN");
    sim.divert = Some((ws[0], far1));
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, closed(&out)));
    let text = String::from_utf8_lossy(&out.lock().unwrap().response).into_owned();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 1, "{text}");
    let (w0, w1) = (sim.workers[ws[0]].counters(), sim.workers[ws[1]].counters());
    assert!(
        w1.handoff_out > 0 && w0.handoff_in == w1.handoff_out,
        "{w0:?} {w1:?}"
    );
    assert_eq!(w1.http_requests, 0, "the owner answered");
    assert_eq!(w0.http_requests, 1);
    sim.divert = None;
    sim.run_for(Duration::from_secs(200));
    assert_eq!(sim.connections(), 0);
    sim.assert_frames_settled();
}

#[test]
fn connections_to_our_own_address_use_the_loopback_inboxes() {
    // One engine, two workers, each running a client of the engine's own listener: the
    // segments go between the workers' inboxes and never reach a device.
    let devs: Vec<MemDevice> = (0..2).map(|_| link(LinkConfig::default()).0).collect();
    let (a, out_a) = fetch(GET);
    let (b, out_b) = fetch(GET);
    let mut sim = Sim::new();
    let ws = sim.add_engine(
        EngineSpec::server(SERVER, SERVER_MAC),
        devs,
        vec![Some(a), Some(b)],
    );
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, |_| {
        out_a.lock().unwrap().closed.is_some() && out_b.lock().unwrap().closed.is_some()
    }));
    for out in [&out_a, &out_b] {
        let got = out.lock().unwrap();
        assert!(got.response.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(got.response.ends_with(b"hello\n"));
    }
    let (w0, w1) = (sim.workers[ws[0]].counters(), sim.workers[ws[1]].counters());
    assert_eq!(w0.http_requests + w1.http_requests, 2);
    assert!(w0.loopback_out > 0 && w1.loopback_out > 0);
    assert_eq!(
        w0.loopback_in + w1.loopback_in,
        w0.loopback_out + w1.loopback_out,
        "every loopback segment arrived"
    );
    assert_eq!((w0.tx_frames, w1.tx_frames), (0, 0), "nothing on the NIC");
    sim.run_for(Duration::from_secs(200));
    assert_eq!(sim.connections(), 0);
    sim.assert_frames_settled();
}

#[test]
fn the_real_run_loop_serves_and_stops_on_request() {
    // `Worker::run` with its clock and its sleeps, in a thread, over a link: a test peer
    // engine stepped in real time on this thread.
    let (c, s) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let (app, out) = fetch(GET);
    sim.add_engine(
        EngineSpec::client(CLIENT, CLIENT_MAC),
        vec![c],
        vec![Some(app)],
    );
    let mut server = Sim::new();
    server.add_engine(EngineSpec::server(SERVER, SERVER_MAC), vec![s], vec![]);
    let worker = server.workers.pop().unwrap();
    let stop = crate::worker::StopSignal::new();
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || worker.run(&stop2));
    let clock = crate::time::Clock::new();
    let started = std::time::Instant::now();
    while out.lock().unwrap().closed.is_none() && started.elapsed() < Duration::from_secs(10) {
        sim.now = crate::time::Instant::from_secs(10) + (clock.now() - crate::time::Instant::ZERO);
        if !sim.step() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(out.lock().unwrap().response.ends_with(b"hello\n"));
    stop.request(Duration::from_millis(100));
    let summary = thread.join().unwrap();
    assert_eq!(summary.counters.http_requests, 1);
    assert!(summary.frames.balanced(), "{:?}", summary.frames);
}

#[test]
fn a_worker_answers_an_operator_between_turns_from_its_own_state() {
    use crate::worker::{inspect_channel, Answer, Query};
    let (app, out) = fetch(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); // keep-alive: stays open
    let server = EngineSpec::server(SERVER, SERVER_MAC);
    let (mut sim, _client, srv) = client_and_server(LinkConfig::default(), server, app);
    let (asker, inspector) = inspect_channel(None);
    let w = sim.workers.remove(srv);
    sim.workers.insert(srv, w.with_inspector(inspector));
    let until = sim.now + Duration::from_secs(5);
    let answered = |_: &mut Sim| out.lock().unwrap().response.ends_with(b"hello\n");
    assert!(sim.run_until(until, answered), "the response arrives");

    let pending = asker.send(Query::Connections { from: 0 }).unwrap();
    assert!(
        pending.try_recv().is_err(),
        "nothing is answered outside a turn"
    );
    sim.step();
    let Ok(Answer::Connections { conns, next }) = pending.try_recv() else {
        panic!("answered in one turn");
    };
    assert_eq!(next, None, "one chunk holds them all");
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!((c.info.state, c.role), ("established", "server"));
    assert_eq!(c.info.remote.ip(), CLIENT);
    assert!(c.info.bytes_sent > 0 && c.info.bytes_received > 0);

    let pending = asker.send(Query::Gauges).unwrap();
    sim.step();
    let Ok(Answer::Gauges(g)) = pending.try_recv() else {
        panic!("gauges answered");
    };
    assert_eq!(g.host.connections, 1);
    assert_eq!(g.host.latency.count, 1, "one request, one latency sample");
    assert!(g.frames.balanced());

    // One question per turn: bounded work, whatever the operators ask.
    let (a, b) = (
        asker.send(Query::Gauges).unwrap(),
        asker.send(Query::Gauges).unwrap(),
    );
    sim.step();
    assert!(a.try_recv().is_ok() && b.try_recv().is_err());
    sim.step();
    assert!(b.try_recv().is_ok());
}

#[test]
fn timers_wait_for_a_backed_up_ring_that_holds_the_ack() {
    // The server's response is out; the client's ACK for it reaches the server behind
    // 600 (then 3,000) other frames, after the retransmission timeout has passed. A
    // worker that fired its timers before draining the ring would retransmit a response
    // the ACK behind them already covers (at scale: a storm of spurious retransmissions).
    // Without the RX backlog the timers wait for the ring; with it (the default), for the
    // backlog, however many turns it takes.
    for (junk, rx_backlog) in [
        (600, 0),
        (600, DEFAULT_RX_BACKLOG),
        (3000, DEFAULT_RX_BACKLOG),
    ] {
        the_ack_behind_a_burst_cancels_the_timer(junk, rx_backlog);
    }
}

/// The server answered; `junk` unhandled frames, then the client's ACK, arrive 3 s later.
/// Returns the server's counters once it handled them all.
fn the_ack_behind_a_burst_cancels_the_timer(junk: usize, rx_backlog: usize) {
    let (app, out) = fetch(GET);
    let mut server = EngineSpec::server(SERVER, SERVER_MAC);
    server.worker.rx_backlog = rx_backlog;
    let cfg = LinkConfig {
        frames: 4096,
        capacity: 8192,
        ..LinkConfig::default()
    };
    let (mut sim, client, srv) = client_and_server(cfg, server, app);
    // Everything up to the server's response, one turn of the loop at a time.
    let until = sim.now + Duration::from_secs(5);
    let answered = sim.run_until(until, |sim| sim.workers[srv].counters().http_2xx == 1);
    assert!(answered, "the server answered");
    // The client takes the response and sends its ACK (and FIN, as the server closed).
    sim.workers[client].poll(sim.now);
    let mut from_client = Vec::new();
    while let Some(f) = sim.workers[srv].device_mut().take() {
        from_client.push(f);
    }
    assert!(!from_client.is_empty(), "the client acknowledged");
    // Frames of an ethertype nobody handles first, then the ACK.
    let mut junk_frame = vec![0u8; 60];
    junk_frame[..6].copy_from_slice(&SERVER_MAC);
    junk_frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    let dev = sim.workers[client].device_mut();
    for _ in 0..junk {
        dev.inject(&junk_frame);
    }
    for f in &from_client {
        dev.inject(f);
    }
    // Well past any retransmission timeout.
    let now = sim.now + Duration::from_secs(3);
    let w = &mut sim.workers[srv];
    let mut turns = 0;
    while w.counters().drop_unsupported < junk as u64 || w.device().pending() > 0 || turns < 4 {
        w.poll(now);
        w.device_mut().refill();
        turns += 1;
        assert!(turns < 100, "the burst is handled in bounded turns");
        if turns == 1 && rx_backlog > 0 {
            // The first turn took 2 batches and moved the rest out of the ring.
            assert_eq!(w.device().pending(), 0, "the ring was emptied at once");
            let s = w.counters();
            assert_eq!(
                s.rx_backlog_frames,
                (junk + from_client.len() - 2 * 64) as u64,
                "{s:?}"
            );
        }
    }
    let s = w.counters();
    assert_eq!(s.drop_unsupported, junk as u64, "{s:?}");
    if rx_backlog == 0 {
        assert_eq!(s.rx_backlog_frames, 0, "{s:?}");
    }
    assert_eq!(
        (
            s.tcp_retransmits,
            s.tcp_rto_expiries,
            s.tcp_tail_loss_probes
        ),
        (0, 0, 0),
        "nothing was retransmitted: the ACK was queued ({junk} frames, backlog {rx_backlog})"
    );
    let _ = out;
}

#[test]
fn timers_due_before_the_backlog_began_fire_while_it_drains() {
    // The backlog holds a timer back only while its frames may have arrived before the
    // deadline. Under a load that keeps the backlog from ever emptying, a retransmission
    // whose deadline passed before the frames still queued arrived fires all the same.
    let (app, _out) = fetch(GET);
    let server = EngineSpec::server(SERVER, SERVER_MAC);
    let cfg = LinkConfig {
        frames: 4096,
        capacity: 1 << 20,
        ..LinkConfig::default()
    };
    let (mut sim, client, srv) = client_and_server(cfg, server, app);
    let until = sim.now + Duration::from_secs(5);
    let answered = sim.run_until(until, |sim| sim.workers[srv].counters().http_2xx == 1);
    assert!(answered, "the server answered");
    // The client's ACK is lost; a burst arrives at once, and 600 more frames every turn.
    sim.workers[client].poll(sim.now);
    while sim.workers[srv].device_mut().take().is_some() {}
    let mut junk_frame = vec![0u8; 60];
    junk_frame[..6].copy_from_slice(&SERVER_MAC);
    junk_frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    let inject = |sim: &mut Sim, n: usize| {
        for _ in 0..n {
            sim.workers[client].device_mut().inject(&junk_frame);
        }
    };
    inject(&mut sim, 3000);
    let t1 = sim.now;
    sim.workers[srv].poll(t1);
    let w = &sim.workers[srv];
    assert!(w.rx_backlog_len() > 2000, "the burst went to the backlog");
    let fired = |sim: &mut Sim| {
        let s = sim.workers[srv].counters();
        s.tcp_rto_expiries + s.tcp_tail_loss_probes
    };
    assert_eq!(fired(&mut sim), 0, "no timer is due yet");
    // 3 s later (every retransmission deadline passed), the load goes on.
    let t2 = t1 + Duration::from_secs(3);
    let mut turns = 0;
    while fired(&mut sim) == 0 {
        inject(&mut sim, 600);
        sim.workers[srv].poll(t2);
        turns += 1;
        assert!(turns < 40, "the overdue timer fired within bounded turns");
    }
    assert!(
        sim.workers[srv].rx_backlog_len() > 0,
        "it fired while the backlog still held frames"
    );
    // And not before the frames that arrived before t1 were handled: they might have
    // held the ACK.
    let s = sim.workers[srv].counters();
    assert!(s.drop_unsupported >= 3000, "{s:?}");
}

/// A frame handler that sends two frames at start, sends back every frame whose first
/// byte is 1 (with it set to 0x77), and releases the rest.
#[derive(Debug)]
struct Bounce;

impl crate::worker::FrameHandler for Bounce {
    fn port(&self) -> u16 {
        9
    }
    fn initial_frame(&self, i: usize, buf: &mut [u8]) -> usize {
        if i < 2 {
            buf[..60].fill(0xa0 + i as u8);
            60
        } else {
            0
        }
    }
    fn on_frame(&self, frame: &mut [u8]) -> bool {
        if frame[0] == 1 {
            frame[0] = 0x77;
            true
        } else {
            false
        }
    }
}

#[test]
fn a_frame_handler_takes_every_frame_in_place_of_the_stack() {
    let (dev, mut far) = link(LinkConfig::default());
    let mut spec = EngineSpec::server(SERVER, SERVER_MAC);
    spec.worker.frames = Some(Arc::new(Bounce));
    spec.worker.initial_frames = true;
    let mut sim = Sim::new();
    sim.add_engine(spec, vec![dev], vec![]);
    let worker = sim.workers.pop().unwrap();
    // One to bounce, one to drop, then an ARP request the stack would have answered.
    far.inject(&[1u8; 60]);
    far.inject(&[3u8; 60]);
    let mut arp = [0u8; 60];
    crate::frame::arp(
        &mut arp,
        CLIENT_MAC,
        &crate::wire::arp::ArpRepr {
            op: crate::wire::arp::Op::Request,
            sender_mac: CLIENT_MAC,
            sender_ip: CLIENT,
            target_mac: [0; 6],
            target_ip: SERVER,
        },
    );
    far.inject(&arp);
    let stop = crate::worker::StopSignal::new();
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || worker.run(&stop2));
    let mut got = Vec::new();
    let started = std::time::Instant::now();
    while got.len() < 3 && started.elapsed() < Duration::from_secs(10) {
        match far.take() {
            Some(f) => got.push(f),
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    stop.request(Duration::ZERO);
    let summary = thread.join().unwrap();
    assert_eq!(got.len(), 3, "two initial frames and one bounced");
    assert_eq!((got[0][0], got[1][0], got[2][0]), (0xa0, 0xa1, 0x77));
    assert_eq!(got[2].len(), 60);
    assert!(
        far.take().is_none(),
        "the dropped frame and the ARP request got no answer"
    );
    let c = summary.counters;
    assert_eq!((c.rx_frames, c.tx_frames, c.arp_replies), (3, 3, 0));
    assert!(summary.frames.balanced(), "{:?}", summary.frames);
}

#[test]
fn a_liveness_sweep_finds_the_connections_whose_peer_is_gone() {
    // A keep-alive connection sits idle; the client's host then forgets it without a
    // word (its FIN or RST lost, as in a mass close whose frames the kernel dropped). The
    // server would hold it until its idle timeout. A liveness sweep probes it; the client
    // answers the probe with a RST (no such connection) and the server lets go.
    let (app, _out) = fetch(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let server = EngineSpec::server(SERVER, SERVER_MAC);
    let (mut sim, client, srv) = client_and_server(LinkConfig::default(), server, app);
    let until = sim.now + Duration::from_secs(5);
    assert!(sim.run_until(until, |sim| sim.workers[srv].counters().http_2xx == 1));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.workers[srv].host().unwrap().connections(),
        1,
        "idle, held"
    );
    // A sweep for drops before the exchange does not ask: the peer was heard from since.
    let w = &mut sim.workers[srv];
    w.host_mut()
        .unwrap()
        .start_liveness_sweep(crate::time::Instant::ZERO);
    sim.run_for(Duration::from_millis(100));
    let s = sim.workers[srv].counters();
    assert_eq!(s.liveness_probes, 0, "{s:?}");
    assert!(!sim.workers[srv].host().unwrap().sweeping());
    sim.workers[client].host_mut().unwrap().forget_all();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        sim.workers[srv].host().unwrap().connections(),
        1,
        "nothing tells the server: it still holds the connection"
    );
    let (w, now) = (&mut sim.workers[srv], sim.now);
    w.host_mut().unwrap().start_liveness_sweep(now);
    assert!(w.host().unwrap().sweeping());
    let until = sim.now + Duration::from_secs(1);
    sim.run_until(until, |sim| {
        sim.workers[srv].host().unwrap().connections() == 0
    });
    let s = sim.workers[srv].counters();
    assert_eq!(s.liveness_probes, 1, "{s:?}");
    assert_eq!(
        sim.workers[srv].host().unwrap().connections(),
        0,
        "the probe drew a RST and the connection went"
    );
}

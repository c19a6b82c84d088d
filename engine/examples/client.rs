//! The engine's application API without a NIC: a server with a handler of its own, and a
//! client application that connects to 127.0.0.1, sends two requests and prints the
//! answers. The loopback fast path carries every segment in memory, so this runs
//! anywhere, unprivileged:
//!
//!     cargo run -p fastpath-engine --example client
//!
//! On a real interface the same `App` runs inside each worker (`EngineConfig::apps`, see
//! `serve_hello.rs` for starting the engine), next to the AF_XDP socket, and
//! `Net::connect` to any other address leaves through the NIC.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use fastpath_engine::app::{App, ConnId, Event, Net};
use fastpath_engine::host::{Host, HostConfig, Tx};
use fastpath_engine::http::{Handler, Resource, Site};
use fastpath_engine::table::SocketTable;
use fastpath_engine::tcp::Secrets;
use fastpath_engine::time::{Clock, Instant};

/// The server side: answers `/square?N` with N squared, 404 otherwise.
struct Squares;

impl Handler for Squares {
    fn respond(&self, target: &str) -> Option<Resource> {
        let n: u64 = target.strip_prefix("/square?")?.parse().ok()?;
        Some(Resource {
            content_type: "text/plain",
            body: format!("{}\n", n * n).into_bytes().into(),
        })
    }
}

/// The client side: one connection, two pipelined requests, print, close.
#[derive(Default)]
struct Client {
    conn: Option<ConnId>,
    received: Vec<u8>,
    done: bool,
}

impl App for Client {
    fn poll(&mut self, _now: Instant, net: &mut Net<'_>) {
        if self.conn.is_none() {
            let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80);
            self.conn = Some(net.connect(to).expect("a route to 127.0.0.1"));
        }
    }

    fn on_event(&mut self, _now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        match event {
            Event::Connected => {
                println!("connected from {}", net.local_addr(id).unwrap());
                let req = b"GET /square?12 HTTP/1.1\r\nHost: x\r\n\r\n\
                            GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                assert_eq!(net.send(id, req), req.len());
            }
            Event::Readable => {
                let mut buf = [0u8; 4096];
                let n = net.recv(id, &mut buf);
                self.received.extend_from_slice(&buf[..n]);
            }
            Event::PeerClosed => net.close(id),
            Event::Closed(how) => {
                println!(
                    "--- answers ---\n{}",
                    String::from_utf8_lossy(&self.received)
                );
                println!("connection closed: {}", how.as_str());
                self.done = true;
            }
            Event::Writable => {}
        }
    }
}

/// Collects frames for the NIC: there are none in this example.
struct NoNic(usize);

impl Tx for NoNic {
    fn send(&mut self, _build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        self.0 += 1;
        false
    }
}

fn main() {
    let us = Ipv4Addr::new(10, 0, 0, 2);
    let cfg = HostConfig {
        addrs: vec![(us, 24)],
        ..HostConfig::default()
    };
    let mut host = Host::new(
        0,
        [2, 0, 0, 0, 0, 2],
        cfg,
        &[SocketAddrV4::new(us, 80)],
        Arc::new(Site::Handler(Arc::new(Squares))),
        Arc::new(SocketTable::new()),
        Secrets::from_master([42; 32]),
    );
    let mut app = Client::default();
    let mut nic = NoNic(0);
    let clock = Clock::new();
    // What a worker's loop does, minus the NIC: the app, then the in-memory inbox.
    for _ in 0..10_000 {
        let now = clock.now();
        host.refresh_date();
        host.run_app(now, &mut app, &mut nic);
        for seg in std::mem::take(host.loopback_out()) {
            host.on_loopback(now, seg, &mut nic);
        }
        if host.next_deadline().is_some_and(|t| t <= now) {
            host.poll_timers(now, &mut nic);
        }
        if app.done {
            break;
        }
    }
    assert!(app.done, "the exchange finished");
    println!("frames for the NIC: {}", nic.0);
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the example too (see `[[example]]` in Cargo.toml).
    #[test]
    fn the_example_runs() {
        super::main();
    }
}

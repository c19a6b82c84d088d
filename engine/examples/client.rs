//! The engine's application API without a NIC: a server with a handler of its own, and a
//! client application that connects to 127.0.0.1, sends two requests and prints the
//! answers. It runs in a real worker loop (`testing::Sim`, virtual time); the loopback
//! fast path carries every segment in memory, so this runs anywhere, unprivileged:
//!
//!     cargo run -p fastpath-engine --example client
//!
//! On a real interface the same `App` runs inside each worker (`EngineConfig::apps`, see
//! `serve_hello.rs` for starting the engine), next to the AF_XDP socket, and
//! `Net::connect` to any other address leaves through the NIC.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastpath_engine::app::{App, ConnId, Event, Net};
use fastpath_engine::http::{Handler, Resource, Site};
use fastpath_engine::testing::{link, EngineSpec, LinkConfig, Sim};
use fastpath_engine::time::Instant;

/// The server side: answers `/square?N` with N squared, 404 otherwise.
struct Squares;

impl Handler for Squares {
    fn respond(&self, target: &str) -> Option<Resource> {
        let n: u64 = target.strip_prefix("/square?")?.parse().ok()?;
        Some(Resource::new(
            "text/plain",
            format!("{}\n", n * n).into_bytes(),
        ))
    }
}

/// The client side: one connection, two pipelined requests, print, close.
#[derive(Default)]
struct Client {
    conn: Option<ConnId>,
    received: Vec<u8>,
    done: Arc<AtomicBool>,
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
                self.done.store(true, Ordering::Relaxed);
            }
            Event::Writable | Event::Accepted { .. } => {}
        }
    }
}

fn main() {
    let us = Ipv4Addr::new(10, 0, 0, 2);
    let mut server = EngineSpec::server(us, [2, 0, 0, 0, 0, 2]);
    server.site = Arc::new(Site::Handler(Arc::new(Squares)));
    let done = Arc::new(AtomicBool::new(false));
    let app = Client {
        done: done.clone(),
        ..Client::default()
    };
    // One engine of one worker (the real worker loop), its device one end of an
    // in-memory link nobody listens on: every segment here takes the loopback path.
    let (device, _unused_end) = link(LinkConfig::default());
    let mut sim = Sim::new();
    let w = sim.add_engine(server, vec![device], vec![Some(Box::new(app))])[0];
    let until = sim.now + Duration::from_secs(5);
    assert!(
        sim.run_until(until, |_| done.load(Ordering::Relaxed)),
        "the exchange finished"
    );
    println!(
        "frames for the NIC: {}",
        sim.workers[w].counters().tx_frames
    );
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the example too (see `[[example]]` in Cargo.toml).
    #[test]
    fn the_example_runs() {
        super::main();
    }
}

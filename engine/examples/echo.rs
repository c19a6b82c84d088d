//! An echo server on the engine: every byte a client sends comes back, on any number of
//! connections, until the client closes. Driven by `nc` or `socat`:
//!
//!     sudo cargo run --release -p fastpath-engine --example echo -- \
//!         --iface eth1 --ip 192.0.2.10/24 --port 7
//!     echo hello | nc -N 192.0.2.10 7
//!
//! The application API (`fastpath_engine::app`) on the server side: each worker listens,
//! takes `Accepted` connections, reads what arrived in place (`recv_view`), writes what
//! fits (`send` says how much; `Writable` follows a short write) and closes once the
//! peer has half-closed and everything is echoed.

use std::net::SocketAddr;

use clap::Parser;
use fastpath_engine::app::{App, ConnId, Event, Net};
use fastpath_engine::runtime::AppFactory;
use fastpath_engine::tcp::State;
use fastpath_engine::time::Instant;

mod common;

/// One per worker: connections accepted on a worker are that worker's.
struct Echo {
    port: u16,
}

impl Echo {
    /// Sends back what has arrived, as much as the send buffer takes; the rest stays in
    /// the receive buffer (its window closes: the client slows to our pace).
    fn echo(net: &mut Net<'_>, id: ConnId) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = {
                let (a, _) = net.recv_view(id);
                let n = a.len().min(buf.len());
                buf[..n].copy_from_slice(&a[..n]);
                n
            };
            if n == 0 {
                break;
            }
            let sent = net.send(id, &buf[..n]);
            net.consume(id, sent);
            if sent < n {
                return; // `Writable` comes when there is room again
            }
        }
        // The client half-closed and everything it sent is back: our FIN follows.
        if net.state(id) == Some(State::CloseWait) {
            net.close(id);
        }
    }
}

impl App for Echo {
    fn start(&mut self, _now: Instant, net: &mut Net<'_>) {
        let any = SocketAddr::from(([0, 0, 0, 0], self.port));
        if let Err(e) = net.listen(any) {
            eprintln!("worker {}: cannot listen on {any}: {e}", net.worker());
        }
    }

    fn on_event(&mut self, _now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        match event {
            Event::Accepted { .. } | Event::Readable | Event::Writable | Event::PeerClosed => {
                Echo::echo(net, id)
            }
            Event::Connected | Event::Closed(_) => {}
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Common::parse();
    let port = args.port;
    let mut config = args.config();
    config.apps = Some(AppFactory::new(move |_worker, _workers| {
        Some(Box::new(Echo { port }))
    }));
    common::run(config, &format!("echo on port {port}"))
}

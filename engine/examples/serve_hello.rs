//! The engine embedded in a program: HTTP on an interface, answered by a handler of the
//! program's own, until SIGINT or SIGTERM; then the summary, and the report as JSON.
//!
//!     sudo cargo run --release -p fastpath-engine --example serve_hello -- eth1 192.0.2.10/24
//!     curl http://192.0.2.10/you      # Hello, you! (request 1 on this worker)
//!
//! On a veth, turn TX checksum offload off on the peer (`ethtool -K PEER tx off`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastpath_engine::http::{Handler, Resource};
use fastpath_engine::runtime::{Cidr, Engine, EngineConfig, Service};

/// Greets whoever the path names. Runs on a worker's core, between two packets: no
/// blocking here.
#[derive(Default)]
struct Hello {
    served: AtomicU64,
}

impl Handler for Hello {
    fn respond(&self, target: &str) -> Option<Resource> {
        let name = target.trim_start_matches('/');
        let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        let body = format!(
            "Hello, {}! (request {n})\n",
            if name.is_empty() { "world" } else { name }
        );
        Some(Resource::new(
            "text/plain; charset=utf-8",
            body.into_bytes(),
        ))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(iface), Some(addr)) = (args.next(), args.next()) else {
        return Err("usage: serve_hello IFACE ADDR/PREFIX".into());
    };
    let addr: Cidr = addr.parse()?;
    let mut config = EngineConfig::new(&iface, addr);
    config.service = Service::handler(Hello::default());
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let running = Engine::start(config)?;
    println!("serving http://{}/ on {iface}", addr.addr);
    while !stop.load(Ordering::Relaxed) && !running.worker_ended() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = running.stop(Duration::from_secs(2));
    print!("{}", report.summary());
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

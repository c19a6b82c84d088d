//! What the examples share: the flags `fastpath serve` has for the same things, and a run
//! until SIGINT or SIGTERM that ends with the engine's summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastpath_engine::runtime::{Cidr, Engine, EngineConfig, Queues, Service};

/// An example of a program on the fastpath engine (engine/examples). The flags mean what
/// they mean for `fastpath serve`.
#[derive(clap::Parser, Debug)]
pub struct Common {
    /// The interface to attach to (on a veth, turn TX checksum offload off on the peer:
    /// `ethtool -K PEER tx off`).
    #[arg(long, value_name = "IF")]
    pub iface: String,
    /// The engine's address with its prefix length, e.g. 10.0.0.2/24.
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub ip: Cidr,
    /// The TCP port to listen on.
    #[arg(long, value_name = "P")]
    pub port: u16,
    /// Receive queues to attach to, comma-separated (default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub queues: Option<Vec<u32>>,
}

impl Common {
    /// The engine's configuration for these flags: the port steered to the applications
    /// (`app_ports`), no HTTP responder unless the example sets one.
    pub fn config(&self) -> EngineConfig {
        let mut c = EngineConfig::new(&self.iface, self.ip);
        c.service = Service::None;
        c.app_ports = vec![self.port];
        if let Some(q) = &self.queues {
            c.queues = Queues::Only(q.clone());
        }
        c
    }
}

/// Starts the engine, says so on stderr (the line `fastpath serve` prints, ending in
/// "; Ctrl-C to stop"), serves until SIGINT or SIGTERM, then stops it and prints the
/// summary.
pub fn run(config: EngineConfig, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let iface = config.iface.clone();
    let running = Engine::start(config)?;
    eprintln!(
        "serving {what} on {iface} ({} queue(s)); Ctrl-C to stop",
        running.queues().len()
    );
    while !stop.load(Ordering::Relaxed) && !running.worker_ended() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ended = running.worker_ended();
    let report = running.stop(Duration::from_secs(2));
    print!("{}", report.summary());
    if ended {
        return Err("a worker stopped unexpectedly".into());
    }
    Ok(())
}

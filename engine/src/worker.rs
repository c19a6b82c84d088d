//! The run-to-completion loop of one worker: one AF_XDP socket, one core. Each batch goes
//! RX -> parse -> answer -> TX before the next is read; nothing is shared on the hot path
//! but the stop flag and a counters snapshot published now and then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::afxdp::{Frame, FrameAccounting, Xsk};
use crate::iface::{Action, Iface};
use crate::pcap::PcapWriter;
use crate::stats::{Counters, Published};
use crate::time::Clock;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Frames taken from the RX ring per batch.
    pub batch: usize,
    /// Spin instead of sleeping in poll() when idle.
    pub busy_poll: bool,
    /// Empty polls in a row before sleeping (when not busy polling).
    pub idle_spins: u32,
    /// Longest sleep in poll(), so the stop flag is seen promptly.
    pub idle_sleep: Duration,
    /// How often the counters snapshot is published.
    pub publish_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            batch: 64,
            busy_poll: false,
            idle_spins: 256,
            idle_sleep: Duration::from_millis(50),
            publish_every: Duration::from_millis(100),
        }
    }
}

/// What a worker reports when it stops.
#[derive(Clone, Debug)]
pub struct WorkerSummary {
    pub counters: Counters,
    pub malformed: Vec<(&'static str, u64)>,
    pub frames: FrameAccounting,
}

pub struct Worker {
    xsk: Xsk,
    iface: Iface,
    cfg: WorkerConfig,
    published: Arc<Published>,
    pcap: Option<Arc<Mutex<PcapWriter>>>,
}

impl Worker {
    pub fn new(xsk: Xsk, iface: Iface, cfg: WorkerConfig, published: Arc<Published>) -> Worker {
        Worker {
            xsk,
            iface,
            cfg,
            published,
            pcap: None,
        }
    }

    /// Record every frame received and sent to a shared pcap writer.
    pub fn with_pcap(mut self, pcap: Arc<Mutex<PcapWriter>>) -> Worker {
        self.pcap = Some(pcap);
        self
    }

    fn capture(&self, frame: &[u8]) {
        if let Some(p) = &self.pcap {
            if let Ok(mut w) = p.lock() {
                let _ = w.write(frame);
            }
        }
    }

    /// Runs until `stop` is set. Returns what it counted.
    pub fn run(mut self, stop: &AtomicBool) -> WorkerSummary {
        let clock = Clock::new();
        let mut batch: Vec<Frame> = Vec::with_capacity(self.cfg.batch);
        let mut idle = 0u32;
        let mut last_publish = clock.now();
        while !stop.load(Ordering::Relaxed) {
            self.xsk.complete();
            batch.clear();
            if self.xsk.recv(&mut batch, self.cfg.batch) > 0 {
                idle = 0;
                for f in batch.drain(..) {
                    self.frame(f);
                }
                self.xsk.flush_tx();
            } else {
                idle = idle.saturating_add(1);
                if !self.cfg.busy_poll && idle > self.cfg.idle_spins {
                    let _ = self.xsk.wait(self.cfg.idle_sleep.as_millis() as i32);
                }
            }
            self.xsk.refill();
            let now = clock.now();
            if now - last_publish >= self.cfg.publish_every {
                self.published.store(&self.iface.counters);
                last_publish = now;
            }
        }
        self.finish()
    }

    fn frame(&mut self, mut f: Frame) {
        let len = f.len();
        self.iface.counters.rx_frames += 1;
        self.iface.counters.rx_bytes += len as u64;
        if self.pcap.is_some() {
            self.capture(self.xsk.data(&f));
        }
        match self.iface.handle(self.xsk.buf_mut(&mut f), len) {
            Action::Transmit(n) => {
                self.xsk.set_len(&mut f, n);
                if self.pcap.is_some() {
                    self.capture(self.xsk.data(&f));
                }
                match self.xsk.transmit(f) {
                    Ok(()) => {
                        self.iface.counters.tx_frames += 1;
                        self.iface.counters.tx_bytes += n as u64;
                    }
                    Err(f) => {
                        self.iface.counters.drop_tx_full += 1;
                        self.xsk.release(f);
                    }
                }
            }
            // No connections live here yet: the table that would take it is the HTTP
            // engine's. Counted by the interface.
            Action::Drop | Action::PathMtu { .. } => self.xsk.release(f),
        }
    }

    fn finish(mut self) -> WorkerSummary {
        // Let frames in flight complete, briefly, so the accounting is settled.
        for _ in 0..100 {
            self.xsk.flush_tx();
            self.xsk.complete();
            if self.xsk.accounting().kernel_tx == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.published.store(&self.iface.counters);
        if let Some(p) = &self.pcap {
            if let Ok(mut w) = p.lock() {
                let _ = w.flush();
            }
        }
        WorkerSummary {
            counters: self.iface.counters,
            malformed: crate::wire::WireError::ALL
                .iter()
                .map(|e| (e.as_str(), self.iface.malformed[e.index()]))
                .collect(),
            frames: self.xsk.accounting(),
        }
    }
}

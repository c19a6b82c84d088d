//! Transmit through the worker's device, capturing to pcap, counting what left and what
//! found no room.

use std::sync::{Arc, Mutex};

use crate::host::Tx;
use crate::io::Device;
use crate::pcap::PcapWriter;
use crate::stats::Counters;

/// Transmit through the device, capturing to pcap.
pub(super) struct DevTx<'a, D: Device> {
    pub(super) dev: &'a mut D,
    pub(super) pcap: &'a Option<Arc<Mutex<PcapWriter>>>,
    pub(super) counters: &'a mut Counters,
}

pub(super) fn capture(pcap: &Option<Arc<Mutex<PcapWriter>>>, frame: &[u8]) {
    if let Some(p) = pcap {
        if let Ok(mut w) = p.lock() {
            let _ = w.write(frame);
        }
    }
}

impl<D: Device> DevTx<'_, D> {
    /// A free frame, reclaiming completed ones first if none is left.
    fn alloc(&mut self) -> Option<D::Frame> {
        self.dev.alloc().or_else(|| {
            self.dev.complete();
            self.dev.alloc()
        })
    }

    pub(super) fn push(&mut self, f: D::Frame) -> bool {
        let n = self.dev.data(&f).len();
        capture(self.pcap, self.dev.data(&f));
        let f = match self.dev.transmit(f) {
            Ok(()) => {
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += n as u64;
                return true;
            }
            Err(f) => f,
        };
        // The TX ring is full: let the kernel take what it has, reclaim, retry once.
        self.dev.flush_tx();
        self.dev.complete();
        match self.dev.transmit(f) {
            Ok(()) => {
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += n as u64;
                true
            }
            Err(f) => {
                self.counters.drop_tx_full += 1;
                self.dev.release(f);
                false
            }
        }
    }
}

impl<D: Device> Tx for DevTx<'_, D> {
    fn send(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let f = self.alloc();
        let Some(mut f) = f else {
            self.counters.drop_tx_full += 1;
            return false;
        };
        let n = build(self.dev.buf_mut(&mut f));
        self.dev.set_len(&mut f, n);
        self.push(f)
    }

    fn send_range(&mut self, build: &mut crate::host::BuildRange<'_>) -> Option<bool> {
        let f = self.alloc();
        let Some(mut f) = f else {
            // No frame: the segment still leaves the connection (and is lost, counted),
            // so TCP's timers resend it; holding it back could leave nothing to wake for.
            let mut aside = [0u8; crate::host::FRAME_ROOM];
            build(&mut aside)?;
            self.counters.drop_tx_full += 1;
            return Some(false);
        };
        match build(self.dev.buf_mut(&mut f)) {
            None => {
                self.dev.release(f);
                None
            }
            Some((start, end)) => {
                self.dev.set_range(&mut f, start, end - start);
                Some(self.push(f))
            }
        }
    }
}

impl<D: Device> super::Worker<D> {
    /// The worker's borrows split for a host call: the host (`None` without one), the
    /// device, the capture and the counters. The one place they are split.
    #[allow(clippy::type_complexity)]
    fn split_for_host(
        &mut self,
    ) -> Option<(
        &mut crate::host::Host,
        &mut D,
        &Option<Arc<Mutex<PcapWriter>>>,
        &mut Counters,
    )> {
        let super::Worker {
            dev,
            iface,
            host,
            pcap,
            ..
        } = self;
        Some((host.as_mut()?, dev, pcap, &mut iface.counters))
    }

    /// Runs `f` with the host (`None` without one) and a transmit through this worker's
    /// device.
    pub(super) fn through_host<R>(
        &mut self,
        f: impl FnOnce(&mut crate::host::Host, &mut DevTx<'_, D>) -> R,
    ) -> Option<R> {
        let (h, dev, pcap, counters) = self.split_for_host()?;
        Some(f(
            h,
            &mut DevTx {
                dev,
                pcap,
                counters,
            },
        ))
    }

    /// As `through_host`, with bytes `range` of received frame `frame` read where they lie
    /// while `f` transmits through the device.
    pub(super) fn through_host_reading<R>(
        &mut self,
        frame: &mut D::Frame,
        range: std::ops::Range<usize>,
        f: impl FnOnce(&mut crate::host::Host, &[u8], &mut DevTx<'_, D>) -> R,
    ) -> Option<R> {
        let (h, dev, pcap, counters) = self.split_for_host()?;
        Some(dev.read_while_sending(frame, range, |bytes, dev| {
            f(
                h,
                bytes,
                &mut DevTx {
                    dev,
                    pcap,
                    counters,
                },
            )
        }))
    }
}

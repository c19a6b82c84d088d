//! Questions an operator asks a running worker (`fastpath stat`, `fastpath ss`), answered
//! by the worker itself from its own state, between two batches: at most one question per
//! turn of the loop, and a connection listing comes back in chunks of a bounded number of
//! slots, so asking never stalls the worker. When no question waits, the loop pays one
//! check of an empty channel.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::Worker;
use crate::afxdp::{FrameAccounting, Waker};
use crate::host::{ConnEntry, HostGauges};
use crate::io::Device;
use crate::time::Instant;

/// Slots a listing visits per turn of the loop at most.
pub const LIST_CHUNK: usize = 256;

/// A question for one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// Its connection counts and frame accounting.
    Gauges,
    /// The connections in slab slots `from..from + LIST_CHUNK`.
    Connections { from: usize },
}

/// A worker's answer.
#[derive(Clone, Debug)]
pub enum Answer {
    Gauges(WorkerGauges),
    /// The connections found, and the slot to ask from next (`None`: the last chunk).
    Connections {
        conns: Vec<ConnEntry>,
        next: Option<usize>,
    },
}

/// What a worker holds right now.
#[derive(Copy, Clone, Debug, Default, serde::Serialize)]
pub struct WorkerGauges {
    #[serde(flatten)]
    pub host: HostGauges,
    pub frames: FrameAccounting,
}

type Request = (Query, Sender<Answer>);

/// The worker's end: questions waiting to be answered.
pub struct Inspector {
    rx: Receiver<Request>,
}

/// The asking end (the runtime's control thread): cheap to clone.
#[derive(Clone)]
pub struct InspectHandle {
    tx: Sender<Request>,
    waker: Option<Arc<Waker>>,
}

/// A channel to one worker; `waker` (the worker's own) gets a sleeping worker up to answer.
pub fn inspect_channel(waker: Option<Arc<Waker>>) -> (InspectHandle, Inspector) {
    let (tx, rx) = crossbeam_channel::bounded(16);
    (InspectHandle { tx, waker }, Inspector { rx })
}

impl InspectHandle {
    /// Asks and waits up to `timeout` for the answer (`None`: the worker is gone or busy
    /// with older questions).
    pub fn ask(&self, q: Query, timeout: Duration) -> Option<Answer> {
        self.send(q)?.recv_timeout(timeout).ok()
    }

    /// Asks without waiting: the answer arrives on the returned channel (`None`: the
    /// worker is gone or busy with older questions). To ask several workers at once.
    pub fn send(&self, q: Query) -> Option<Receiver<Answer>> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.tx.try_send((q, reply)).ok()?;
        if let Some(w) = &self.waker {
            w.wake();
        }
        Some(answer)
    }

    /// Every connection of the worker, chunk by chunk (`None` if it stopped answering).
    pub fn connections(&self, timeout: Duration) -> Option<Vec<ConnEntry>> {
        let mut all = Vec::new();
        let mut from = 0;
        loop {
            match self.ask(Query::Connections { from }, timeout)? {
                Answer::Connections { conns, next } => {
                    all.extend(conns);
                    match next {
                        Some(n) => from = n,
                        None => return Some(all),
                    }
                }
                Answer::Gauges(_) => return None,
            }
        }
    }
}

impl<D: Device> Worker<D> {
    /// Answer operators through `inspector` (see the module docs).
    pub fn with_inspector(mut self, inspector: Inspector) -> Worker<D> {
        self.inspector = Some(inspector);
        self
    }

    /// Answers at most one waiting question.
    pub(super) fn answer_inspect(&mut self, now: Instant) {
        let Some(ins) = &self.inspector else {
            return;
        };
        if ins.rx.is_empty() {
            return;
        }
        let Ok((q, reply)) = ins.rx.try_recv() else {
            return;
        };
        let answer = match q {
            Query::Gauges => Answer::Gauges(WorkerGauges {
                host: self.host.as_ref().map(|h| h.gauges()).unwrap_or_default(),
                frames: self.dev.accounting(),
            }),
            Query::Connections { from } => {
                let mut conns = Vec::new();
                let next = self
                    .host
                    .as_ref()
                    .and_then(|h| h.list_connections(now, from, LIST_CHUNK, &mut conns));
                Answer::Connections { conns, next }
            }
        };
        // The asker may have given up: nothing to do then.
        let _ = reply.try_send(answer);
    }
}

//! The application interface of a worker: code that runs inside the engine, on the
//! worker's core, without blocking.
//!
//! Server side, the HTTP responder answers requests from a [`crate::http::Site`]; a
//! program supplies its own answers with [`crate::http::Handler`]. Client side, an [`App`]
//! opens connections ([`Net::connect`]), writes and reads them, and closes them; the worker
//! calls it once per loop iteration ([`App::poll`]) and with each event on its connections
//! ([`App::on_event`]). Nothing here blocks: a write takes what fits in the send buffer
//! and says how much; a read takes what has arrived.
//!
//! A connection to one of the engine's own addresses (or to 127.0.0.0/8) never reaches the
//! NIC: its segments go from worker to worker in memory (the loopback fast path).
//!
//! `engine/examples/client.rs` runs a client and a server in memory, without a NIC.

use std::net::SocketAddrV4;

use crate::host::{Host, Tx};
use crate::tcp::State;
use crate::time::Instant;

pub use crate::host::events::{Closed, ConnId, ConnectError, Event};

/// Application code run by a worker. Every method gets the time and the worker's network.
pub trait App: Send {
    /// Called on every loop iteration: start connections, send on a schedule.
    fn poll(&mut self, now: Instant, net: &mut Net<'_>);

    /// Called once per event on one of this application's connections.
    fn on_event(&mut self, now: Instant, net: &mut Net<'_>, conn: ConnId, event: Event);

    /// When `poll` next has something to do (`None`: only on events). The worker will not
    /// sleep past it.
    fn poll_at(&self) -> Option<Instant> {
        None
    }
}

/// The worker's network, as an application sees it during a call.
pub struct Net<'a> {
    pub(crate) host: &'a mut Host,
    pub(crate) tx: &'a mut dyn Tx,
    pub(crate) now: Instant,
}

impl Net<'_> {
    /// Opens a connection to `remote` from this worker. The SYN leaves at once when the
    /// next hop's address is known (or the destination is local), after ARP otherwise;
    /// `Event::Connected` or `Event::Closed` follows.
    pub fn connect(&mut self, remote: SocketAddrV4) -> Result<ConnId, ConnectError> {
        self.host.connect(self.now, remote, self.tx)
    }

    /// Queues bytes to send; returns how many fit (`Event::Writable` follows a short write).
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> usize {
        self.host.client_send(id, data)
    }

    /// Reads what has arrived, up to `out.len()` bytes.
    pub fn recv(&mut self, id: ConnId, out: &mut [u8]) -> usize {
        self.host.client_recv(id, out)
    }

    /// Bytes waiting to be read.
    pub fn readable(&self, id: ConnId) -> usize {
        self.host.client_readable(id)
    }

    /// Orderly close: a FIN after everything written (half-close: reads go on until the
    /// peer closes too).
    pub fn close(&mut self, id: ConnId) {
        self.host.client_close(id, false)
    }

    /// Abortive close: a RST, buffers dropped.
    pub fn abort(&mut self, id: ConnId) {
        self.host.client_close(id, true)
    }

    /// The connection's TCP state (`None` once it is gone).
    pub fn state(&self, id: ConnId) -> Option<State> {
        self.host.client_state(id)
    }

    /// The local address the connection uses.
    pub fn local_addr(&self, id: ConnId) -> Option<SocketAddrV4> {
        self.host.client_local(id)
    }
}

impl Host {
    /// Runs the application: its `poll`, then the events waiting for it (at most a
    /// budget's worth), then sends what it wrote. (Written here, beside `App`, so that the
    /// host below does not depend on the application interface above it.)
    pub fn run_app(&mut self, now: Instant, app: &mut dyn App, tx: &mut dyn Tx) {
        run(self, now, app, tx)
    }
}

/// Runs `app` on a worker's host: see `Host::run_app`.
pub(crate) fn run(host: &mut Host, now: Instant, app: &mut dyn App, tx: &mut dyn Tx) {
    app.poll(now, &mut Net { host, tx, now });
    for _ in 0..crate::host::EVENT_BUDGET {
        let Some((id, ev)) = host.next_event() else {
            break;
        };
        app.on_event(now, &mut Net { host, tx, now }, id, ev);
    }
    host.flush(now, tx);
}

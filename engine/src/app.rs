//! The application interface of a worker: code that runs inside the engine, on the
//! worker's core, without blocking. Any TCP protocol, both sides.
//!
//! An [`App`] runs in every worker: the worker calls it once per loop iteration
//! ([`App::poll`]) and with each event on its connections ([`App::on_event`]). Through
//! [`Net`] it listens ([`Net::listen`]: each new connection comes as
//! [`Event::Accepted`] with its 4-tuple), opens connections ([`Net::connect`]), reads
//! ([`Net::recv`], or in place with [`Net::recv_view`]), writes ([`Net::send`]: a short
//! write says how much was taken and [`Event::Writable`] follows), half-closes
//! ([`Net::shutdown`]), closes ([`Net::close`]) or resets ([`Net::abort`]). Nothing here
//! blocks. A connection accepted on a worker is that worker's: which worker a flow lands
//! on is the steering program's decision, so every worker listens.
//!
//! For HTTP, the responder answers from a [`crate::http::Site`]; a program's own answers
//! come from a [`crate::http::RequestHandler`], which sees the whole request.
//!
//! A connection to one of the engine's own addresses (or to 127.0.0.0/8 or `::1`) never
//! reaches the NIC: its segments go from worker to worker in memory (the loopback fast
//! path); the API is the same.
//!
//! Addresses are `std::net::SocketAddr` of either family: `listen` on `0.0.0.0:P` takes
//! the engine's IPv4 addresses, on `[::]:P` its IPv6 ones (as Linux with `bindv6only`);
//! `connect` to an IPv6 address resolves its next hop by neighbour discovery. With owned
//! IPv6 addresses, an application starts once their duplicate address detection is
//! decided (about 1 s): nothing it sent from a tentative address would be answered.
//!
//! `engine/examples/client.rs` runs a client and a server in memory, without a NIC;
//! `echo.rs` and `kv.rs` are servers of their own protocols on an interface.

use std::net::SocketAddr;

use crate::host::{CloseHow, Host, Tx};
use crate::tcp::{Keepalive, State};
use crate::time::Instant;

pub use crate::host::events::{Closed, ConnId, ConnectError, Event, ListenError};

/// Application code run by a worker. Every method gets the time and the worker's network.
pub trait App: Send {
    /// Called once, before anything else, on the worker's core: listen, open the first
    /// connections.
    fn start(&mut self, now: Instant, net: &mut Net<'_>) {
        let _ = (now, net);
    }

    /// Called on every loop iteration: start connections, send on a schedule.
    fn poll(&mut self, now: Instant, net: &mut Net<'_>) {
        let _ = (now, net);
    }

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
    /// Listens on `addr` (`0.0.0.0:PORT`: every address of the engine) on this worker.
    /// Each connection accepted comes as `Event::Accepted`. Every worker should listen:
    /// the steering program decides which worker a new flow lands on. On an interface
    /// the port must be one the engine steers (`EngineConfig::app_ports`).
    pub fn listen(&mut self, addr: impl Into<SocketAddr>) -> Result<(), ListenError> {
        self.host.listen(addr.into())
    }

    /// Stops listening on `addr` (new SYNs get a RST; accepted connections go on).
    /// Returns whether something was listened on there.
    pub fn unlisten(&mut self, addr: impl Into<SocketAddr>) -> bool {
        self.host.unlisten(addr.into())
    }

    /// Opens a connection to `remote` from this worker. The SYN leaves at once when the
    /// next hop's address is known (or the destination is local), after ARP otherwise;
    /// `Event::Connected` or `Event::Closed` follows.
    pub fn connect(&mut self, remote: impl Into<SocketAddr>) -> Result<ConnId, ConnectError> {
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

    /// What has arrived, in place in the connection's receive buffer, without a copy:
    /// two slices because the buffer is a ring (the second is empty unless the data
    /// wraps). Nothing is consumed until [`Net::consume`].
    pub fn recv_view(&self, id: ConnId) -> (&[u8], &[u8]) {
        self.host.client_peek(id)
    }

    /// Consumes `n` bytes seen through [`Net::recv_view`] (the window reopens).
    pub fn consume(&mut self, id: ConnId, n: usize) {
        self.host.client_consume(id, n)
    }

    /// Bytes waiting to be read.
    pub fn readable(&self, id: ConnId) -> usize {
        self.host.client_readable(id)
    }

    /// Bytes `send` would take now.
    pub fn send_capacity(&self, id: ConnId) -> usize {
        self.host.client_conn(id).map_or(0, |c| c.send_capacity())
    }

    /// Half-close (shutdown(2) of the write side): a FIN after everything written; reads
    /// go on until the peer closes too (`Event::PeerClosed`).
    pub fn shutdown(&mut self, id: ConnId) {
        self.host.client_close(id, CloseHow::Shutdown)
    }

    /// Close (close(2)): a FIN after everything written, and nothing more is read (what
    /// still arrives is dropped). `Event::Closed` follows when TCP is done.
    pub fn close(&mut self, id: ConnId) {
        self.host.client_close(id, CloseHow::Release)
    }

    /// Abortive close: a RST, buffers dropped.
    pub fn abort(&mut self, id: ConnId) {
        self.host.client_close(id, CloseHow::Abort)
    }

    /// Nagle's algorithm on this connection (TCP_NODELAY is `false` here); off by default.
    pub fn set_nagle(&mut self, id: ConnId, on: bool) {
        if let Some(c) = self.host.client_conn_mut(id) {
            c.set_nagle(on);
        }
    }

    /// Keep-alive probes on this connection (SO_KEEPALIVE with its three timers), or off.
    pub fn set_keepalive(&mut self, id: ConnId, keepalive: Option<Keepalive>) {
        let now = self.now;
        if let Some(c) = self.host.client_conn_mut(id) {
            c.set_keepalive(now, keepalive);
        }
    }

    /// The connection's TCP state (`None` once it is gone).
    pub fn state(&self, id: ConnId) -> Option<State> {
        self.host.client_state(id)
    }

    /// The local address the connection uses.
    pub fn local_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.host.client_local(id)
    }

    /// The peer's address.
    pub fn peer_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.host.client_peer(id)
    }

    /// The worker this code runs on.
    pub fn worker(&self) -> u16 {
        self.host.worker()
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
    if !host.app_started {
        host.app_started = true;
        app.start(now, &mut Net { host, tx, now });
    }
    app.poll(now, &mut Net { host, tx, now });
    for _ in 0..crate::host::EVENT_BUDGET {
        let Some((id, ev)) = host.next_event() else {
            break;
        };
        app.on_event(now, &mut Net { host, tx, now }, id, ev);
    }
    host.flush(now, tx);
}

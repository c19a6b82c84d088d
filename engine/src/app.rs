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

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::host::{Host, Tx};
use crate::tcp::State;
use crate::time::Instant;

/// A connection, as the application knows it. Stale after the connection's `Closed` event
/// (the engine then ignores it).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// How a connection ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Both sides closed in order (or we aborted it ourselves).
    Normal,
    /// The peer answered the SYN with a RST: nothing listens there.
    Refused,
    /// The peer reset an established connection.
    Reset,
    /// Retransmissions (of the SYN, or of data) ran out.
    TimedOut,
    /// The next hop did not answer ARP within the retries: no frame was sent.
    Unreachable(Ipv4Addr),
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Normal => "closed",
            Closed::Refused => "connection refused",
            Closed::Reset => "connection reset",
            Closed::TimedOut => "timed out",
            Closed::Unreachable(_) => "next hop unreachable (no ARP answer)",
        }
    }
}

/// Something that happened to a client connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: the connection can be written.
    Connected,
    /// New bytes can be read.
    Readable,
    /// Room in the send buffer again after a write that did not take everything.
    Writable,
    /// The peer sent its FIN and everything before it was read.
    PeerClosed,
    /// The connection is gone (its id is stale from now on).
    Closed(Closed),
}

/// Why a connect failed at once.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The destination is not on our subnet and no gateway is configured (`--gateway`).
    NoRoute(Ipv4Addr),
    /// The engine has no address to send from.
    NoAddress,
    /// Every port of the local port range is in use towards this destination.
    NoPorts,
    /// The worker holds its maximum number of connections.
    TooManyConnections,
    /// Too many connections are waiting for the same next hop's ARP answer.
    ResolutionBacklog,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::NoRoute(ip) => write!(
                f,
                "no route to {ip}: it is outside the engine's subnet and no --gateway is set"
            ),
            ConnectError::NoAddress => f.write_str("the engine has no address to connect from"),
            ConnectError::NoPorts => f.write_str(
                "every local port is in use towards this destination (widen --local-ports)",
            ),
            ConnectError::TooManyConnections => {
                f.write_str("the worker holds its maximum number of connections (--max-conns)")
            }
            ConnectError::ResolutionBacklog => {
                f.write_str("too many connections wait for the same next hop's ARP answer")
            }
        }
    }
}

impl std::error::Error for ConnectError {}

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

//! What a connection tells the application: its id, its events, how it ended, and why a
//! connect or a listen failed. The application interface (`crate::app`) re-exports them.

use std::net::{IpAddr, SocketAddr};

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
    /// The next hop did not answer ARP (IPv6: neighbour solicitations) within the
    /// retries: no frame was sent.
    Unreachable(IpAddr),
}

impl Closed {
    /// The reason's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Normal => "closed",
            Closed::Refused => "connection refused",
            Closed::Reset => "connection reset",
            Closed::TimedOut => "timed out",
            Closed::Unreachable(IpAddr::V4(_)) => "next hop unreachable (no ARP answer)",
            Closed::Unreachable(IpAddr::V6(_)) => {
                "next hop unreachable (no neighbour advertisement)"
            }
        }
    }
}

/// Something that happened to one of the application's connections.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: the connection can be written.
    Connected,
    /// A listener of the application accepted this new connection (its handshake is
    /// complete); from now on it is the application's, on this worker.
    Accepted {
        /// Our address and the port listened on.
        local: SocketAddr,
        /// The peer's address and port.
        remote: SocketAddr,
    },
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
    /// The destination is not on our subnet (IPv6: prefix) and no gateway of its family
    /// is configured.
    NoRoute(IpAddr),
    /// The engine has no address of the destination's family to send from.
    NoAddress,
    /// Every port of the local port range is in use towards this destination.
    NoPorts,
    /// The worker holds its maximum number of connections.
    TooManyConnections,
    /// Too many connections are waiting for the same next hop's ARP (NDP) answer.
    ResolutionBacklog,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::NoRoute(ip) => write!(
                f,
                "no route to {ip}: it is outside the engine's subnets and no gateway of its family is configured"
            ),
            ConnectError::NoAddress => f.write_str(
                "the engine has no address of the destination's family to connect from: give one with --ip",
            ),
            ConnectError::NoPorts => {
                f.write_str("every port of the local port range is in use towards this destination")
            }
            ConnectError::TooManyConnections => {
                f.write_str("the worker holds its maximum number of connections")
            }
            ConnectError::ResolutionBacklog => f.write_str(
                "too many connections wait for the same next hop's ARP (or neighbour discovery) answer",
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Why a listen failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ListenError {
    /// The port is not steered to the engine: list it in `EngineConfig::app_ports`, or
    /// the kernel keeps its segments.
    NotSteered(u16),
    /// The HTTP responder, or an earlier `listen` of the application, has this address.
    InUse(SocketAddr),
    /// The address is none of the engine's.
    NotOurs(SocketAddr),
    /// Port 0: a listener needs a known port.
    NoPort,
    /// The engine has no address of the family asked for (`[::]` with no IPv6 address).
    NoAddress,
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::NotSteered(p) => write!(
                f,
                "port {p} is not steered to the engine: add it to EngineConfig::app_ports"
            ),
            ListenError::InUse(a) => write!(f, "{a} is already listened on"),
            ListenError::NotOurs(a) => write!(
                f,
                "{} is not one of the engine's addresses (give it with --ip, or listen on 0.0.0.0 or [::])",
                a.ip()
            ),
            ListenError::NoPort => f.write_str("a listener needs a port other than 0"),
            ListenError::NoAddress => f.write_str(
                "the engine has no address of this family: give one with --ip (EngineConfig::addrs or addrs6)",
            ),
        }
    }
}

impl std::error::Error for ListenError {}

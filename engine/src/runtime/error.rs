//! Why an engine did not start, in the engine's words (a command line maps them to its
//! flags). Nothing is left attached or bound after any of them.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::afxdp::XskError;
use fastpath_xdp::XdpError;

/// Why [`Engine::start`](super::Engine::start) failed.
#[derive(Debug)]
pub enum StartError {
    /// The process lacks capabilities AF_XDP and XDP need (named).
    MissingCapabilities(Vec<&'static str>),
    /// No interface of that name in this network namespace.
    NoInterface(String),
    /// A queue the configuration names does not exist on the interface.
    NoSuchQueue {
        /// The interface.
        iface: String,
        /// The queue asked for.
        queue: u32,
        /// How many receive queues the interface has.
        queues: u32,
    },
    /// The configuration names no queue.
    NoQueues,
    /// The configuration gives no address.
    NoAddress,
    /// Fewer cores than queues were given.
    TooFewCores {
        /// Cores given.
        cores: usize,
        /// Queues to run.
        queues: usize,
    },
    /// A core that is not on this machine.
    NoSuchCpu {
        /// The core asked for.
        cpu: usize,
        /// How many CPUs this machine has.
        cpus: usize,
    },
    /// `max_conns` is 0: no connection could be held.
    NoConnections,
    /// The local port range is empty or starts at 0.
    BadLocalPorts {
        /// The first port.
        lo: u16,
        /// The last port.
        hi: u16,
    },
    /// An application port is also the HTTP responder's, or is 0.
    AppPort(u16),
    /// Reading something about the interface failed.
    Interface {
        /// The interface.
        iface: String,
        /// What was being read.
        what: &'static str,
        /// The operating system's answer.
        err: io::Error,
    },
    /// Loading, attaching or filling the steering program failed.
    Xdp(XdpError),
    /// Opening the AF_XDP socket of one queue failed.
    Socket {
        /// The interface.
        iface: String,
        /// The queue.
        queue: u32,
        /// Why the socket could not be opened.
        err: XskError,
    },
    /// The pcap file could not be created.
    Pcap {
        /// The file asked for.
        path: PathBuf,
        /// The operating system's answer.
        err: io::Error,
    },
    /// The operating system refused something else (threads, eventfds, randomness).
    Os {
        /// What was being done.
        what: &'static str,
        /// The operating system's answer.
        err: io::Error,
    },
    /// The control socket could not be made at this path.
    Control {
        /// The socket's path.
        path: PathBuf,
        /// The operating system's answer.
        err: io::Error,
    },
    /// Another engine answers on this control socket.
    ControlInUse(PathBuf),
    /// A worker could not become the `--user` given.
    User {
        /// The user.
        name: String,
        /// Why not.
        err: String,
    },
    /// IPv6 addresses were given, and the steering program does not steer IPv6.
    Ipv6NotSteered,
    /// Duplicate address detection found another node on the link using this address
    /// (RFC 4862 5.4): the engine does not use it.
    DuplicateAddress(std::net::Ipv6Addr),
    /// Duplicate address detection did not finish (the workers did not run it).
    DadUnfinished,
    /// The metrics listener could not be bound.
    Metrics {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's answer.
        err: io::Error,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::MissingCapabilities(caps) => write!(
                f,
                "missing {}: run as root, or grant the capabilities to the program",
                caps.join(", ")
            ),
            StartError::NoInterface(name) => {
                write!(f, "no interface '{name}' here (see `ip link`)")
            }
            StartError::NoSuchQueue {
                iface,
                queue,
                queues,
            } => write!(
                f,
                "{iface} queue {queue} does not exist: there are {queues} (0-{})",
                queues.saturating_sub(1)
            ),
            StartError::NoQueues => f.write_str("no queue to attach to"),
            StartError::NoAddress => f.write_str("the engine was given no address"),
            StartError::TooFewCores { cores, queues } => write!(
                f,
                "{cores} core(s) for {queues} queue(s): give one core per queue"
            ),
            StartError::NoSuchCpu { cpu, cpus } => {
                write!(f, "CPU {cpu} does not exist (this machine has {cpus})")
            }
            StartError::NoConnections => f.write_str(
                "a connection limit of 0: the engine could hold no connection; give 1 or more",
            ),
            StartError::BadLocalPorts { lo, hi } => {
                write!(f, "local ports {lo}-{hi}: need 1 <= first <= last")
            }
            StartError::AppPort(0) => f.write_str("application port 0: give a port from 1 to 65535"),
            StartError::AppPort(p) => write!(
                f,
                "port {p} is both an application port and the HTTP responder's: give it to one"
            ),
            StartError::Interface { iface, what, err } => {
                write!(f, "reading {what} of {iface}: {err}")
            }
            StartError::Xdp(e) => e.fmt(f),
            StartError::Socket { iface, queue, err } => {
                write!(f, "queue {queue} of {iface}: {err}")
            }
            StartError::Pcap { path, err } => write!(f, "creating {}: {err}", path.display()),
            StartError::Os { what, err } => write!(f, "{what}: {err}"),
            StartError::Control { path, err } => {
                write!(f, "control socket {}: {err}", path.display())
            }
            StartError::ControlInUse(path) => write!(
                f,
                "control socket {} is in use: another engine runs on this interface (stop it first), or give this one another control path",
                path.display()
            ),
            StartError::User { name, err } => {
                write!(f, "running the workers as {name}: {err}")
            }
            StartError::Ipv6NotSteered => f.write_str(
                "IPv6 addresses need a steering program that steers IPv6, and this build's does not: give IPv4 addresses only",
            ),
            StartError::DuplicateAddress(a) => write!(
                f,
                "{a} is already in use on the link (duplicate address detection, RFC 4862): another node answered for it; give another address"
            ),
            StartError::DadUnfinished => f.write_str(
                "duplicate address detection for the IPv6 addresses did not finish: the workers did not run",
            ),
            StartError::Metrics { addr, err } => write!(f, "metrics listener on {addr}: {err}"),
        }
    }
}

/// Each message carries its cause's text, so no `source()` (it would print twice).
impl std::error::Error for StartError {}

impl From<XdpError> for StartError {
    fn from(e: XdpError) -> StartError {
        StartError::Xdp(e)
    }
}

//! Errors opening an AF_XDP socket. Each says what is wrong and what to do.

use std::fmt;
use std::io;

/// Why an AF_XDP socket could not be opened.
#[derive(Debug)]
pub enum XskError {
    /// No interface of that name in this network namespace.
    NoInterface(String),
    /// The interface has no such receive queue.
    QueueOutOfRange {
        /// The interface.
        ifname: String,
        /// The queue asked for.
        queue: u32,
        /// How many receive queues the interface has.
        queues: u32,
    },
    /// The process may not open AF_XDP sockets.
    Permission(io::Error),
    /// Zero-copy was required and the driver refused it.
    ZeroCopyUnsupported {
        /// The interface.
        ifname: String,
        /// Its driver.
        driver: String,
        /// The kernel's answer.
        err: io::Error,
    },
    /// The queue already has an AF_XDP socket bound.
    QueueBusy {
        /// The interface.
        ifname: String,
        /// The queue.
        queue: u32,
    },
    /// The socket's configuration is not valid (frame size or count).
    Config(String),
    /// The operating system refused something else.
    Os {
        /// What was being done.
        what: &'static str,
        /// The operating system's answer.
        err: io::Error,
    },
}

impl fmt::Display for XskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XskError::NoInterface(name) => write!(
                f,
                "no interface '{name}' in this network namespace (see `ip link`)"
            ),
            XskError::QueueOutOfRange {
                ifname,
                queue,
                queues,
            } => write!(
                f,
                "{ifname} has {queues} RX queue(s) (0-{}), so queue {queue} does not exist; \
                 choose a queue within that range or raise the count with \
                 `ethtool -L {ifname} combined N`",
                queues.saturating_sub(1)
            ),
            XskError::Permission(e) => write!(
                f,
                "not allowed to open an AF_XDP socket ({e}): run as root, or grant \
                 CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF"
            ),
            XskError::ZeroCopyUnsupported {
                ifname,
                driver,
                err,
            } => write!(
                f,
                "{ifname} (driver {driver}) refused AF_XDP zero-copy ({err}); \
                 bind in copy mode, or in auto mode to fall back by itself"
            ),
            XskError::QueueBusy { ifname, queue } => write!(
                f,
                "queue {queue} of {ifname} already has an AF_XDP socket (another fastpath?); \
                 stop it or choose other queues"
            ),
            XskError::Config(msg) => write!(f, "invalid AF_XDP configuration: {msg}"),
            XskError::Os { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for XskError {}

//! Errors opening an AF_XDP socket. Each says what is wrong and what to do.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum XskError {
    NoInterface(String),
    QueueOutOfRange {
        ifname: String,
        queue: u32,
        queues: u32,
    },
    Permission(io::Error),
    ZeroCopyUnsupported {
        ifname: String,
        driver: String,
        err: io::Error,
    },
    QueueBusy {
        ifname: String,
        queue: u32,
    },
    Config(String),
    Os {
        what: &'static str,
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
                 pick --queues within that range or raise it with `ethtool -L {ifname} combined N`",
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
                 use --mode copy, or --mode auto to fall back by itself"
            ),
            XskError::QueueBusy { ifname, queue } => write!(
                f,
                "queue {queue} of {ifname} already has an AF_XDP socket (another fastpath?); \
                 stop it or choose other --queues"
            ),
            XskError::Config(msg) => write!(f, "invalid AF_XDP configuration: {msg}"),
            XskError::Os { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for XskError {}

//! The 4-tuple of an IPv6 connection (the IPv4 one, `FourTuple`, is in `conn`).

use std::net::Ipv6Addr;

/// An IPv6 connection's addresses and ports, kept compact (36 bytes: no flow label or
/// scope, which do not tell connections apart on one link).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple6 {
    /// Our address.
    pub local: Ipv6Addr,
    /// The peer's address.
    pub remote: Ipv6Addr,
    /// Our port.
    pub local_port: u16,
    /// The peer's port.
    pub remote_port: u16,
}

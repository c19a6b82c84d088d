//! The 4-tuple of an IPv6 connection (the IPv4 one, `FourTuple`, is in `conn`), and
//! [`Tuple`], a connection's 4-tuple of either family.
//!
//! A connection holds a `Tuple`: 38 bytes where the IPv4 tuple alone is 12, so an IPv4
//! connection grows by 26 bytes of its ~2 KB; in exchange one `Conn` serves both families
//! and the IPv4 paths stay the code they were (the socket table and frame building match
//! on the family once, then run the family's own code).

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use super::conn::FourTuple;

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

impl FourTuple6 {
    /// Our address and port.
    pub fn local_addr(&self) -> SocketAddrV6 {
        SocketAddrV6::new(self.local, self.local_port, 0, 0)
    }

    /// The peer's address and port.
    pub fn remote_addr(&self) -> SocketAddrV6 {
        SocketAddrV6::new(self.remote, self.remote_port, 0, 0)
    }

    /// The same connection seen from the other end.
    pub fn reversed(&self) -> FourTuple6 {
        FourTuple6 {
            local: self.remote,
            remote: self.local,
            local_port: self.remote_port,
            remote_port: self.local_port,
        }
    }
}

/// A connection's 4-tuple, IPv4 or IPv6.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tuple {
    /// An IPv4 connection.
    V4(FourTuple),
    /// An IPv6 connection.
    V6(FourTuple6),
}

impl From<FourTuple> for Tuple {
    fn from(t: FourTuple) -> Tuple {
        Tuple::V4(t)
    }
}

impl From<FourTuple6> for Tuple {
    fn from(t: FourTuple6) -> Tuple {
        Tuple::V6(t)
    }
}

impl Tuple {
    /// The tuple of `local` and `remote`; `None` when their families differ.
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Option<Tuple> {
        match (local, remote) {
            (SocketAddr::V4(local), SocketAddr::V4(remote)) => {
                Some(Tuple::V4(FourTuple { local, remote }))
            }
            (SocketAddr::V6(l), SocketAddr::V6(r)) => Some(Tuple::V6(FourTuple6 {
                local: *l.ip(),
                remote: *r.ip(),
                local_port: l.port(),
                remote_port: r.port(),
            })),
            _ => None,
        }
    }

    /// Our address and port.
    pub fn local(&self) -> SocketAddr {
        match self {
            Tuple::V4(t) => t.local.into(),
            Tuple::V6(t) => t.local_addr().into(),
        }
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddr {
        match self {
            Tuple::V4(t) => t.remote.into(),
            Tuple::V6(t) => t.remote_addr().into(),
        }
    }

    /// Our port.
    #[inline]
    pub fn local_port(&self) -> u16 {
        match self {
            Tuple::V4(t) => t.local.port(),
            Tuple::V6(t) => t.local_port,
        }
    }

    /// The peer's port.
    #[inline]
    pub fn remote_port(&self) -> u16 {
        match self {
            Tuple::V4(t) => t.remote.port(),
            Tuple::V6(t) => t.remote_port,
        }
    }

    /// An IPv6 connection.
    #[inline]
    pub fn is_v6(&self) -> bool {
        matches!(self, Tuple::V6(_))
    }

    /// The same connection seen from the other end.
    pub fn reversed(&self) -> Tuple {
        match self {
            Tuple::V4(t) => Tuple::V4(FourTuple {
                local: t.remote,
                remote: t.local,
            }),
            Tuple::V6(t) => Tuple::V6(t.reversed()),
        }
    }
}

/// Bytes of IP header an IPv6 packet carries beyond IPv4's 20 (RFC 8200 3): what the MSS
/// loses (MSS = MTU - 60, RFC 9293 3.7.1).
pub const IPV6_EXTRA_HEADER: u16 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_size_stays_small() {
        // What a connection pays for holding either family (see the module docs).
        assert!(
            core::mem::size_of::<Tuple>() <= 40,
            "{}",
            core::mem::size_of::<Tuple>()
        );
    }

    #[test]
    fn families_pair_and_reverse() {
        let a: SocketAddr = "[2001:db8::10]:80".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        let t = Tuple::new(a, b).unwrap();
        assert!(t.is_v6());
        assert_eq!((t.local(), t.remote()), (a, b));
        assert_eq!(t.reversed().local(), b);
        assert_eq!((t.local_port(), t.remote_port()), (80, 4000));
        assert!(Tuple::new(a, "10.0.0.1:1".parse().unwrap()).is_none());
    }
}

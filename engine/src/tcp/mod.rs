//! Sans-IO TCP (RFC 9293 and the extensions real peers use).
//!
//! Segments (`wire::tcp::TcpRepr` + payload) and `now` go in; segments to send and the next
//! deadline come out. Nothing here reads a clock or touches a device.
//!
//! RFCs a reader needs: 9293 (TCP), 7323 (window scale, timestamps, PAWS), 2018 (SACK),
//! 6298 (RTO), 5681 and 6582 (congestion control, NewReno), 9438 (CUBIC), 5961 (blind
//! RST/SYN), 4987 (SYN cookies), 6528 (ISNs), 1122 (delayed ACK, keep-alive); for loss
//! recovery 8985 (RACK-TLP), 6937 (PRR), 2883 (D-SACK), 3708, 3522, 4015 and 5682 (undo,
//! Eifel, F-RTO), 6675 (SACK recovery); 3168 (ECN).

pub(crate) mod assembler;
pub(crate) mod buffer;
pub mod bbr;
pub mod cc;
pub(crate) mod config;
mod conn;
pub(crate) mod cookie;
pub(crate) mod isn;
pub(crate) mod listener;
pub(crate) mod recovery;
pub(crate) mod rtt;
pub(crate) mod secrets;
pub(crate) mod siphash;
mod tuple6; // the IPv6 4-tuple, and the 4-tuple of either family

/// Sequence numbers live with the wire format (`wire::seq`); TCP uses them everywhere.
pub use crate::wire::seq::SeqNum;
pub use config::{Ecn, Keepalive, TcpConfig, LINUX_RMEM_MAX};
pub use conn::{CloseReason, Conn, ConnInfo, ConnStats, FourTuple, Limit, State};
pub use listener::{Listener, ListenerStats, SynVerdict};
pub use secrets::Secrets;
pub use tuple6::{FourTuple6, Tuple, IPV6_EXTRA_HEADER};

#[cfg(test)]
mod tests;

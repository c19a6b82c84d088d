//! Sans-IO TCP (RFC 9293 and the extensions real peers use).
//!
//! Segments (`wire::tcp::TcpRepr` + payload) and `now` go in; segments to send and the next
//! deadline come out. Nothing here reads a clock or touches a device.

mod seq;

pub use seq::SeqNum;

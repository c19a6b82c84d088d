//! Loss recovery pieces the connection composes: the per-segment record of what is in
//! flight (`sent`), RACK loss detection (`rack`, RFC 8985) and Proportional Rate Reduction
//! (`prr`, RFC 6937). Tail loss probes, D-SACK, undo and F-RTO are decisions the connection
//! makes with them (`conn/recovery.rs`).

pub mod prr;
pub mod rate;
pub mod rack;
pub mod sent;

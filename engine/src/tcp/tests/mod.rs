//! Deterministic tests of the TCP state machine: packetdrill-style scripts (`scripts.rs`)
//! run by a time-stepped harness (`harness.rs`); loss recovery's own in `recovery.rs`.

mod ecn;
mod harness;
mod info;
mod recovery;
mod scripts;

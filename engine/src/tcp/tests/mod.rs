//! Deterministic tests of the TCP state machine: packetdrill-style scripts (`scripts.rs`)
//! run by a time-stepped harness (`harness.rs`).

mod harness;
mod scripts;

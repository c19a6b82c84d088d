//! Shared test code.
pub mod sim;

//! Test bed for fastpath's privileged tests (and `fastpath demo`): network namespaces joined
//! by veth pairs, created with unique names and removed on every exit path, panics
//! included.

pub mod netns;
pub mod privileged;
pub mod proc;
pub mod veth;

pub use netns::Netns;
pub use proc::ChildGuard;
pub use veth::VethPair;

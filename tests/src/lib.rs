//! Test bed for fastpath's privileged integration tests: network namespaces joined by veth
//! pairs, created with unique names and removed on every exit path.

pub mod privileged;

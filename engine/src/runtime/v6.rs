//! IPv6 at start: which of the engine's IPv6 addresses it owns (the kernel lacks them) or
//! shares, and duplicate address detection for the owned ones before the engine is
//! declared started (RFC 4862 5.4: an address is not used before it is found unique).

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Cidr6, EngineConfig, StartError};
use crate::afxdp;
use crate::iface::{Iface, OurAddr6};
use crate::neighbor::dad::Dad;
use crate::worker::{AddrState, Addrs6};

/// The engine's IPv6 addresses, each with whether it owns it, and their shared state.
pub(super) struct Plan6 {
    pub addrs: Vec<(Cidr6, bool)>,
    pub shared: Arc<Addrs6>,
}

impl Plan6 {
    pub(super) fn new(cfg: &EngineConfig) -> Result<Plan6, StartError> {
        if !cfg.addrs6.is_empty() && !fastpath_xdp::STEERS_IPV6 {
            return Err(StartError::Ipv6NotSteered);
        }
        let kernel = afxdp::ipv6_addresses(&cfg.iface).unwrap_or_default();
        let addrs: Vec<(Cidr6, bool)> = cfg
            .addrs6
            .iter()
            .map(|c| (*c, !kernel.contains(&c.addr)))
            .collect();
        for (c, owned) in &addrs {
            if *owned {
                tracing::info!(
                    "{c} is not on {} in the kernel: the engine owns it and answers neighbour discovery and ICMPv6 echo itself, after duplicate address detection",
                    cfg.iface
                );
            } else {
                tracing::info!(
                    "{c} is shared with the kernel on {}: the kernel keeps neighbour discovery and ICMPv6",
                    cfg.iface
                );
            }
        }
        let shared = Addrs6::new(owned(&addrs));
        Ok(Plan6 { addrs, shared })
    }

    /// Adds the addresses to a worker's `Iface` (owned ones tentative).
    pub(super) fn add_to(&self, iface: &mut Iface) {
        for &(c, owned) in &self.addrs {
            let a = OurAddr6 {
                addr: c.addr,
                prefix: c.prefix,
                owned,
            };
            iface.add_ipv6(a, owned);
        }
    }

    /// The prober, for the first worker.
    pub(super) fn dad(&self, cfg: &EngineConfig) -> Dad {
        // The worker's clock starts at zero when its loop starts: the first probe is due then.
        Dad::new(cfg.dad, owned(&self.addrs), crate::time::Instant::ZERO)
    }

    /// Waits (bounded) until every owned address is decided; a duplicate fails the start.
    pub(super) fn wait(&self, cfg: &EngineConfig) -> Result<(), StartError> {
        if self.shared.states().is_empty() {
            return Ok(());
        }
        let bound = cfg.dad.retrans_timer * (cfg.dad.transmits + 1) + Duration::from_secs(2);
        let started = Instant::now();
        while !self.shared.decided() {
            if started.elapsed() > bound {
                return Err(StartError::DadUnfinished);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for (addr, state) in self.shared.states() {
            if state == AddrState::Duplicate {
                return Err(StartError::DuplicateAddress(addr));
            }
            tracing::info!("{addr}: duplicate address detection found it unique, in use");
        }
        Ok(())
    }
}

fn owned(addrs: &[(Cidr6, bool)]) -> Vec<Ipv6Addr> {
    addrs
        .iter()
        .filter(|(_, o)| *o)
        .map(|(c, _)| c.addr)
        .collect()
}

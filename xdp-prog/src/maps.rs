//! The program's configuration maps, mirrored from `bpf/steer.h`.

use std::net::Ipv4Addr;

use libbpf_rs::{MapCore, MapFlags};

use crate::{Steering, XdpError};

/// How the engine holds an address (the `addrs` map's value).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AddrMode {
    /// The kernel does not have the address: all its ARP and IP traffic go to the engine,
    /// which answers ARP and ping itself, RSTs unserved ports and answers UDP and other
    /// protocols with ICMP unreachable.
    Owned,
    /// The kernel has the address too: only the engine's TCP ports (and local port range)
    /// are taken; ARP, ICMP and every other port stay with the kernel.
    Shared,
}

impl AddrMode {
    fn wire(self) -> u8 {
        match self {
            AddrMode::Owned => 1,  // FP_ADDR_OWNED
            AddrMode::Shared => 2, // FP_ADDR_SHARED
        }
    }
}

/// What the program steers to the engine.
#[derive(Clone, Debug)]
pub struct SteerConfig {
    pub addrs: Vec<(Ipv4Addr, AddrMode)>,
    /// (address, port) pairs the engine serves; 0.0.0.0 means any of its addresses.
    pub ports: Vec<(Ipv4Addr, u16)>,
    /// Inclusive range of local ports for connections the engine opens; `None` for none.
    pub local_port_range: Option<(u16, u16)>,
    /// AF_XDP sockets per RX queue (XSKMAP slots per queue), at least 1.
    pub sockets_per_queue: u32,
}

/// `struct fp_port_key` in steer.h.
#[repr(C)]
struct PortKey {
    addr: [u8; 4],
    port: [u8; 2],
    pad: u16,
}
const _: () = assert!(core::mem::size_of::<PortKey>() == 8);

/// `struct fp_config` in steer.h.
#[repr(C)]
struct Config {
    local_port_lo: u16,
    local_port_hi: u16,
    sockets_per_queue: u32,
}
const _: () = assert!(core::mem::size_of::<Config>() == 8);

const MAX_ADDRS: usize = 256; // addrs max_entries
const MAX_PORTS: usize = 1024; // ports max_entries

impl SteerConfig {
    pub(crate) fn validate(&self) -> Result<(), XdpError> {
        if self.addrs.is_empty() {
            return Err(XdpError::Config("no address to steer".into()));
        }
        if self.addrs.len() > MAX_ADDRS || self.ports.len() > MAX_PORTS {
            return Err(XdpError::Config(format!(
                "at most {MAX_ADDRS} addresses and {MAX_PORTS} ports"
            )));
        }
        if self.sockets_per_queue == 0 {
            return Err(XdpError::Config(
                "sockets_per_queue must be at least 1".into(),
            ));
        }
        if let Some((lo, hi)) = self.local_port_range {
            if lo == 0 || lo > hi {
                return Err(XdpError::Config(format!(
                    "local port range {lo}-{hi}: need 1 <= lo <= hi"
                )));
            }
        }
        Ok(())
    }
}

impl PortKey {
    fn bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..4].copy_from_slice(&self.addr);
        b[4..6].copy_from_slice(&self.port);
        b[6..8].copy_from_slice(&self.pad.to_ne_bytes());
        b
    }
}

impl Config {
    fn bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.local_port_lo.to_ne_bytes());
        b[2..4].copy_from_slice(&self.local_port_hi.to_ne_bytes());
        b[4..8].copy_from_slice(&self.sockets_per_queue.to_ne_bytes());
        b
    }
}

pub(crate) fn fill(s: &Steering, cfg: &SteerConfig) -> Result<(), XdpError> {
    let map_err = |what: &str, e: libbpf_rs::Error| XdpError::Map(format!("{what}: {e}"));
    let addrs = s.map("addrs");
    for (addr, mode) in &cfg.addrs {
        addrs
            .update(&addr.octets(), &[mode.wire()], MapFlags::ANY)
            .map_err(|e| map_err("addrs", e))?;
    }
    let ports = s.map("ports");
    for (addr, port) in &cfg.ports {
        let key = PortKey {
            addr: addr.octets(),
            port: port.to_be_bytes(),
            pad: 0,
        };
        ports
            .update(&key.bytes(), &[1], MapFlags::ANY)
            .map_err(|e| map_err("ports", e))?;
    }
    // lo > hi disables the range in the program.
    let (lo, hi) = cfg.local_port_range.unwrap_or((1, 0));
    let config = Config {
        local_port_lo: lo,
        local_port_hi: hi,
        sockets_per_queue: cfg.sockets_per_queue,
    };
    s.map("config")
        .update(&0u32.to_ne_bytes(), &config.bytes(), MapFlags::ANY)
        .map_err(|e| map_err("config", e))
}

//! The program's configuration maps, mirrored from `bpf/steer.h`.

use std::net::IpAddr;

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

/// What the program steers to the engine. Addresses of both families: IPv4 and IPv6
/// (global or unique-local unicast; link-local addresses, with neighbour discovery for
/// them, stay the kernel's).
#[derive(Clone, Debug)]
pub struct SteerConfig {
    /// The engine's addresses and how it holds each.
    pub addrs: Vec<(IpAddr, AddrMode)>,
    /// (address, port) pairs the engine serves; the unspecified address of either family
    /// (0.0.0.0 or ::) means any of its addresses, of both families.
    pub ports: Vec<(IpAddr, u16)>,
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

/// `struct fp_port6_key` in steer.h.
#[repr(C)]
struct Port6Key {
    addr: [u8; 16],
    port: [u8; 2],
    pad: u16,
}
const _: () = assert!(core::mem::size_of::<Port6Key>() == 20);

impl Port6Key {
    fn bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..16].copy_from_slice(&self.addr);
        b[16..18].copy_from_slice(&self.port);
        b[18..20].copy_from_slice(&self.pad.to_ne_bytes());
        b
    }
}

/// `struct fp_config` in steer.h.
#[repr(C)]
struct Config {
    local_port_lo: u16,
    local_port_hi: u16,
    sockets_per_queue: u32,
}
const _: () = assert!(core::mem::size_of::<Config>() == 8);

const MAX_ADDRS: usize = 256; // addrs and addrs6 max_entries
const MAX_PORTS: usize = 1024; // ports and ports6 max_entries

/// Why the program cannot steer `a` for the engine, if it cannot.
fn unsteerable(a: IpAddr) -> Option<&'static str> {
    match a {
        IpAddr::V4(v) if v.is_unspecified() || v.is_broadcast() || v.is_multicast() => {
            Some("not a unicast address")
        }
        IpAddr::V6(v) if v.is_unspecified() || v.is_multicast() => Some("not a unicast address"),
        IpAddr::V6(v) if v.is_unicast_link_local() => Some(
            "link-local: the kernel keeps its link-local addresses and their neighbour \
             discovery; give the engine a global or unique-local address",
        ),
        IpAddr::V6(v) if v.is_loopback() => Some("the loopback address is not on a link"),
        _ => None,
    }
}

impl SteerConfig {
    pub(crate) fn validate(&self) -> Result<(), XdpError> {
        if self.addrs.is_empty() {
            return Err(XdpError::Config("no address to steer".into()));
        }
        if let Some((a, why)) = self
            .addrs
            .iter()
            .find_map(|&(a, _)| unsteerable(a).map(|why| (a, why)))
        {
            return Err(XdpError::Config(format!("cannot steer {a}: {why}")));
        }
        let v6 = |v: &[IpAddr]| v.iter().filter(|a| a.is_ipv6()).count();
        let addrs: Vec<IpAddr> = self.addrs.iter().map(|a| a.0).collect();
        let ports: Vec<IpAddr> = self.ports.iter().map(|p| p.0).collect();
        let (addrs6, ports6) = (v6(&addrs), v6(&ports));
        if (addrs.len() - addrs6).max(addrs6) > MAX_ADDRS
            || (ports.len() - ports6).max(ports6) > MAX_PORTS
        {
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
    let (addrs, addrs6) = (s.map("addrs"), s.map("addrs6"));
    for (addr, mode) in &cfg.addrs {
        match addr {
            IpAddr::V4(a) => addrs.update(&a.octets(), &[mode.wire()], MapFlags::ANY),
            IpAddr::V6(a) => addrs6.update(&a.octets(), &[mode.wire()], MapFlags::ANY),
        }
        .map_err(|e| map_err("addrs", e))?;
    }
    let (ports, ports6) = (s.map("ports"), s.map("ports6"));
    for &(addr, port) in &cfg.ports {
        let v4 = |a: [u8; 4]| {
            let key = PortKey {
                addr: a,
                port: port.to_be_bytes(),
                pad: 0,
            };
            ports.update(&key.bytes(), &[1], MapFlags::ANY)
        };
        let v6 = |a: [u8; 16]| {
            let key = Port6Key {
                addr: a,
                port: port.to_be_bytes(),
                pad: 0,
            };
            ports6.update(&key.bytes(), &[1], MapFlags::ANY)
        };
        match addr {
            // Any address, of both families.
            a if a.is_unspecified() => v4([0; 4]).and_then(|_| v6([0; 16])),
            IpAddr::V4(a) => v4(a.octets()),
            IpAddr::V6(a) => v6(a.octets()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn cfg(addrs: Vec<(IpAddr, AddrMode)>) -> SteerConfig {
        SteerConfig {
            addrs,
            ports: vec![(Ipv6Addr::UNSPECIFIED.into(), 80)],
            local_port_range: None,
            sockets_per_queue: 1,
        }
    }

    /// Both families are taken; link-local, multicast, loopback and unspecified addresses
    /// are refused with a reason (the kernel keeps link-local addresses and their NDP).
    #[test]
    fn addresses_of_both_families_and_what_is_refused() {
        let ok = cfg(vec![
            (Ipv4Addr::new(192, 0, 2, 10).into(), AddrMode::Owned),
            (
                "2001:db8::10".parse::<Ipv6Addr>().unwrap().into(),
                AddrMode::Owned,
            ),
            (
                "fd00::5".parse::<Ipv6Addr>().unwrap().into(),
                AddrMode::Shared,
            ),
        ]);
        assert!(ok.validate().is_ok());
        for (bad, why) in [
            ("fe80::1", "link-local"),
            ("ff02::1", "unicast"),
            ("::", "unicast"),
            ("::1", "loopback"),
            ("224.0.0.1", "unicast"),
            ("255.255.255.255", "unicast"),
        ] {
            let a: IpAddr = bad.parse().unwrap();
            let e = cfg(vec![(a, AddrMode::Owned)]).validate().unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }
}

//! Two namespaces joined by a veth pair: the engine's end ("a") and the peer's end ("b").
//!
//! Both ends have 2 TX and 2 RX queues so multi-queue steering can be tested. The peer's
//! TX checksum offload (and with it TSO) is off: otherwise veth hands the engine's AF_XDP
//! socket CHECKSUM_PARTIAL frames whose TCP checksum is not filled in, and 64 KB
//! super-segments. A user running the engine on a veth must do the same.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::netns::{unique_suffix, Netns};

static SUBNET: AtomicU32 = AtomicU32::new(0);

/// A veth pair between two fresh namespaces. Dropping it deletes both namespaces (which
/// deletes the veth), whatever path the test took.
#[derive(Debug)]
pub struct VethPair {
    // Peer first: a peer namespace is dropped before the engine's.
    peer_ns: Netns,
    engine_ns: Netns,
    engine_if: String,
    peer_if: String,
    subnet: [u8; 3],
}

impl VethPair {
    /// Creates the pair, both ends up, the peer's end with `10.X.Y.1/24`; the engine's end
    /// gets no kernel address (see `add_engine_kernel_addr` for shared-address tests).
    pub fn new(tag: &str) -> VethPair {
        let engine_ns = Netns::new(&format!("{tag}-a"));
        let peer_ns = Netns::new(&format!("{tag}-b"));
        let suffix = unique_suffix();
        let engine_if = format!("fpa{suffix}");
        let peer_if = format!("fpb{suffix}");
        assert!(engine_if.len() <= 15, "interface name {engine_if} too long");
        let n = SUBNET.fetch_add(1, Ordering::Relaxed);
        let subnet = [10, 100 + (n / 250 % 150) as u8, (n % 250) as u8];
        crate::netns::run_ok(std::process::Command::new("ip").args([
            "link",
            "add",
            &engine_if,
            "netns",
            engine_ns.name(),
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
            "netns",
            peer_ns.name(),
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
        ]));
        let pair = VethPair {
            peer_ns,
            engine_ns,
            engine_if,
            peer_if,
            subnet,
        };
        pair.peer_ns.run_ok(&[
            "ethtool",
            "-K",
            &pair.peer_if,
            "tx",
            "off",
            "tso",
            "off",
            "gso",
            "off",
        ]);
        let peer_addr = format!("{}/24", pair.peer_addr());
        pair.peer_ns
            .run_ok(&["ip", "addr", "add", &peer_addr, "dev", &pair.peer_if]);
        pair.peer_ns
            .run_ok(&["ip", "link", "set", &pair.peer_if, "up"]);
        pair.engine_ns
            .run_ok(&["ip", "link", "set", &pair.engine_if, "up"]);
        pair
    }

    pub fn engine_ns(&self) -> &Netns {
        &self.engine_ns
    }
    pub fn peer_ns(&self) -> &Netns {
        &self.peer_ns
    }
    pub fn engine_if(&self) -> &str {
        &self.engine_if
    }
    pub fn peer_if(&self) -> &str {
        &self.peer_if
    }

    /// `10.X.Y.host` in this pair's subnet.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.subnet[0], self.subnet[1], self.subnet[2], host)
    }

    /// The peer kernel's address, `.1`.
    pub fn peer_addr(&self) -> Ipv4Addr {
        self.addr(1)
    }

    /// The address tests give the engine, `.2`.
    pub fn engine_addr(&self) -> Ipv4Addr {
        self.addr(2)
    }

    /// Gives the engine side's kernel `addr/24` too (shared-address mode).
    pub fn add_engine_kernel_addr(&self, addr: Ipv4Addr) {
        let a = format!("{addr}/24");
        self.engine_ns
            .run_ok(&["ip", "addr", "add", &a, "dev", &self.engine_if]);
    }

    pub fn engine_mac(&self) -> [u8; 6] {
        mac_of(&self.engine_ns, &self.engine_if)
    }

    pub fn peer_mac(&self) -> [u8; 6] {
        mac_of(&self.peer_ns, &self.peer_if)
    }

    /// Is an XDP program attached to the engine's end?
    pub fn xdp_attached(&self) -> bool {
        self.engine_ns
            .run_ok(&["ip", "-d", "link", "show", "dev", &self.engine_if])
            .contains("prog/xdp")
    }

    /// (rx_packets, tx_packets) of an interface as the kernel counts them.
    pub fn link_packets(&self, engine_side: bool) -> (u64, u64) {
        let (ns, dev) = if engine_side {
            (&self.engine_ns, &self.engine_if)
        } else {
            (&self.peer_ns, &self.peer_if)
        };
        let read = |what: &str| -> u64 {
            ns.run_ok(&["cat", &format!("/sys/class/net/{dev}/statistics/{what}")])
                .trim()
                .parse()
                .unwrap_or(0)
        };
        (read("rx_packets"), read("tx_packets"))
    }
}

/// Parses a MAC address `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let text = ns.run_ok(&["cat", &format!("/sys/class/net/{dev}/address")]);
    parse_mac(&text).unwrap_or_else(|| panic!("bad MAC '{text}' for {dev}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_macs() {
        assert_eq!(
            super::parse_mac("02:00:0a:ff:00:01\n"),
            Some([2, 0, 10, 255, 0, 1])
        );
        assert_eq!(super::parse_mac("02:00"), None);
        assert_eq!(super::parse_mac("02:00:0a:ff:00:01:07"), None);
    }
}

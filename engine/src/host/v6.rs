//! IPv6 next hops for connections the engine opens: the source address towards a
//! destination (RFC 6724's first rules, reduced to what the engine has: the destination
//! itself, `::1`, an address on the destination's prefix, else the first), and neighbour
//! discovery (RFC 4861 7.2) run as ARP is for IPv4.

use super::*;
use crate::neighbor::ndp::NdpEvent;
use crate::wire::icmpv6::{NdpRepr, NDP_HOP_LIMIT};
use crate::wire::ipv6::{same_prefix, solicited_node};

impl Host {
    /// The IPv6 address we send from towards `dst`.
    pub(super) fn source_for6(&self, dst: Ipv6Addr) -> Result<Ipv6Addr, ConnectError> {
        if dst.is_loopback() {
            return Ok(Ipv6Addr::LOCALHOST);
        }
        let addrs = &self.cfg.addrs6;
        if addrs.iter().any(|(a, _)| *a == dst) {
            return Ok(dst);
        }
        let on_link = addrs.iter().find(|(a, p)| same_prefix(*a, dst, *p));
        match (on_link, addrs.first()) {
            (Some((a, _)), _) => Ok(*a),
            (None, Some((a, _))) if self.cfg.gateway6.is_some() => Ok(*a),
            (None, Some(_)) => Err(ConnectError::NoRoute(dst.into())),
            (None, None) => Err(ConnectError::NoAddress),
        }
    }

    /// A neighbour advertisement for `ip` (our `Iface` checked it): learn where `ip` is,
    /// and let connections waiting for it go.
    pub fn on_neighbor6(&mut self, now: Instant, ip: Ipv6Addr, mac: MacAddr, tx: &mut dyn Tx) {
        let _ = self.ndp.on_advert(now, ip, mac);
        self.poll_ndp(now, tx);
    }

    pub(super) fn poll_ndp(&mut self, now: Instant, tx: &mut dyn Tx) {
        if self.ndp.poll_at().is_none_or(|t| t > now) {
            return;
        }
        while let Some(ev) = self.ndp.poll(now) {
            match ev {
                NdpEvent::SendSolicit { src, target } => {
                    self.stats.arp_requests += 1;
                    let mac = self.mac;
                    let ip = crate::frame::Ip6 {
                        src,
                        dst: solicited_node(target),
                        hop_limit: NDP_HOP_LIMIT,
                    };
                    let ns = NdpRepr::NeighborSolicit {
                        target,
                        source_lladdr: Some(mac),
                    };
                    let sent =
                        tx.send(&mut |buf: &mut [u8]| crate::frame::ndp(buf, mac, None, &ip, &ns));
                    if !sent {
                        self.stats.tx_full += 1;
                    }
                }
                NdpEvent::Resolved { mac, frame: id } => {
                    if let Some(slot) = self.client_slot(id) {
                        let e = self.slab[slot].as_mut().expect("live slot");
                        if e.path == Path::Resolving {
                            e.path = Path::Nic { mac, vlan: None };
                            self.service(slot, now, tx);
                        }
                    }
                }
                NdpEvent::Failed { ip, frame: id } => {
                    if let Some(slot) = self.client_slot(id) {
                        self.stats.unreachable += 1;
                        self.events
                            .push_back((id, Event::Closed(Closed::Unreachable(ip.into()))));
                        self.remove(slot);
                    }
                }
            }
        }
    }
}

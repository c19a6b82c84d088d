//! The server side: segments for our addresses, to a listener or to a connection, and
//! the stateless answers (cookie SYN-ACKs).

use super::*;

impl Host {
    pub(super) fn listener_for(&mut self, local: SocketAddr) -> Option<usize> {
        let open = |i: &usize| self.serves[*i] != Serves::Closed;
        if let Some(i) = (0..self.listeners.len())
            .filter(open)
            .find(|&i| self.listeners[i].local() == local)
        {
            return Some(i);
        }
        // 127.0.0.0/8 (and ::1) reaches the engine's listeners of its family by port,
        // whatever their address.
        if is_loopback(local.ip()) {
            let like = (0..self.listeners.len()).filter(open).find(|&i| {
                let l = self.listeners[i].local();
                l.port() == local.port() && l.is_ipv6() == local.is_ipv6()
            })?;
            let serves = self.serves[like];
            return Some(self.add_listener(local, serves));
        }
        None
    }

    /// A TCP segment for one of our IPv4 addresses.
    pub fn on_segment(
        &mut self,
        now: Instant,
        meta: &Meta,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn Tx,
    ) -> Disposition {
        let tuple = Tuple::V4(FourTuple {
            local: SocketAddrV4::new(meta.dst, seg.dst_port),
            remote: SocketAddrV4::new(meta.src, seg.src_port),
        });
        self.segment_in(now, tuple, (meta.src_mac, meta.vlan), seg, payload, tx)
    }

    /// A TCP segment for one of our IPv6 addresses.
    pub fn on_segment6(
        &mut self,
        now: Instant,
        meta: &Meta6,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn Tx,
    ) -> Disposition {
        let tuple = Tuple::V6(crate::tcp::FourTuple6 {
            local: meta.dst,
            remote: meta.src,
            local_port: seg.dst_port,
            remote_port: seg.src_port,
        });
        self.segment_in(now, tuple, (meta.src_mac, meta.vlan), seg, payload, tx)
    }

    /// A segment of either family, from the link address and VLAN `link`.
    pub(super) fn segment_in(
        &mut self,
        now: Instant,
        tuple: Tuple,
        link: (MacAddr, Option<u16>),
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn Tx,
    ) -> Disposition {
        if let Some(owner) = self.table.get_tuple_as(self.worker as usize, &tuple) {
            if owner.worker != self.worker {
                return Disposition::Forward(owner.worker);
            }
            let slot = owner.slot as usize;
            let reuse = {
                let e = self.slab[slot].as_ref().expect("table names a live slot");
                matches!(e.role, Role::Server(_)) && e.conn.time_wait_accepts_syn(seg)
            };
            if !reuse {
                let e = self.slab[slot].as_mut().expect("live slot");
                e.conn.on_segment(now, seg, payload);
                self.service(slot, now, tx);
                return Disposition::Done;
            }
            // RFC 6191 / Linux: a newer SYN ends TIME_WAIT and opens a new connection.
            self.remove(slot);
        }
        let Some(li) = self.listener_for(tuple.local()) else {
            return Disposition::Reset;
        };
        let f = seg.flags;
        if f.rst() {
            return Disposition::Dropped;
        }
        if !f.syn() && !f.ack() {
            // RFC 9293 3.10.7.2, LISTEN, fourth: a segment with none of SYN, ACK or RST
            // (nmap's null and FIN probes) is dropped, not reset; Linux drops it too.
            self.stats.listen_dropped += 1;
            return Disposition::Dropped;
        }
        if f.syn() && !f.ack() {
            if !self.accepting || self.live - self.time_wait >= self.cfg.max_conns {
                self.stats.refused_full += 1;
                return Disposition::Reset;
            }
            return match self.listeners[li].on_syn(now, tuple.remote(), seg) {
                SynVerdict::Accept(conn) => {
                    self.insert(now, *conn, link, li, true, tx);
                    let h = self.listeners[li].half_open() as u64;
                    self.stats.half_open_peak = self.stats.half_open_peak.max(h);
                    Disposition::Done
                }
                SynVerdict::Cookie(syn_ack) => {
                    self.send_stateless(tx, &tuple, link.0, link.1, &syn_ack);
                    Disposition::Done
                }
                SynVerdict::Ignore => Disposition::Dropped,
            };
        }
        if f.ack() && !f.syn() && self.accepting && self.live - self.time_wait < self.cfg.max_conns
        {
            if let Some(conn) = self.listeners[li].on_ack(now, tuple.remote(), seg, payload) {
                self.stats.cookie_accepted += 1;
                self.insert(now, conn, link, li, false, tx);
                return Disposition::Done;
            }
        }
        Disposition::Reset
    }

    /// A segment that belongs to no connection (a cookie SYN-ACK).
    pub(super) fn send_stateless(
        &mut self,
        tx: &mut dyn Tx,
        tuple: &Tuple,
        peer_mac: MacAddr,
        vlan: Option<u16>,
        r: &TcpRepr,
    ) {
        // A SYN-ACK: IP ID 0, as Linux's (see `ip_ident`); over IPv6 the flow label the
        // connection will have.
        let ids = (0, self.flow_label(tuple));
        if !send_segment(tx, self.mac, peer_mac, vlan, tuple, ids, r, &[]) {
            self.stats.tx_full += 1;
        }
    }
}

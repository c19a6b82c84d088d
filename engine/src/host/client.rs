//! The client side: connections an application opens (`connect`), next hops resolved by
//! ARP (NDP for IPv6, `v6.rs`), and the application's calls and events.

use super::*;

/// How the application ends its side of a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum CloseHow {
    /// FIN after what is queued; reading goes on (shutdown(2) of the write side).
    Shutdown,
    /// FIN after what is queued, and nothing more is read (close(2)).
    Release,
    /// RST now, buffers dropped.
    Abort,
}

impl Host {
    /// An ARP packet for one of our addresses (a reply to our request, or a request):
    /// learn the sender, and let connections waiting for it go.
    pub fn on_arp(&mut self, now: Instant, arp: &ArpRepr, tx: &mut dyn Tx) {
        let _ = self.arp.on_arp(now, arp);
        self.poll_arp(now, tx);
    }

    pub(super) fn poll_arp(&mut self, now: Instant, tx: &mut dyn Tx) {
        if self.arp.poll_at().is_none_or(|t| t > now) {
            return;
        }
        while let Some(ev) = self.arp.poll(now) {
            match ev {
                ArpEvent::SendRequest(req) => {
                    self.stats.arp_requests += 1;
                    let mac = self.mac;
                    let sent = tx.send(&mut |buf: &mut [u8]| crate::frame::arp(buf, mac, &req));
                    if !sent {
                        self.stats.tx_full += 1;
                    }
                }
                ArpEvent::Resolved { mac, frame: id } => {
                    if let Some(slot) = self.client_slot(id) {
                        let e = self.slab[slot].as_mut().expect("live slot");
                        if e.path == Path::Resolving {
                            e.path = Path::Nic { mac, vlan: None };
                            self.service(slot, now, tx);
                        }
                    }
                }
                ArpEvent::Failed { ip, frame: id } => {
                    if let Some(slot) = self.client_slot(id) {
                        self.stats.unreachable += 1;
                        // Nothing was sent: the connection ends without a segment.
                        self.events
                            .push_back((id, Event::Closed(Closed::Unreachable(ip.into()))));
                        self.remove(slot);
                    }
                }
            }
        }
    }

    // ---- The client side: connections the application opens ----

    pub(super) fn client_slot(&self, id: ConnId) -> Option<usize> {
        let slot = id.slot as usize;
        match self.slab.get(slot) {
            Some(Some(e))
                if self.generations[slot] == id.generation && matches!(e.role, Role::Client(_)) =>
            {
                Some(slot)
            }
            _ => None,
        }
    }

    /// The address we send from towards `dst`.
    pub(super) fn source_for(&self, dst: Ipv4Addr) -> Result<Ipv4Addr, ConnectError> {
        if dst.is_loopback() {
            return Ok(Ipv4Addr::LOCALHOST);
        }
        if self.cfg.addrs.iter().any(|(a, _)| *a == dst) {
            return Ok(dst);
        }
        let on_link = self.cfg.addrs.iter().find(|(a, p)| {
            let m = if *p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from((*p).min(32)))
            };
            u32::from(*a) & m == u32::from(dst) & m
        });
        match (on_link, self.cfg.addrs.first()) {
            (Some((a, _)), _) => Ok(*a),
            (None, Some((a, _))) if self.cfg.gateway.is_some() => Ok(*a),
            (None, Some(_)) => Err(ConnectError::NoRoute(dst.into())),
            (None, None) => Err(ConnectError::NoAddress),
        }
    }

    /// Active open (see `Net::connect`).
    pub fn connect(
        &mut self,
        now: Instant,
        remote: impl Into<SocketAddr>,
        tx: &mut dyn Tx,
    ) -> Result<ConnId, ConnectError> {
        let remote = remote.into();
        let local_ip: IpAddr = match remote {
            SocketAddr::V4(r) => self.source_for(*r.ip())?.into(),
            SocketAddr::V6(r) => self.source_for6(*r.ip())?.into(),
        };
        let (path, next_hop) = if self.is_local(remote.ip()) {
            (Path::Loopback, None)
        } else {
            let no_route = |_| ConnectError::NoRoute(remote.ip());
            let (hop, mac): (IpAddr, _) = match remote {
                SocketAddr::V4(r) => {
                    let hop = self.arp.next_hop(*r.ip()).map_err(no_route)?;
                    (hop.into(), self.arp.lookup(now, hop))
                }
                SocketAddr::V6(r) => {
                    let hop = self.ndp.next_hop(*r.ip()).map_err(no_route)?;
                    (hop.into(), self.ndp.lookup(now, hop))
                }
            };
            match mac {
                Some(mac) => (Path::Nic { mac, vlan: None }, None),
                None => (Path::Resolving, Some(hop)),
            }
        };
        if self.live - self.time_wait >= self.cfg.max_conns {
            return Err(ConnectError::TooManyConnections);
        }
        let slot = self.alloc_slot();
        let owner = Owner {
            worker: self.worker,
            slot: slot as u32,
        };
        let (lo, hi) = self.cfg.local_ports;
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let mut tuple = None;
        for i in 0..span {
            let port = lo + ((self.port_cursor.wrapping_add(i)) % span) as u16;
            let t = Tuple::new(SocketAddr::new(local_ip, port), remote)
                .expect("the source is of the destination's family");
            // In memory the other end may still hold this 4-tuple in TIME_WAIT: as with
            // Linux, the new SYN (a later ISN and timestamp) takes it over.
            if self.table.insert_tuple(t, owner).is_ok() {
                self.port_cursor = self.port_cursor.wrapping_add(i + 1);
                tuple = Some(t);
                break;
            }
        }
        let Some(tuple) = tuple else {
            self.free.push(slot as u32);
            return Err(ConnectError::NoPorts);
        };
        let id = ConnId {
            slot: slot as u32,
            generation: self.generations[slot],
        };
        let iss = match &tuple {
            Tuple::V4(t) => self.isn.isn(t, now),
            Tuple::V6(t) => self.isn.isn(t, now),
        };
        let conn = Conn::connect(&self.cfg.tcp, tuple, iss, now);
        self.slab[slot] = Some(Box::new(Entry {
            conn,
            role: Role::Client(ClientSide::default()),
            path,
            in_time_wait: false,
            tcp_counted: Default::default(),
            ip_id: self.ip_id_start(&tuple),
            flow: self.flow_label(&tuple),
        }));
        self.live += 1;
        self.stats.connects += 1;
        if let Some(hop) = next_hop {
            let resolved = match hop {
                IpAddr::V4(hop) => self.arp.resolve(now, hop, id),
                IpAddr::V6(hop) => self.ndp.resolve(now, hop, id),
            };
            match resolved {
                Resolve::Queued => {}
                Resolve::Ready(mac, _) => {
                    self.slab[slot].as_mut().expect("just filed").path =
                        Path::Nic { mac, vlan: None };
                }
                Resolve::Dropped(_) => {
                    self.remove(slot);
                    return Err(ConnectError::ResolutionBacklog);
                }
            }
        }
        self.service(slot, now, tx);
        self.poll_arp(now, tx);
        self.poll_ndp(now, tx);
        Ok(id)
    }

    pub(super) fn mark(&mut self, slot: usize) {
        if let Some(Entry {
            role: Role::Client(c),
            ..
        }) = self.slab[slot].as_deref_mut()
        {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    pub(crate) fn client_send(&mut self, id: ConnId, data: &[u8]) -> usize {
        let Some(slot) = self.client_slot(id) else {
            return 0;
        };
        let e = self.slab[slot].as_mut().expect("live slot");
        let n = e.conn.send(data);
        if n < data.len() {
            if let Role::Client(c) = &mut e.role {
                c.blocked = true;
            }
        }
        self.mark(slot);
        n
    }

    pub(crate) fn client_recv(&mut self, id: ConnId, out: &mut [u8]) -> usize {
        let Some(slot) = self.client_slot(id) else {
            return 0;
        };
        let e = self.slab[slot].as_mut().expect("live slot");
        let n = e.conn.recv(out);
        if let Role::Client(c) = &mut e.role {
            c.notified = e.conn.readable();
        }
        self.mark(slot);
        n
    }

    pub(crate) fn client_readable(&self, id: ConnId) -> usize {
        self.client_slot(id)
            .map_or(0, |s| self.slab[s].as_ref().expect("live").conn.readable())
    }

    pub(crate) fn client_close(&mut self, id: ConnId, how: CloseHow) {
        let Some(slot) = self.client_slot(id) else {
            return;
        };
        let e = self.slab[slot].as_mut().expect("live slot");
        if e.path == Path::Resolving {
            // Nothing was sent yet: end it here; the ARP (NDP) answer will find no one.
            self.events.push_back((id, Event::Closed(Closed::Normal)));
            self.remove(slot);
            return;
        }
        match how {
            CloseHow::Abort => e.conn.abort(),
            CloseHow::Shutdown => e.conn.close(),
            CloseHow::Release => {
                e.conn.release();
                if let Role::Client(c) = &mut e.role {
                    c.released = true;
                }
            }
        }
        self.mark(slot);
    }

    /// The connection's entry, if `id` is the application's and live.
    pub(crate) fn client_conn(&self, id: ConnId) -> Option<&Conn> {
        self.client_slot(id)
            .map(|s| &self.slab[s].as_ref().expect("live").conn)
    }

    /// The connection, for a change the host must then act on (`flush`).
    pub(crate) fn client_conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let slot = self.client_slot(id)?;
        self.mark(slot);
        Some(&mut self.slab[slot].as_mut().expect("live").conn)
    }

    /// What arrived, in place (two slices: the buffer is a ring), without copying.
    pub(crate) fn client_peek(&self, id: ConnId) -> (&[u8], &[u8]) {
        self.client_conn(id).map_or((&[], &[]), Conn::recv_peek)
    }

    /// Drops `n` bytes read through `client_peek`.
    pub(crate) fn client_consume(&mut self, id: ConnId, n: usize) {
        let Some(slot) = self.client_slot(id) else {
            return;
        };
        let e = self.slab[slot].as_mut().expect("live slot");
        e.conn.recv_consume(n.min(e.conn.readable()));
        if let Role::Client(c) = &mut e.role {
            c.notified = e.conn.readable();
        }
        self.mark(slot);
    }

    pub(crate) fn client_state(&self, id: ConnId) -> Option<State> {
        self.client_slot(id)
            .map(|s| self.slab[s].as_ref().expect("live").conn.state())
    }

    pub(crate) fn client_local(&self, id: ConnId) -> Option<SocketAddr> {
        self.client_conn(id).map(|c| c.tuple().local())
    }

    pub(crate) fn client_peer(&self, id: ConnId) -> Option<SocketAddr> {
        self.client_conn(id).map(|c| c.tuple().remote())
    }

    /// Services the connections the application touched.
    pub(crate) fn flush(&mut self, now: Instant, tx: &mut dyn Tx) {
        while let Some(slot) = self.dirty.pop() {
            if let Some(Entry {
                role: Role::Client(c),
                ..
            }) = self.slab[slot].as_deref_mut()
            {
                c.dirty = false;
            }
            self.service(slot, now, tx);
        }
    }

    /// The next event waiting for the application.
    pub(crate) fn next_event(&mut self) -> Option<(ConnId, Event)> {
        self.events.pop_front()
    }
}

//! The connection slab: a worker's connections by slot, entered in the shared socket
//! table and the timer wheel together, and removed from all three together.

use super::*;

impl Host {
    pub(super) fn insert(
        &mut self,
        now: Instant,
        conn: Conn,
        meta: &Meta,
        listener: usize,
        half_open: bool,
        tx: &mut dyn Tx,
    ) {
        let tuple = conn.tuple();
        let slot = self.alloc_slot();
        let owner = Owner {
            worker: self.worker,
            slot: slot as u32,
        };
        if self.table.insert(tuple, owner).is_err() {
            // Another worker took this 4-tuple first (a SYN seen on two queues).
            self.free.push(slot as u32);
            if half_open {
                self.listeners[listener].half_open_done();
            }
            return;
        }
        let path = if self.is_local(meta.src) {
            Path::Loopback
        } else {
            Path::Nic {
                mac: meta.src_mac,
                vlan: meta.vlan,
            }
        };
        self.slab[slot] = Some(Box::new(Entry {
            conn,
            role: Role::Server(Box::new(ServerSide {
                session: Session::new(now),
                listener,
                half_open,
                counted: HttpStats::default(),
                waiting: None,
            })),
            path,
            in_time_wait: false,
            tcp_counted: Default::default(),
        }));
        self.live += 1;
        self.stats.accepted += 1;
        self.service(slot, now, tx);
    }

    pub(super) fn alloc_slot(&mut self) -> usize {
        match self.free.pop() {
            Some(s) => s as usize,
            None => {
                self.slab.push(None);
                self.generations.push(0);
                self.slab.len() - 1
            }
        }
    }

    pub(super) fn remove(&mut self, slot: usize) {
        let Some(e) = self.slab[slot].take() else {
            return;
        };
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        let owner = Owner {
            worker: self.worker,
            slot: slot as u32,
        };
        self.table.remove(&e.conn.tuple(), owner);
        if let Role::Server(s) = &e.role {
            if s.half_open {
                self.listeners[s.listener].half_open_done();
            }
        }
        self.timers.cancel(slot);
        self.free.push(slot as u32);
        self.live -= 1;
        if e.in_time_wait {
            self.time_wait -= 1;
        }
        self.stats.closed += 1;
    }
}

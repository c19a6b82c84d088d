//! The connection slab: a worker's connections by slot, entered in the shared socket
//! table and the timer wheel together, and removed from all three together.

use super::*;

/// Closed connections' records a host keeps for its next connections: enough for the
/// connections one turn closes and opens under a connection per request, small beside
/// the connections themselves (about 2 KB each with their session's buffers).
const SPARE_ENTRIES: usize = 64;

/// The HTTP side of a new connection: a spare record's (its box and its session's
/// buffers, emptied) when there is one, else new.
fn server_side(
    spare: Option<&mut Entry>,
    now: Instant,
    listener: usize,
    half_open: bool,
) -> Box<ServerSide> {
    let fresh = ServerSide {
        session: Session::new(now),
        listener,
        half_open,
        counted: HttpStats::default(),
        waiting: None,
    };
    let old = spare.map(|e| std::mem::replace(&mut e.role, Role::Client(ClientSide::default())));
    match old {
        Some(Role::Server(mut s)) => {
            let session = std::mem::replace(&mut s.session, Session::new(now));
            *s = ServerSide {
                session: session.reuse(now),
                ..fresh
            };
            s
        }
        _ => Box::new(fresh),
    }
}

impl Host {
    pub(super) fn insert(
        &mut self,
        now: Instant,
        conn: Conn,
        (src_mac, vlan): (MacAddr, Option<u16>),
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
        if self.table.insert_tuple(tuple, owner).is_err() {
            // Another worker took this 4-tuple first (a SYN seen on two queues).
            self.free.push(slot as u32);
            if half_open {
                self.listeners[listener].half_open_done();
            }
            return;
        }
        let path = if self.is_local(tuple.remote().ip()) {
            Path::Loopback
        } else {
            Path::Nic { mac: src_mac, vlan }
        };
        let mut spare = self.spare_entries.pop();
        let role = match self.serves[listener] {
            Serves::App => Role::Client(ClientSide {
                passive: Some(listener),
                half_open,
                ..ClientSide::default()
            }),
            Serves::Http | Serves::Closed => {
                Role::Server(server_side(spare.as_deref_mut(), now, listener, half_open))
            }
        };
        let entry = Entry {
            conn,
            role,
            path,
            in_time_wait: false,
            tcp_counted: Default::default(),
            ip_id: self.ip_id_start(&tuple),
            flow: self.flow_label(&tuple),
        };
        self.slab[slot] = Some(match spare {
            Some(mut b) => {
                *b = entry;
                b
            }
            None => Box::new(entry),
        });
        self.live += 1;
        self.stats.accepted += 1;
        self.service(slot, now, tx);
    }

    /// Keeps a closed connection's record for the next connection, up to `SPARE_ENTRIES`.
    fn recycle(&mut self, e: Box<Entry>) {
        if self.spare_entries.len() < SPARE_ENTRIES {
            self.spare_entries.push(e);
        }
    }

    /// Where a new connection's IPv4 identification counter starts (IPv6 has none).
    pub(super) fn ip_id_start(&self, tuple: &Tuple) -> u16 {
        match tuple {
            Tuple::V4(t) => self.secrets.ip_id_start(t),
            Tuple::V6(_) => 0,
        }
    }

    /// The flow label of a connection's IPv6 packets (0 for IPv4).
    pub(super) fn flow_label(&self, tuple: &Tuple) -> u32 {
        match tuple {
            Tuple::V4(_) => 0,
            Tuple::V6(t) => self.secrets.flow_label(t),
        }
    }

    pub(super) fn alloc_slot(&mut self) -> usize {
        match self.free.pop() {
            Some(s) => s as usize,
            None => {
                self.slab.push(None);
                // Generations outlive a released slab (`release_idle_memory`): a stale
                // `ConnId` must never match the slot's next connection.
                if self.generations.len() < self.slab.len() {
                    self.generations.push(0);
                }
                self.slab.len() - 1
            }
        }
    }

    /// With no connection left, gives back what the last burst of them grew: the slab,
    /// its free list and the timer wheel's per-slot arrays (about 30 bytes a slot: 6 MB
    /// after 200,000 connections), and the socket table's touched pages if the whole
    /// table is empty (`SocketTable::release_if_empty`). Slot generations are kept.
    /// Returns whether anything was released. Off the hot path: the worker calls it from
    /// its once-a-second housekeeping.
    pub fn release_idle_memory(&mut self) -> bool {
        if self.live != 0 || !self.timers.is_empty() {
            return false;
        }
        self.slab = Vec::new();
        self.spare_entries = Vec::new();
        self.free = Vec::new();
        self.sweep = None;
        self.timers = TimerWheel::new();
        self.fired = Vec::new();
        self.table.release_if_empty();
        true
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
        self.table.remove_tuple(&e.conn.tuple(), owner);
        match &e.role {
            Role::Server(s) if s.half_open => self.listeners[s.listener].half_open_done(),
            Role::Client(ClientSide {
                passive: Some(li),
                half_open: true,
                ..
            }) => self.listeners[*li].half_open_done(),
            _ => {}
        }
        self.timers.cancel(slot);
        self.free.push(slot as u32);
        self.live -= 1;
        if e.in_time_wait {
            self.time_wait -= 1;
        }
        self.stats.closed += 1;
        self.recycle(e);
    }

    /// Starts a liveness sweep: every quiet connection will be asked, a few at a time
    /// (`sweep`), whether its peer still has it. For after the kernel dropped frames the
    /// engine never saw: a peer's FIN, or the one RST a peer sends when it gives up an
    /// orphaned connection, may have been among them, and nothing else would ever come.
    /// A connection whose peer was heard from after `quiet_since` (the last drop) is not
    /// asked: that peer held it after anything it sent could have been lost.
    pub fn start_liveness_sweep(&mut self, quiet_since: Instant) {
        if self.sweep.is_none() && self.live > 0 {
            self.sweep = Some(0);
            self.sweep_quiet_since = quiet_since;
        }
    }

    /// Is a liveness sweep under way?
    pub fn sweeping(&self) -> bool {
        self.sweep.is_some()
    }

    /// Probes up to `budget` quiet connections of the running sweep, looking at no more
    /// than 8 slots per probe. Returns how many were probed.
    pub fn sweep(&mut self, now: Instant, budget: usize, tx: &mut dyn Tx) -> usize {
        let Some(mut slot) = self.sweep else {
            return 0;
        };
        let (mut probed, mut looked) = (0, 0);
        while slot < self.slab.len() && probed < budget && looked < budget * 8 {
            looked += 1;
            let asked = self.slab[slot]
                .as_deref_mut()
                .is_some_and(|e| !e.in_time_wait && e.conn.probe_liveness(self.sweep_quiet_since));
            if asked {
                probed += 1;
                self.service(slot, now, tx);
            }
            slot += 1;
        }
        self.sweep = (slot < self.slab.len()).then_some(slot);
        self.stats.liveness_probes += probed as u64;
        probed
    }

    /// Drops every connection without a word to the peer, as a host that lost its
    /// sockets (and whose RSTs were lost) would (tests).
    #[cfg(test)]
    pub(crate) fn forget_all(&mut self) {
        for slot in 0..self.slab.len() {
            self.remove(slot);
        }
    }
}

//! The socket table shared by all workers: 4-tuple (local address, local port, remote
//! address, remote port) to the owning (worker, slot), for both families. The connection's
//! state lives with its owner; the table only says who that is.
//!
//! Read on every segment, written when a connection starts or ends. So the read path
//! touches no cache line another worker's reads touch: the table holds one replica per
//! reader (per worker), each sharded under `RwLock`s of its own, and a worker reads only
//! its replica (`get_as`). A read-write lock that all workers share has a reader count
//! that every lookup writes, and that line bounced between cores on every segment (181 ns
//! a lookup with two threads; `cargo bench --bench socket_table`). A write holds the
//! shard's lock in the first replica while it changes the others, so a 4-tuple is claimed
//! once ("first owner wins") and writes to a shard go one at a time. An entry appears in
//! the replicas one after the other, within the insert: a worker cannot receive a segment
//! of a connection before the insert that made it returned, so none misses it. Writes cost
//! one insert per replica; memory is one map per worker.
//!
//! Each replica has 64 shards, so an insert locks one shard, never a whole replica. The
//! hash is SipHash with a per-process random key (std's `RandomState`): peers choose half
//! of every key, so a fixed hash would let them aim for one bucket.
//!
//! Two families, two replicated sets of shards (one generic structure): an IPv4 key stays
//! 12 bytes and its lookup is the code it was before IPv6, where one enum key for both
//! would hash and compare 37 bytes for every IPv4 segment; IPv6 keys (36 bytes) are
//! replicated per reader the same way (`get6_as`). `cargo bench --bench socket_table`
//! has a row for each.

use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockWriteGuard};

use crate::tcp::{FourTuple, FourTuple6, Tuple};

const SHARDS: usize = 64;

/// Who owns a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The worker that owns the connection.
    pub worker: u16,
    /// The connection's slot in that worker's slab.
    pub slot: u32,
}

type Shard<K> = RwLock<HashMap<K, Owner>>;

/// One reader's copy of one family's entries, aligned so that no two replicas share a
/// cache line (128: adjacent-line prefetch pairs lines on x86).
#[derive(Debug)]
#[repr(align(128))]
struct Replica<K> {
    shards: Box<[Shard<K>]>,
}

/// One family's entries: a replica per reader, each sharded, one hasher for all.
#[derive(Debug)]
struct Replicated<K> {
    replicas: Box<[Replica<K>]>,
    hasher: RandomState,
}

impl<K: Hash + Eq + Copy> Replicated<K> {
    fn new(capacity: usize, readers: usize) -> Replicated<K> {
        let hasher = RandomState::new();
        let per = capacity.div_ceil(SHARDS);
        let replica = || Replica {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::with_capacity_and_hasher(per, hasher.clone())))
                .collect(),
        };
        Replicated {
            replicas: (0..readers.max(1)).map(|_| replica()).collect(),
            hasher,
        }
    }

    #[inline]
    fn shard_index(&self, t: &K) -> usize {
        let h = self.hasher.hash_one(t);
        // The high bits: the map inside the shard uses the low ones.
        (h >> 58) as usize % SHARDS
    }

    #[inline]
    fn get_as(&self, reader: usize, t: &K) -> Option<Owner> {
        let replica = &self.replicas[reader.min(self.replicas.len() - 1)];
        replica.shards[self.shard_index(t)]
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(t)
            .copied()
    }

    /// Shard `i` of the first replica, write-locked: held by every write to that shard
    /// while it changes the other replicas, so writes to a shard go one at a time.
    fn lock_first(&self, i: usize) -> RwLockWriteGuard<'_, HashMap<K, Owner>> {
        self.replicas[0].shards[i]
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `f` to shard `i` of every replica after the first, one at a time.
    fn each_other(&self, i: usize, mut f: impl FnMut(&mut HashMap<K, Owner>)) {
        for r in &self.replicas[1..] {
            f(&mut r.shards[i].write().unwrap_or_else(|e| e.into_inner()));
        }
    }

    fn insert(&self, t: K, owner: Owner) -> Result<(), Owner> {
        let i = self.shard_index(&t);
        let mut first = self.lock_first(i);
        match first.entry(t) {
            Entry::Occupied(e) => Err(*e.get()),
            Entry::Vacant(v) => {
                v.insert(owner);
                self.each_other(i, |m| {
                    m.insert(t, owner);
                });
                Ok(())
            }
        }
    }

    fn remove(&self, t: &K, owner: Owner) -> bool {
        let i = self.shard_index(t);
        let mut first = self.lock_first(i);
        match first.get(t) {
            Some(o) if *o == owner => {
                first.remove(t);
                self.each_other(i, |m| {
                    m.remove(t);
                });
                true
            }
            _ => false,
        }
    }

    /// Replaces every empty map with a fresh one of the same capacity (its touched
    /// pages go back to the allocator).
    fn release_empty(&self) {
        for r in self.replicas.iter() {
            for s in r.shards.iter() {
                let mut m = s.write().unwrap_or_else(|e| e.into_inner());
                if m.is_empty() {
                    let cap = m.capacity();
                    *m = HashMap::with_capacity_and_hasher(cap, self.hasher.clone());
                }
            }
        }
    }

    fn count_owned_by(&self, worker: u16) -> usize {
        self.replicas[0]
            .shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .filter(|o| o.worker == worker)
                    .count()
            })
            .sum()
    }
}

/// The socket table all workers share: 4-tuple to owner, one replica per reader, each
/// sharded under read-write locks, hashed with a random seed (peers choose the tuple).
#[derive(Debug)]
pub struct SocketTable {
    v4: Replicated<FourTuple>,
    v6: Replicated<FourTuple6>,
    len: AtomicUsize,
}

impl Default for SocketTable {
    fn default() -> Self {
        SocketTable::new()
    }
}

impl SocketTable {
    /// An empty table for one reader with a fresh random hash seed.
    pub fn new() -> SocketTable {
        SocketTable::with_capacity(0)
    }

    /// Pre-sizes the shards for about `capacity` entries in all; one reader.
    pub fn with_capacity(capacity: usize) -> SocketTable {
        SocketTable::with_readers(capacity, 1)
    }

    /// A table for `readers` readers (workers; at least one), each reading its own
    /// replica through `get_as`, pre-sized for about `capacity` IPv4 entries in all
    /// (IPv6 replicas start empty and grow).
    pub fn with_readers(capacity: usize, readers: usize) -> SocketTable {
        SocketTable {
            v4: Replicated::new(capacity, readers),
            v6: Replicated::new(0, readers),
            len: AtomicUsize::new(0),
        }
    }

    /// Readers the table has a replica for.
    pub fn readers(&self) -> usize {
        self.v4.replicas.len()
    }

    /// The owner of a connection, if any, read from reader `reader`'s replica: the hot
    /// path, touching no lock another reader uses. A `reader` past the last reads the
    /// last replica (correct, only no longer free of sharing).
    pub fn get_as(&self, reader: usize, t: &FourTuple) -> Option<Owner> {
        self.v4.get_as(reader, t)
    }

    /// The owner of a connection, if any, read from the first replica (for threads other
    /// than the workers; a worker calls `get_as`).
    pub fn get(&self, t: &FourTuple) -> Option<Owner> {
        self.get_as(0, t)
    }

    /// Inserts `t` for `owner`; if another owner holds it already, returns that owner and
    /// changes nothing.
    pub fn insert(&self, t: FourTuple, owner: Owner) -> Result<(), Owner> {
        self.v4.insert(t, owner)?;
        self.len.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes `t` if `owner` holds it (a worker never removes another's entry).
    pub fn remove(&self, t: &FourTuple, owner: Owner) -> bool {
        let removed = self.v4.remove(t, owner);
        if removed {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// [`SocketTable::get_as`] for an IPv6 connection.
    #[inline]
    pub fn get6_as(&self, reader: usize, t: &FourTuple6) -> Option<Owner> {
        self.v6.get_as(reader, t)
    }

    /// The owner of an IPv6 connection, if any (the first replica).
    #[inline]
    pub fn get6(&self, t: &FourTuple6) -> Option<Owner> {
        self.get6_as(0, t)
    }

    /// [`SocketTable::insert`] for an IPv6 connection.
    pub fn insert6(&self, t: FourTuple6, owner: Owner) -> Result<(), Owner> {
        self.v6.insert(t, owner)?;
        self.len.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// [`SocketTable::remove`] for an IPv6 connection.
    pub fn remove6(&self, t: &FourTuple6, owner: Owner) -> bool {
        let removed = self.v6.remove(t, owner);
        if removed {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// With no connection in it, replaces every map with a fresh one of the same
    /// capacity: the pages a burst of connections touched go back to the allocator, and
    /// (after `heap::release`) to the kernel, while the capacity stays reserved. A
    /// worker's housekeeping calls it once a burst has ended; never on the hot path.
    pub fn release_if_empty(&self) -> bool {
        if !self.is_empty() {
            return false;
        }
        self.v4.release_empty();
        self.v6.release_empty();
        true
    }

    /// The owner of a connection of either family, as reader `reader`.
    #[inline]
    pub fn get_tuple_as(&self, reader: usize, t: &Tuple) -> Option<Owner> {
        match t {
            Tuple::V4(t) => self.get_as(reader, t),
            Tuple::V6(t) => self.get6_as(reader, t),
        }
    }

    /// [`SocketTable::insert`] for a connection of either family.
    pub fn insert_tuple(&self, t: Tuple, owner: Owner) -> Result<(), Owner> {
        match t {
            Tuple::V4(t) => self.insert(t, owner),
            Tuple::V6(t) => self.insert6(t, owner),
        }
    }

    /// [`SocketTable::remove`] for a connection of either family.
    pub fn remove_tuple(&self, t: &Tuple, owner: Owner) -> bool {
        match t {
            Tuple::V4(t) => self.remove(t, owner),
            Tuple::V6(t) => self.remove6(t, owner),
        }
    }

    /// Connections in the table, both families.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// No connection in the table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries owned by `worker`, both families (for tests and the exit report; walks
    /// every shard).
    pub fn count_owned_by(&self, worker: u16) -> usize {
        self.v4.count_owned_by(worker) + self.v6.count_owned_by(worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::sync::Arc;

    fn t(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port),
        }
    }

    #[test]
    fn an_empty_table_gives_back_its_touched_memory_and_keeps_its_capacity() {
        let table = SocketTable::with_readers(4096, 2);
        let cap = |t: &SocketTable| -> usize {
            t.v4.replicas
                .iter()
                .flat_map(|r| r.shards.iter())
                .map(|s| s.read().unwrap().capacity())
                .sum()
        };
        let before = cap(&table);
        let o = Owner { worker: 0, slot: 1 };
        for p in 0..3000 {
            table.insert(t(p), o).unwrap();
        }
        assert!(!table.release_if_empty(), "not while anything is in it");
        for p in 0..3000 {
            assert!(table.remove(&t(p), o));
        }
        assert!(table.release_if_empty());
        assert!(cap(&table) >= before, "capacity kept for the next burst");
        table.insert(t(7), o).unwrap();
        assert_eq!((table.get_as(1, &t(7)), table.len()), (Some(o), 1));
    }

    #[test]
    fn four_tuples_to_the_same_port_are_distinct() {
        let table = SocketTable::new();
        let a = Owner { worker: 0, slot: 1 };
        let b = Owner { worker: 1, slot: 1 };
        assert_eq!(table.insert(t(1000), a), Ok(()));
        assert_eq!(table.insert(t(1001), b), Ok(()));
        assert_eq!(table.insert(t(1000), b), Err(a), "first owner wins");
        assert_eq!(
            (table.get(&t(1000)), table.get(&t(1001))),
            (Some(a), Some(b))
        );
        assert!(!table.remove(&t(1000), b), "not b's to remove");
        assert!(table.remove(&t(1000), a));
        assert_eq!(table.get(&t(1000)), None);
        assert_eq!((table.len(), table.count_owned_by(1)), (1, 1));
    }

    #[test]
    fn both_families_are_keyed_apart_and_counted_together() {
        let table = SocketTable::new();
        let a = Owner { worker: 0, slot: 1 };
        let b = Owner { worker: 1, slot: 2 };
        let v6 = |port| FourTuple6 {
            local: "2001:db8::10".parse().unwrap(),
            remote: "2001:db8::1".parse().unwrap(),
            local_port: 80,
            remote_port: port,
        };
        assert_eq!(table.insert(t(1000), a), Ok(()));
        assert_eq!(table.insert6(v6(1000), b), Ok(()));
        assert_eq!(table.insert6(v6(1000), a), Err(b), "first owner wins");
        assert_eq!(
            (table.get(&t(1000)), table.get6(&v6(1000))),
            (Some(a), Some(b))
        );
        assert_eq!(table.get6(&v6(1001)), None);
        assert_eq!((table.len(), table.count_owned_by(1)), (2, 1));
        assert!(!table.remove6(&v6(1000), a), "not a's to remove");
        assert!(table.remove6(&v6(1000), b));
        assert_eq!((table.len(), table.get(&t(1000))), (1, Some(a)));
    }

    #[test]
    fn every_reader_sees_every_ipv6_write_too() {
        let table = SocketTable::with_readers(0, 3);
        let a = Owner { worker: 0, slot: 1 };
        let v6 = |port| FourTuple6 {
            local: "2001:db8::10".parse().unwrap(),
            remote: "2001:db8::1".parse().unwrap(),
            local_port: 80,
            remote_port: port,
        };
        assert_eq!(table.insert6(v6(1000), a), Ok(()));
        for r in 0..4 {
            assert_eq!(table.get6_as(r, &v6(1000)), Some(a), "reader {r}");
        }
        assert!(table.remove6(&v6(1000), a));
        for r in 0..3 {
            assert_eq!(
                table.get6_as(r, &v6(1000)),
                None,
                "reader {r} after the remove"
            );
        }
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn every_reader_sees_every_write() {
        let table = SocketTable::with_readers(0, 3);
        let a = Owner { worker: 0, slot: 1 };
        let b = Owner { worker: 2, slot: 7 };
        assert_eq!(table.insert(t(1000), a), Ok(()));
        assert_eq!(
            table.insert(t(1000), b),
            Err(a),
            "claimed once for all readers"
        );
        assert_eq!(table.insert(t(1001), b), Ok(()));
        for r in 0..4 {
            assert_eq!(table.get_as(r, &t(1000)), Some(a), "reader {r}");
            assert_eq!(table.get_as(r, &t(1001)), Some(b), "reader {r}");
        }
        assert!(!table.remove(&t(1001), a), "not a's to remove");
        assert!(table.remove(&t(1001), b));
        for r in 0..3 {
            assert_eq!(
                table.get_as(r, &t(1001)),
                None,
                "reader {r} after the remove"
            );
        }
        assert_eq!((table.len(), table.readers()), (1, 3));
    }

    #[test]
    fn two_threads_insert_look_up_and_remove_without_losing_entries() {
        let table = Arc::new(SocketTable::with_readers(20_000, 2));
        std::thread::scope(|s| {
            for w in 0..2u16 {
                let table = table.clone();
                s.spawn(move || {
                    for i in 0..10_000u32 {
                        let tuple = t((w as u32 * 10_000 + i) as u16);
                        let me = Owner { worker: w, slot: i };
                        table.insert(tuple, me).unwrap();
                        assert_eq!(table.get_as(w as usize, &tuple), Some(me));
                        assert_eq!(table.get_as(1 - w as usize, &tuple), Some(me));
                    }
                    for i in (0..10_000u32).step_by(2) {
                        let tuple = t((w as u32 * 10_000 + i) as u16);
                        assert!(table.remove(&tuple, Owner { worker: w, slot: i }));
                    }
                });
            }
        });
        assert_eq!(table.len(), 10_000);
        assert_eq!(table.count_owned_by(0), 5_000);
        for i in 0..20_000u32 {
            let (w, k) = ((i / 10_000) as u16, i % 10_000);
            let want = (k % 2 == 1).then_some(Owner { worker: w, slot: k });
            for r in 0..2 {
                assert_eq!(table.get_as(r, &t(i as u16)), want, "reader {r}, entry {i}");
            }
        }
    }
}

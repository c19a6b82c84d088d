//! A hierarchical timer wheel: one deadline per key (a connection slot), O(1) schedule
//! and cancel, and expiry that touches only the entries due, never every connection.
//!
//! Six levels of 64 slots; a level-0 slot is one millisecond, each level above is 64
//! times coarser (level 5 spans about 2.2 years). An entry sits in the level given by the
//! highest bit in which its deadline differs from the wheel's current tick, so it moves
//! down ("cascades") at most five times before it fires. Occupancy bitmaps find the next
//! non-empty slot without walking empty ones, so a jump of hours costs a few steps.
//! Entries are intrusive doubly-linked lists over per-key arrays: no allocation once the
//! arrays have grown to the number of keys.
//!
//! Deadlines are rounded up to the millisecond: an entry fires at the first `poll` whose
//! `now` is at or past its deadline's millisecond, never before its deadline.

use crate::time::Instant;

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const BITS: u32 = 6;
const NIL: u32 = u32::MAX;
/// Where an entry is: a slot (level * 64 + slot), the due list, or nowhere.
const NOWHERE: u16 = u16::MAX;
const DUE: u16 = u16::MAX - 1;
const MAX_TICK: u64 = (1 << (BITS as u64 * LEVELS as u64)) - 1;

/// A hierarchical timer wheel with millisecond ticks: schedule, cancel and expire in O(1)
/// per entry.
#[derive(Debug)]
pub struct TimerWheel {
    /// The tick (ms) up to which expiry has been processed.
    elapsed: u64,
    heads: [u32; LEVELS * SLOTS],
    occupied: [u64; LEVELS],
    /// Entries already due (scheduled at or before `elapsed`).
    due: u32,
    when: Vec<u64>,
    next: Vec<u32>,
    prev: Vec<u32>,
    loc: Vec<u16>,
    len: usize,
}

impl Default for TimerWheel {
    fn default() -> Self {
        TimerWheel::new()
    }
}

fn tick_ceil(t: Instant) -> u64 {
    t.total_micros().div_ceil(1000)
}

fn tick_floor(t: Instant) -> u64 {
    t.total_micros() / 1000
}

impl TimerWheel {
    /// An empty wheel at tick 0.
    pub fn new() -> TimerWheel {
        TimerWheel {
            elapsed: 0,
            heads: [NIL; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            due: NIL,
            when: Vec::new(),
            next: Vec::new(),
            prev: Vec::new(),
            loc: Vec::new(),
            len: 0,
        }
    }

    /// Pre-sizes the per-key arrays for keys below `keys`.
    pub fn with_capacity(keys: usize) -> TimerWheel {
        let mut w = TimerWheel::new();
        w.grow(keys);
        w
    }

    fn grow(&mut self, keys: usize) {
        if keys > self.loc.len() {
            self.when.resize(keys, 0);
            self.next.resize(keys, NIL);
            self.prev.resize(keys, NIL);
            self.loc.resize(keys, NOWHERE);
        }
    }

    /// Number of scheduled keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No entry is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `key` has a deadline.
    pub fn is_scheduled(&self, key: usize) -> bool {
        self.loc.get(key).is_some_and(|&l| l != NOWHERE)
    }

    /// Sets `key`'s deadline to `at`, replacing any earlier one. O(1).
    pub fn schedule(&mut self, key: usize, at: Instant) {
        assert!(key < NIL as usize, "timer key out of range");
        self.grow(key + 1);
        self.unlink(key);
        self.when[key] = tick_ceil(at).min(MAX_TICK);
        self.link(key);
        self.len += 1;
    }

    /// Removes `key`'s deadline, if any. O(1).
    pub fn cancel(&mut self, key: usize) {
        if self.is_scheduled(key) {
            self.unlink(key);
        }
    }

    /// Schedules `at`, or cancels when `None`: the shape of `Conn::poll_at`.
    pub fn set(&mut self, key: usize, at: Option<Instant>) {
        match at {
            Some(at) => self.schedule(key, at),
            None => self.cancel(key),
        }
    }

    /// The earliest moment a `poll` could return something (millisecond resolution), for
    /// the worker's sleep. `None` when nothing is scheduled.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.due != NIL {
            return Some(Instant::from_micros(self.elapsed * 1000));
        }
        self.next_expiration()
            .map(|(_, _, tick)| Instant::from_micros(tick * 1000))
    }

    /// Appends to `out` every key whose deadline is at or before `now` (in millisecond
    /// ticks) and removes them from the wheel.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<usize>) {
        let now = tick_floor(now).min(MAX_TICK);
        loop {
            while self.due != NIL {
                let key = self.due as usize;
                self.unlink(key);
                out.push(key);
            }
            let Some((level, slot, tick)) = self.next_expiration() else {
                self.elapsed = self.elapsed.max(now);
                return;
            };
            if tick > now {
                self.elapsed = self.elapsed.max(now);
                return;
            }
            self.elapsed = tick;
            // Take the slot's list and re-insert each entry relative to the new tick:
            // those due go to the due list, the others to a lower level.
            let idx = level * SLOTS + slot;
            let mut key = self.heads[idx];
            self.heads[idx] = NIL;
            self.occupied[level] &= !(1u64 << slot);
            while key != NIL {
                let k = key as usize;
                key = self.next[k];
                self.loc[k] = NOWHERE;
                self.len -= 1;
                self.link(k);
                self.len += 1;
            }
        }
    }

    /// The next non-empty slot and the tick at which it must be processed.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let slot_range = 1u64 << (BITS as usize * level);
            let level_range = slot_range << BITS;
            let now_slot = ((self.elapsed / slot_range) % SLOTS as u64) as u32;
            let rotated = occupied.rotate_right(now_slot);
            let slot = ((rotated.trailing_zeros() + now_slot) % SLOTS as u32) as u64;
            let level_start = self.elapsed & !(level_range - 1);
            let mut tick = level_start + slot * slot_range;
            if tick < self.elapsed && level > 0 {
                // The slot holding the current tick's range: due as soon as possible.
                tick = self.elapsed;
            } else if tick < self.elapsed {
                tick += level_range;
            }
            return Some((level, slot as usize, tick));
        }
        None
    }

    fn link(&mut self, key: usize) {
        let when = self.when[key];
        let (loc, head) = if when <= self.elapsed {
            (DUE, &mut self.due)
        } else {
            let masked = (self.elapsed ^ when) | (SLOTS as u64 - 1);
            let level = ((63 - masked.leading_zeros()) / BITS) as usize;
            let level = level.min(LEVELS - 1);
            let slot = ((when >> (BITS as usize * level)) % SLOTS as u64) as usize;
            self.occupied[level] |= 1u64 << slot;
            (
                (level * SLOTS + slot) as u16,
                &mut self.heads[level * SLOTS + slot],
            )
        };
        let old = *head;
        *head = key as u32;
        self.next[key] = old;
        self.prev[key] = NIL;
        if old != NIL {
            self.prev[old as usize] = key as u32;
        }
        self.loc[key] = loc;
    }

    fn unlink(&mut self, key: usize) {
        let loc = self.loc[key];
        if loc == NOWHERE {
            return;
        }
        let (next, prev) = (self.next[key], self.prev[key]);
        if prev != NIL {
            self.next[prev as usize] = next;
        } else if loc == DUE {
            self.due = next;
        } else {
            self.heads[loc as usize] = next;
            if next == NIL {
                let (level, slot) = (loc as usize / SLOTS, loc as usize % SLOTS);
                self.occupied[level] &= !(1u64 << slot);
            }
        }
        if next != NIL {
            self.prev[next as usize] = prev;
        }
        self.loc[key] = NOWHERE;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn fires_at_its_millisecond_never_before() {
        let mut w = TimerWheel::new();
        let mut out = Vec::new();
        w.schedule(3, Instant::from_micros(10_500));
        w.poll(Instant::from_micros(10_999), &mut out);
        assert!(out.is_empty(), "10.5 ms rounds up to 11 ms");
        assert_eq!(w.next_deadline(), Some(Instant::from_micros(11_000)));
        w.poll(Instant::from_micros(11_000), &mut out);
        assert_eq!(out, [3]);
        assert!(w.is_empty() && w.next_deadline().is_none());
    }

    #[test]
    fn reschedule_and_cancel_are_exact() {
        let mut w = TimerWheel::new();
        let mut out = Vec::new();
        w.schedule(1, Instant::from_millis(100));
        w.schedule(1, Instant::from_millis(5_000_000)); // replaces
        w.schedule(2, Instant::from_millis(50));
        w.cancel(2);
        w.cancel(7); // never scheduled
        assert_eq!(w.len(), 1);
        w.poll(Instant::from_millis(4_999_999), &mut out);
        assert!(out.is_empty());
        w.poll(Instant::from_millis(5_000_000), &mut out);
        assert_eq!(out, [1]);
        // A deadline in the past fires at the next poll.
        w.schedule(4, Instant::from_millis(1));
        assert_eq!(w.next_deadline(), Some(Instant::from_millis(5_000_000)));
        w.poll(Instant::from_millis(5_000_000), &mut out);
        assert_eq!(out, [1, 4]);
    }

    /// Against a sorted map with random schedules, cancels and time jumps from a
    /// millisecond to days: the same keys fire at the same polls.
    #[test]
    fn matches_a_reference_under_random_operations() {
        for seed in 1..=20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut w = TimerWheel::new();
            let mut reference: BTreeMap<usize, u64> = BTreeMap::new();
            let mut now_us = rng.next() % 1_000_000_000;
            w.poll(Instant::from_micros(now_us), &mut Vec::new());
            for _ in 0..20_000 {
                let key = (rng.next() % 300) as usize;
                match rng.next() % 8 {
                    0..=3 => {
                        let span = [
                            2_000u64,
                            100_000,
                            10_000_000,
                            5_000_000_000,
                            400_000_000_000,
                        ];
                        let at = now_us + rng.next() % span[(rng.next() % 5) as usize];
                        w.schedule(key, Instant::from_micros(at));
                        reference.insert(key, at.div_ceil(1000));
                    }
                    4 => {
                        w.cancel(key);
                        reference.remove(&key);
                    }
                    _ => {
                        let step = [500u64, 3_000, 70_000, 9_000_000, 3_000_000_000];
                        now_us += rng.next() % step[(rng.next() % 5) as usize];
                        let mut got = Vec::new();
                        w.poll(Instant::from_micros(now_us), &mut got);
                        got.sort_unstable();
                        let now_ms = now_us / 1000;
                        let want: Vec<usize> = reference
                            .iter()
                            .filter(|(_, &t)| t <= now_ms)
                            .map(|(&k, _)| k)
                            .collect();
                        assert_eq!(got, want, "seed {seed} at {now_ms} ms");
                        reference.retain(|_, t| *t > now_ms);
                        let next = reference.values().min().copied();
                        let wheel_next = w.next_deadline().map(|t| t.total_micros() / 1000);
                        // The wheel may report a cascade point earlier than the deadline,
                        // never a later one.
                        assert!(wheel_next <= next || next.is_none(), "seed {seed}");
                        assert_eq!(w.next_deadline().is_some(), next.is_some());
                    }
                }
                assert_eq!(w.len(), reference.len());
            }
        }
    }
}

//! Single-producer/single-consumer rings shared with the kernel (or, in tests, with another
//! thread over an anonymous mapping), in the style of s2n-quic-xdp's ring.rs.
//!
//! A ring is a power-of-two array of entries plus three shared words: producer, consumer
//! and flags. The side that fills entries advances `producer`; the other advances
//! `consumer`. Each side caches both cursors and touches the shared words only when its
//! cache cannot answer: the fast path is plain loads and stores on local memory.
//! Ordering: entries are written before `producer` is stored with Release, and read after
//! `producer` is loaded with Acquire (symmetrically for `consumer`), as in the kernel's
//! `xskq_prod_submit`/`xskq_cons_peek`.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use super::sys::XDP_RING_NEED_WAKEUP;

/// Where a ring lives: pointers into a mapping that outlives the ring (the owner keeps the
/// mapping alive; see `Mmap`).
#[derive(Clone, Copy)]
pub(crate) struct RingLayout {
    pub producer: NonNull<AtomicU32>,
    pub consumer: NonNull<AtomicU32>,
    pub flags: NonNull<AtomicU32>,
    pub entries: NonNull<u8>,
    pub size: u32,
}

impl RingLayout {
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: the layout was built from a live mapping with a properly aligned u32 at
        // this offset (kernel-provided offsets or our test layout); the mapping outlives it.
        unsafe { self.producer.as_ref() }
    }
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }
    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }
}

/// The producing side of a ring of `T` (fill and TX rings, from userspace).
pub(crate) struct Producer<T: Copy> {
    layout: RingLayout,
    mask: u32,
    cached_prod: u32,
    /// Consumer cursor plus size: `cached_cons - cached_prod` is the free space we know of.
    cached_cons: u32,
    _t: PhantomData<T>,
}

/// The consuming side of a ring of `T` (RX and completion rings, from userspace).
pub(crate) struct Consumer<T: Copy> {
    layout: RingLayout,
    mask: u32,
    cached_prod: u32,
    cached_cons: u32,
    _t: PhantomData<T>,
}

// SAFETY: a ring side is used by one thread at a time (it is moved, not shared); the shared
// words are atomics and entries are only touched in the window the protocol grants.
unsafe impl<T: Copy + Send> Send for Producer<T> {}
// SAFETY: as above.
unsafe impl<T: Copy + Send> Send for Consumer<T> {}

impl<T: Copy> Producer<T> {
    /// # Safety
    /// `layout` must describe a live ring of `size` (a power of two) entries of `T`, whose
    /// mapping outlives this value, with exactly one producer.
    pub(crate) unsafe fn new(layout: RingLayout) -> Self {
        debug_assert!(layout.size.is_power_of_two());
        let prod = layout.producer().load(Ordering::Relaxed);
        let cons = layout.consumer().load(Ordering::Acquire);
        Producer {
            layout,
            mask: layout.size - 1,
            cached_prod: prod,
            cached_cons: cons.wrapping_add(layout.size),
            _t: PhantomData,
        }
    }

    /// Free entries, refreshing the consumer cursor only if fewer than `want` are known.
    pub(crate) fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return free;
        }
        self.cached_cons = self
            .layout
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.layout.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Writes up to `items.len()` entries (as many as fit) and publishes them at once.
    /// Returns how many were written.
    pub(crate) fn push_batch(&mut self, items: impl ExactSizeIterator<Item = T>) -> u32 {
        let n = (items.len() as u32).min(self.free(items.len() as u32));
        for (i, item) in items.take(n as usize).enumerate() {
            let idx = self.cached_prod.wrapping_add(i as u32) & self.mask;
            // SAFETY: idx < size; entries [cached_prod, cached_prod + n) are ours to write
            // (n <= free space the consumer granted), and T is the ring's entry type.
            unsafe {
                self.layout
                    .entries
                    .cast::<T>()
                    .as_ptr()
                    .add(idx as usize)
                    .write(item)
            };
        }
        self.cached_prod = self.cached_prod.wrapping_add(n);
        if n > 0 {
            self.layout
                .producer()
                .store(self.cached_prod, Ordering::Release);
        }
        n
    }

    /// The consumer (kernel) asked to be woken up with a syscall.
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.layout.flags().load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }

    /// Entries written and not yet consumed (refreshes the consumer cursor).
    pub(crate) fn outstanding(&mut self) -> u32 {
        self.layout.size - self.free(self.layout.size)
    }
}

impl<T: Copy> Consumer<T> {
    /// # Safety
    /// As for [`Producer::new`], with exactly one consumer.
    pub(crate) unsafe fn new(layout: RingLayout) -> Self {
        debug_assert!(layout.size.is_power_of_two());
        let cons = layout.consumer().load(Ordering::Relaxed);
        let prod = layout.producer().load(Ordering::Acquire);
        Consumer {
            layout,
            mask: layout.size - 1,
            cached_prod: prod,
            cached_cons: cons,
            _t: PhantomData,
        }
    }

    /// Entries ready, refreshing the producer cursor only if fewer than `want` are known.
    pub(crate) fn available(&mut self, want: u32) -> u32 {
        let avail = self.cached_prod.wrapping_sub(self.cached_cons);
        if avail >= want {
            return avail;
        }
        self.cached_prod = self.layout.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Reads up to `max` entries, handing each to `f`, then releases them all at once.
    /// Returns how many were read.
    pub(crate) fn pop_batch(&mut self, max: u32, mut f: impl FnMut(T)) -> u32 {
        let n = self.available(max).min(max);
        for i in 0..n {
            let idx = self.cached_cons.wrapping_add(i) & self.mask;
            // SAFETY: idx < size; entries [cached_cons, cached_cons + n) were published by
            // the producer (Acquire load of `producer` above) and are not reused until we
            // store `consumer` below.
            let item = unsafe {
                self.layout
                    .entries
                    .cast::<T>()
                    .as_ptr()
                    .add(idx as usize)
                    .read()
            };
            f(item);
        }
        self.cached_cons = self.cached_cons.wrapping_add(n);
        if n > 0 {
            self.layout
                .consumer()
                .store(self.cached_cons, Ordering::Release);
        }
        n
    }

    #[cfg(test)]
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.layout.flags().load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::afxdp::mmap::Mmap;

    /// A ring laid out like the kernel's (producer, consumer, flags on their own cache
    /// lines, then the entries) in an anonymous mapping: both sides of it, no kernel.
    pub(crate) struct TestRing {
        _map: Mmap,
        pub layout: RingLayout,
    }

    impl TestRing {
        pub(crate) fn new<T>(size: u32) -> TestRing {
            let len = 192 + size as usize * core::mem::size_of::<T>();
            let map = Mmap::anonymous(len, false).expect("anonymous mmap");
            let base = map.as_ptr();
            // SAFETY: offsets 0, 64, 128 and 192 lie inside the `len`-byte mapping and are
            // aligned for u32 and for T (page-aligned base, 64-byte steps).
            let layout = unsafe {
                RingLayout {
                    producer: NonNull::new_unchecked(base.cast()),
                    consumer: NonNull::new_unchecked(base.add(64).cast()),
                    flags: NonNull::new_unchecked(base.add(128).cast()),
                    entries: NonNull::new_unchecked(base.add(192)),
                    size,
                }
            };
            TestRing { _map: map, layout }
        }

        pub(crate) fn pair<T: Copy>(&self) -> (Producer<T>, Consumer<T>) {
            // SAFETY: the mapping lives in `self`, which the test keeps alive; one producer
            // and one consumer are made.
            unsafe { (Producer::new(self.layout), Consumer::new(self.layout)) }
        }

        pub(crate) fn set_flags(&self, v: u32) {
            self.layout.flags().store(v, Ordering::Relaxed);
        }
    }

    fn drain(c: &mut Consumer<u64>, max: u32) -> Vec<u64> {
        let mut v = Vec::new();
        c.pop_batch(max, |x| v.push(x));
        v
    }

    #[test]
    fn empty_full_and_partial_batches() {
        let ring = TestRing::new::<u64>(8);
        let (mut p, mut c) = ring.pair::<u64>();
        assert_eq!(c.available(1), 0);
        assert!(drain(&mut c, 4).is_empty());
        assert_eq!(p.free(8), 8);
        // Only 8 of 10 fit.
        assert_eq!(p.push_batch((0..10u32).map(u64::from)), 8);
        assert_eq!(p.free(1), 0);
        assert_eq!(
            p.push_batch([100u64].into_iter()),
            0,
            "full ring takes nothing"
        );
        // Partial consume frees exactly that much.
        assert_eq!(drain(&mut c, 3), vec![0, 1, 2]);
        assert_eq!(p.free(1), 3);
        assert_eq!(p.outstanding(), 5);
    }

    #[test]
    fn wraps_around_many_times_in_order() {
        let ring = TestRing::new::<u64>(4);
        let (mut p, mut c) = ring.pair::<u64>();
        let mut next = 0u64;
        let mut expect = 0u64;
        for round in 0..1000u64 {
            let want = 1 + round % 4;
            next += p.push_batch((next as u32..(next + want) as u32).map(u64::from)) as u64;
            for v in drain(&mut c, 1 + (round % 3) as u32) {
                assert_eq!(v, expect);
                expect += 1;
            }
        }
        for v in drain(&mut c, 4) {
            assert_eq!(v, expect);
            expect += 1;
        }
        assert_eq!(expect, next);
        assert!(
            next > 1000,
            "the cursors wrapped the 4-entry ring many times"
        );
    }

    #[test]
    fn cursors_wrap_past_u32_max() {
        let ring = TestRing::new::<u64>(4);
        // Start both cursors just below u32::MAX, as after 4 billion entries.
        let start = u32::MAX - 2;
        // SAFETY: the layout points into the live test mapping.
        unsafe {
            ring.layout
                .producer
                .as_ref()
                .store(start, Ordering::Relaxed);
            ring.layout
                .consumer
                .as_ref()
                .store(start, Ordering::Relaxed);
        }
        let (mut p, mut c) = ring.pair::<u64>();
        for i in 0..20u64 {
            assert_eq!(p.push_batch([i, i + 100].into_iter()), 2);
            assert_eq!(drain(&mut c, 8), vec![i, i + 100]);
        }
    }

    #[test]
    fn wakeup_flag_is_read_from_shared_memory() {
        let ring = TestRing::new::<u64>(4);
        let (p, c) = ring.pair::<u64>();
        assert!(!p.needs_wakeup() && !c.needs_wakeup());
        ring.set_flags(XDP_RING_NEED_WAKEUP);
        assert!(p.needs_wakeup() && c.needs_wakeup());
    }

    #[test]
    fn two_threads_transfer_every_item_once_in_order() {
        // A hang guard, not a speed check: spinning threads yield when they make no
        // progress, so a busy machine only makes this slower.
        const N: u64 = 50_000;
        let ring = TestRing::new::<u64>(64);
        let (mut p, mut c) = ring.pair::<u64>();
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut next = 0u64;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
                while next < N {
                    let end = (next + 16).min(N);
                    let pushed = p.push_batch((next as u32..end as u32).map(u64::from)) as u64;
                    next += pushed;
                    assert!(std::time::Instant::now() < deadline, "producer stalled");
                    if pushed == 0 {
                        std::thread::yield_now();
                    }
                }
            });
            let mut expect = 0u64;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            while expect < N {
                let before = expect;
                c.pop_batch(32, |v| {
                    assert_eq!(v, expect);
                    expect += 1;
                });
                assert!(std::time::Instant::now() < deadline, "consumer stalled");
                if expect == before {
                    std::thread::yield_now();
                }
            }
        });
    }
}

//! A UMEM (the frame memory one AF_XDP socket shares with the kernel) and the `Frame`
//! handles into it.
//!
//! Every UMEM gets an id no other UMEM of the process ever gets, and every frame carries
//! the id of the UMEM that made it. A frame handed to another socket is refused (a panic,
//! as an out-of-bounds index is) before any byte is touched or any count changes: its
//! address means nothing in another UMEM, which may be smaller, so without the check safe
//! code could read or write outside a mapping, or put a foreign frame on a free list.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use super::mmap::Mmap;

/// A frame of a UMEM, owned by whoever holds this handle. Not `Clone`/`Copy`: a frame is
/// in exactly one place.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// Offset in the UMEM of the first byte (within one chunk).
    pub(super) addr: u64,
    pub(super) len: u32,
    /// The id of the UMEM that made it.
    pub(super) umem: u32,
}

impl Frame {
    /// Bytes of the frame in use (received, or to send).
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// No bytes in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The next UMEM id. Ids are never reused: once they run out (after 4 billion sockets in
/// one process), opening another socket fails rather than repeat one.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

fn next_id() -> Option<u32> {
    NEXT_ID
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| id.checked_add(1))
        .ok()
}

pub(super) struct Umem {
    mem: Mmap,
    frame_size: u32,
    id: u32,
}

impl Umem {
    /// `frame_count` chunks of `frame_size` bytes (a power of two), on 2 MiB huge pages
    /// when `huge` and the size allows (says whether it got them).
    pub(super) fn new(frame_size: u32, frame_count: u32, huge: bool) -> io::Result<(Umem, bool)> {
        debug_assert!(frame_size.is_power_of_two());
        let id = next_id().ok_or_else(|| {
            io::Error::other("every UMEM id of this process is used (4 billion sockets)")
        })?;
        let len = frame_size as usize * frame_count as usize;
        let huge_ok = huge && len.is_multiple_of(2 << 20);
        let (mem, hugepages) = match huge_ok.then(|| Mmap::anonymous(len, true)) {
            Some(Ok(m)) => (m, true),
            _ => (Mmap::anonymous(len, false)?, false),
        };
        Ok((
            Umem {
                mem,
                frame_size,
                id,
            },
            hugepages,
        ))
    }

    /// For XDP_UMEM_REG.
    pub(super) fn as_ptr(&self) -> *mut u8 {
        self.mem.as_ptr()
    }

    pub(super) fn len(&self) -> usize {
        self.mem.len()
    }

    pub(super) fn total(&self) -> u32 {
        (self.mem.len() / self.frame_size as usize) as u32
    }

    /// The start of the chunk holding `addr`.
    pub(super) fn base(&self, addr: u64) -> u64 {
        addr & !(self.frame_size as u64 - 1)
    }

    /// A handle for `len` bytes at `addr`, which the caller has checked lie inside one
    /// chunk of this UMEM.
    pub(super) fn frame(&self, addr: u64, len: u32) -> Frame {
        debug_assert!(self.within(addr, len as u64));
        Frame {
            addr,
            len,
            umem: self.id,
        }
    }

    /// Do `len` bytes at `addr` lie inside one chunk of this UMEM?
    pub(super) fn within(&self, addr: u64, len: u64) -> bool {
        let Some(end) = self.base(addr).checked_add(self.frame_size as u64) else {
            return false;
        };
        addr.checked_add(len).is_some_and(|e| e <= end) && end <= self.mem.len() as u64
    }

    /// Refuses a frame another UMEM made.
    ///
    /// # Panics
    /// If `f` is not this UMEM's.
    #[inline]
    pub(super) fn check(&self, f: &Frame) {
        assert!(
            f.umem == self.id,
            "a Frame was handed to an AF_XDP socket other than the one that made it \
             (UMEM {} given to UMEM {})",
            f.umem,
            self.id
        );
    }

    /// Bytes from the frame's start to its chunk's end.
    pub(super) fn room(&self, f: &Frame) -> usize {
        self.check(f);
        (self.base(f.addr) + self.frame_size as u64 - f.addr) as usize
    }

    /// The frame's bytes.
    pub(super) fn bytes(&self, f: &Frame) -> &[u8] {
        self.check(f);
        // SAFETY: the frame is this UMEM's (checked above), and this UMEM made it with
        // addr + len inside one of its chunks (`frame`, `set_len`, `set_range` keep it
        // so); its bytes are not in the kernel's hands while the handle exists.
        unsafe { core::slice::from_raw_parts(self.mem.as_ptr().add(f.addr as usize), f.len()) }
    }

    /// The frame's whole writable room, from its start to its chunk's end.
    pub(super) fn room_mut(&mut self, f: &mut Frame) -> &mut [u8] {
        let room = self.room(f);
        // SAFETY: as in `bytes`, and the room ends at the chunk's end; `&mut self` and
        // `&mut Frame` make this the only live reference to these bytes.
        unsafe { core::slice::from_raw_parts_mut(self.mem.as_ptr().add(f.addr as usize), room) }
    }

    /// Sets the frame's length, clamped to its room.
    pub(super) fn set_len(&self, f: &mut Frame, len: usize) {
        let room = self.room(f);
        debug_assert!(len <= room, "frame length {len} over its room {room}");
        f.len = len.min(room) as u32;
    }

    /// Makes the frame `len` bytes starting `start` bytes into its room, clamped to it.
    pub(super) fn set_range(&self, f: &mut Frame, start: usize, len: usize) {
        let room = self.room(f);
        debug_assert!(
            start + len <= room,
            "frame {start}+{len} over its room {room}"
        );
        let start = start.min(room);
        f.addr += start as u64;
        f.len = len.min(room - start) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn refused<R>(f: impl FnOnce() -> R) -> bool {
        catch_unwind(AssertUnwindSafe(f)).is_err()
    }

    #[test]
    fn a_frame_is_only_good_in_the_umem_that_made_it() {
        let (mut big, _) = Umem::new(4096, 64, false).unwrap();
        let (mut small, _) = Umem::new(2048, 4, false).unwrap();
        // The last chunk of the big UMEM: far beyond the end of the small one.
        let mut f = big.frame(63 * 4096, 0);
        big.room_mut(&mut f)[..5].copy_from_slice(b"hello");
        big.set_len(&mut f, 5);
        assert_eq!(big.bytes(&f), b"hello");

        // Every access through the other UMEM is refused, reads and writes alike.
        assert!(refused(|| small.bytes(&f).len()));
        assert!(refused(|| small.room_mut(&mut f).len()));
        assert!(refused(|| small.set_len(&mut f, 1)));
        assert!(refused(|| small.set_range(&mut f, 1, 1)));
        // ... and the frame is untouched and still good where it belongs.
        assert_eq!(big.bytes(&f), b"hello");
        big.set_range(&mut f, 1, 3);
        assert_eq!(big.bytes(&f), b"ell");
    }

    #[test]
    fn same_geometry_does_not_make_a_frame_acceptable() {
        let (a, _) = Umem::new(4096, 64, false).unwrap();
        let (b, _) = Umem::new(4096, 64, false).unwrap();
        let f = a.frame(0, 0);
        assert!(refused(|| b.bytes(&f).len()));
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn bounds() {
        let (u, _) = Umem::new(2048, 4, false).unwrap();
        assert!(u.within(0, 2048));
        assert!(u.within(3 * 2048 + 100, 1948));
        assert!(!u.within(3 * 2048 + 100, 1949), "crosses the chunk's end");
        assert!(!u.within(4 * 2048, 1), "past the UMEM");
        assert!(!u.within(u64::MAX - 1, 10), "no overflow");
        assert_eq!(u.total(), 4);
    }
}

//! An owned memory mapping, unmapped on drop.

use std::io;
use std::os::fd::RawFd;

use super::sys::MAP_HUGE_2MB;

pub(crate) struct Mmap {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; moving it between threads is
// fine, and concurrent access is governed by the ring protocol, not by `Mmap`.
unsafe impl Send for Mmap {}

impl Mmap {
    /// Private anonymous memory of `len` bytes, zero-filled. With `huge`, backed by 2 MiB
    /// huge pages (fails where none are reserved: see /proc/sys/vm/nr_hugepages).
    pub(crate) fn anonymous(len: usize, huge: bool) -> io::Result<Mmap> {
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        if huge {
            flags |= libc::MAP_HUGETLB | MAP_HUGE_2MB;
        }
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: ptr.cast(),
            len,
        })
    }

    /// A shared mapping of `len` bytes of `fd` at `offset` (an AF_XDP ring).
    pub(crate) fn shared(fd: RawFd, len: usize, offset: u64) -> io::Result<Mmap> {
        // SAFETY: maps kernel memory the socket exposes at this page offset; nothing else
        // in the process is affected.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: ptr.cast(),
            len,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap and are unmapped exactly once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

//! Giving freed heap memory back to the kernel.
//!
//! The allocator keeps what a burst of connections freed (their records, buffers beyond
//! the pool's bound) in its arenas, resident, for reuse; after 200,000 connections close
//! that is hundreds of megabytes nobody will use soon. The worker calls [`release`] at
//! most once a second, and only after it freed a lot: glibc's `malloc_trim(0)` returns the
//! free pages of every arena (`MADV_DONTNEED`), at a cost that grows with the heap, so it is
//! kept off the per-packet path.

/// Returns the allocator's free pages to the kernel, where the allocator can (glibc).
#[allow(unsafe_code)]
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointer of ours
    // is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

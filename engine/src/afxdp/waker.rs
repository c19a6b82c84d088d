//! Waking a worker that sleeps in poll() on its AF_XDP socket when something arrives by
//! another way (a loopback segment, a handoff from another worker): an eventfd polled
//! beside the socket, written only when the worker said it is about to sleep.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Wakes a worker sleeping in `poll` from another thread (an eventfd); the write is
/// skipped while it is not asleep.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
    sleeping: AtomicBool,
}

impl Waker {
    /// A new eventfd-backed waker.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Waker {
            // SAFETY: a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            sleeping: AtomicBool::new(false),
        })
    }

    /// After queueing something for the worker: wake it if it sleeps (or is about to).
    pub fn wake(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64. EAGAIN (counter full) means a wakeup
            // is pending already.
            unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// Announces a sleep: call before the final emptiness check, then `sleep`.
    pub(crate) fn announce(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    pub(crate) fn done(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN when nothing was written.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }

    pub(crate) fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_only_writes_when_announced() {
        let w = Waker::new().unwrap();
        w.wake();
        let mut pfd = libc::pollfd {
            fd: w.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(
            unsafe { libc::poll(&mut pfd, 1, 0) },
            0,
            "not sleeping: no write"
        );
        w.announce();
        w.wake();
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1, "sleeping: woken");
        w.done();
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 0, "drained");
    }
}

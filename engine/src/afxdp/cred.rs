//! Who is at the other end of a unix socket (SO_PEERCRED), for the control channel: the
//! one socket option outside AF_XDP that needs a raw call, kept with the others.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// The user id of the process that connected `stream` (as it was at connect time).
pub fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = core::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a writable `ucred` of `len` bytes, the size SO_PEERCRED fills;
    // the fd is open for the duration of the call (borrowed from `stream`).
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

const _: () = assert!(core::mem::size_of::<libc::ucred>() == 12);

/// Makes the calling thread, and only it, run as `uid`/`gid` with no supplementary group
/// and no capability: raw system calls, since the C library's `setuid` changes every
/// thread of the process. Leaving uid 0 this way clears the thread's permitted and
/// effective capabilities (capabilities(7), "Effect of user ID changes on capabilities").
/// Irreversible for the thread; the others keep what they hold.
pub fn drop_thread_privileges(uid: u32, gid: u32) -> io::Result<()> {
    let check = |rc: libc::c_long| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: setgroups(0, NULL) reads no memory; setresgid and setresuid take integers.
    // Each acts on the calling thread's credentials only (the raw calls skip glibc's
    // process-wide broadcast).
    unsafe {
        check(libc::syscall(
            libc::SYS_setgroups,
            0usize,
            core::ptr::null::<libc::gid_t>(),
        ))?;
        check(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        check(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_socketpair_peer_is_ourselves() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let me = std::fs::metadata("/proc/self").unwrap().uid();
        assert_eq!(super::peer_uid(&a).unwrap(), me);
    }
}

//! Child processes that die with their guard, and bounded waiting.

use std::io::Read;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A background process, stopped (SIGTERM, then SIGKILL after a grace) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    what: String,
}

impl ChildGuard {
    pub fn spawn(mut cmd: Command) -> ChildGuard {
        let what = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        ChildGuard {
            child: Some(child),
            what,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends `sig` if the child has not exited (and been reaped): a reaped child's pid may
    /// already belong to another process.
    pub fn signal(&mut self, sig: libc::c_int) {
        if let Some(child) = self.child.as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                signal(child.id(), sig);
            }
        }
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends SIGTERM and waits up to `grace` for exit, then SIGKILLs. Returns the exit
    /// status and whatever the process wrote (if its output was piped).
    pub fn stop(&mut self, grace: Duration) -> (Option<std::process::ExitStatus>, String, String) {
        let Some(mut child) = self.child.take() else {
            return (None, String::new(), String::new());
        };
        // Only a child not yet reaped may be signalled: once `try_wait` has reaped it,
        // its pid may already belong to another process.
        if matches!(child.try_wait(), Ok(None)) {
            signal(child.id(), libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    break child.wait().ok();
                }
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        (status, out, err)
    }

    /// Waits up to `limit` for the process to exit by itself; kills it if it does not.
    pub fn wait_exit(
        &mut self,
        limit: Duration,
    ) -> (Option<std::process::ExitStatus>, String, String) {
        let deadline = Instant::now() + limit;
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.alive() {
            eprintln!("{} did not exit within {limit:?}: killing it", self.what);
        }
        self.stop(Duration::from_millis(500))
    }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid we spawned; no memory is involved.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop(Duration::from_secs(2));
        }
    }
}

/// Polls `cond` every `every` until it holds or `limit` passes. Returns whether it held.
pub fn wait_until(limit: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

//! Child processes that die with their guard, their output read as it comes, and bounded
//! waiting.

use std::io::Read;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One of a child's piped streams, read by a thread of its own into a shared buffer: a
/// test can watch for a line while the child runs (a readiness line, a stats line), and a
/// chatty child never blocks on a full pipe.
#[derive(Debug)]
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    /// Closed (disconnected) when the reader has seen the end of the stream.
    done: Receiver<()>,
}

impl Captured {
    fn start(mut stream: impl Read + Send + 'static) -> Captured {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel::<()>();
        let sink = bytes.clone();
        std::thread::spawn(move || {
            let _tx = tx;
            let mut buf = [0u8; 8192];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        Captured { bytes, done }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Everything the stream carried, once it ended; or what came within `limit` (a
    /// grandchild may still hold the pipe open).
    fn finish(&self, limit: Duration) -> String {
        let _ = self.done.recv_timeout(limit);
        self.text()
    }
}

/// A background process, stopped (SIGTERM, then SIGKILL after a grace) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    what: String,
    out: Option<Captured>,
    err: Option<Captured>,
}

impl ChildGuard {
    pub fn spawn(mut cmd: Command) -> ChildGuard {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let out = child.stdout.take().map(Captured::start);
        let err = child.stderr.take().map(Captured::start);
        ChildGuard {
            child: Some(child),
            what,
            out,
            err,
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

    /// What the child has written to its (piped) stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.out.as_ref().map(Captured::text).unwrap_or_default()
    }

    /// What the child has written to its (piped) stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.err.as_ref().map(Captured::text).unwrap_or_default()
    }

    /// Waits up to `limit` for `cond(stdout so far, stderr so far)` to hold, e.g. for a
    /// readiness line. Returns false if the child exits first (after a last look at its
    /// output) or the limit passes.
    pub fn wait_for_output(
        &mut self,
        limit: Duration,
        mut cond: impl FnMut(&str, &str) -> bool,
    ) -> bool {
        let mut held = false;
        wait_until(limit, Duration::from_millis(20), || {
            let alive = self.alive();
            held = cond(&self.stdout_so_far(), &self.stderr_so_far());
            held || !alive
        });
        held
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
        let finish = |c: &Option<Captured>| {
            c.as_ref()
                .map(|c| c.finish(Duration::from_secs(2)))
                .unwrap_or_default()
        };
        (status, finish(&self.out), finish(&self.err))
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

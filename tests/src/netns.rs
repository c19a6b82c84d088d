//! A network namespace that exists for as long as its `Netns` value.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::proc::ChildGuard;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A uniquely named namespace (`fp-<tag>-<pid>-<n>`), with `lo` up, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// A short, process-unique suffix for names (namespaces, interfaces).
pub fn unique_suffix() -> String {
    format!(
        "{}{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a command, panicking with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e} (is iproute2 installed?)"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

impl Netns {
    /// Creates `fp-<tag>-<pid><n>`.
    pub fn new(tag: &str) -> Netns {
        let name = format!("fp-{tag}-{}", unique_suffix());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.run_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs inside the namespace (`ip netns exec NAME program ...`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `argv` inside the namespace and returns its output, whatever the status.
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut c = self.command(argv[0]);
        c.args(&argv[1..]);
        c.output()
            .unwrap_or_else(|e| panic!("running {argv:?} in {}: {e}", self.name))
    }

    /// Runs `argv` inside the namespace, panicking with its output if it fails.
    pub fn run_ok(&self, argv: &[&str]) -> String {
        let mut c = self.command(argv[0]);
        c.args(&argv[1..]);
        String::from_utf8_lossy(&run_ok(&mut c).stdout).into_owned()
    }

    /// Starts `argv` in the background inside the namespace; killed when the guard drops.
    pub fn spawn(&self, argv: &[&str]) -> ChildGuard {
        let mut c = self.command(argv[0]);
        c.args(&argv[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        ChildGuard::spawn(c)
    }

    /// Runs `f` on a new thread that has entered this namespace (AF_XDP sockets and XDP
    /// attachments act in the calling thread's namespace).
    pub fn enter_thread<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(&path);
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

/// Moves the calling thread into the namespace at `path`.
pub fn enter(path: &str) {
    let file = File::open(path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
    // SAFETY: setns on a valid namespace fd; it changes only the calling thread's network
    // namespace (a thread never shares its fs struct's netns with others).
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside would keep it alive: kill them first.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            });
        let out = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("warning: could not delete namespace {}: {out:?}", self.name);
        }
    }
}

/// Namespaces whose names start with `prefix` (to check that nothing leaked).
pub fn existing(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(prefix))
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

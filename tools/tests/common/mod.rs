//! Shared by the veth tests of `fastpath serve`.
#![allow(dead_code)]

use std::time::Duration;

use fastpath_testbed::proc::wait_until;
use fastpath_testbed::{ChildGuard, VethPair};

pub const BIN: &str = env!("CARGO_BIN_EXE_fastpath");

/// Starts `fastpath serve` in the engine namespace and waits until its program is attached
/// and its sockets are bound (the "serving" log line).
pub fn serve(pair: &VethPair, extra: &[&str]) -> ChildGuard {
    let ip = format!("{}/24", pair.engine_addr());
    let mut argv = vec![
        BIN,
        "serve",
        "--iface",
        pair.engine_if(),
        "--ip",
        &ip,
        "--stats-interval",
        "1",
    ];
    argv.extend_from_slice(extra);
    let mut child = pair.engine_ns().spawn(&argv);
    let up = wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
        pair.xdp_attached() || !child.alive()
    });
    assert!(
        up && child.alive(),
        "fastpath serve did not start: {:?}",
        child.stop(Duration::from_secs(1))
    );
    // Sockets are registered right after the attach; give them a moment.
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// Stops the engine with `sig` and returns (success, stdout, stderr).
pub fn stop(mut child: ChildGuard, sig: i32) -> (bool, String, String) {
    child.signal(sig);
    let (status, out, err) = child.wait_exit(Duration::from_secs(10));
    (status.is_some_and(|s| s.success()), out, err)
}

pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// rx frames per queue from the summary lines "queue N: ... rx R tx T frames".
pub fn queue_rx(summary: &str) -> Vec<(u32, u64)> {
    summary
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let q = l.strip_prefix("queue ")?.split(':').next()?.parse().ok()?;
            let rx = l
                .split(", rx ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((q, rx))
        })
        .collect()
}

/// Heavy tests of one file (floods, loss recovery) take turns: side by side on a 2-core
/// machine they time each other out.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The figures right after `key` on every line of `out` that has it, e.g. a summary's
/// "SYN cookies sent " per queue.
pub fn each(out: &str, key: &str) -> Vec<u64> {
    out.lines()
        .filter_map(|l| l.split_once(key))
        .filter_map(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

/// Python prelude for the raw-socket senders: `send(sock, frame)` returns False when the
/// link dropped the frame. veth answers an AF_PACKET send with ENOBUFS when the receiving
/// side's queue is full (the engine's core busy): a real flooder shrugs that off, and a
/// test that must deliver every frame (`send_all`) waits a moment and tries again.
pub const PY_SEND: &str = r#"
import errno as _errno, time as _time
def send(sock, frame):
    try:
        sock.send(frame)
        return True
    except OSError as e:
        if e.errno != _errno.ENOBUFS:
            raise
        return False
def send_all(sock, frame):
    for _ in range(10000):
        if send(sock, frame):
            return
        _time.sleep(0.0005)
    raise SystemExit("link kept refusing a frame (ENOBUFS) for 5 s")
"#;

/// A Python script with the `PY_SEND` prelude, for `python3 -c`.
pub fn py(script: &str) -> String {
    format!("{PY_SEND}{script}")
}

/// A directory removed on drop (panics included).
pub struct Cleanup(pub std::path::PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh web root for `--root` holding `files` (name, size) of patterned bytes.
pub fn web_root(tag: &str, files: &[(&str, usize)]) -> (std::path::PathBuf, Cleanup) {
    let dir = std::env::temp_dir().join(format!("fastpath-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, size) in files {
        let body: Vec<u8> = (0..*size as u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join(name), body).unwrap();
    }
    (dir.clone(), Cleanup(dir))
}

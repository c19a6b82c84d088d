//! Shared by the veth tests of `fastpath serve`.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fastpath_testbed::{ChildGuard, VethPair};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_fastpath");

/// The line `fastpath serve` logs (stderr) once `Engine::start` has returned: the program
/// attached, every queue's socket bound, its fill ring stocked and registered in the
/// program's map, the workers started. From then on a frame for the engine reaches it.
pub const READY: &str = "; Ctrl-C to stop";

/// A running `fastpath serve` (a [`ChildGuard`]) and the file it writes its report to at
/// exit (`--report-json`), removed on drop.
pub struct Served {
    child: ChildGuard,
    json: PathBuf,
}

impl Deref for Served {
    type Target = ChildGuard;
    fn deref(&self) -> &ChildGuard {
        &self.child
    }
}

impl DerefMut for Served {
    fn deref_mut(&mut self) -> &mut ChildGuard {
        &mut self.child
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.json);
    }
}

/// Starts `fastpath serve` in the engine namespace, its report going to a file of its
/// own, and waits for its ready line ([`READY`]); no fixed sleep.
pub fn serve(pair: &VethPair, extra: &[&str]) -> Served {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let json = std::env::temp_dir().join(format!(
        "fastpath-report-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let json_arg = json.to_string_lossy().into_owned();
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
        "--report-json",
        &json_arg,
    ];
    argv.extend_from_slice(extra);
    let mut child = pair.engine_ns().spawn(&argv);
    let up = child.wait_for_output(Duration::from_secs(20), |_, err| err.contains(READY));
    assert!(
        up && child.alive(),
        "fastpath serve did not start: {:?}",
        child.stop(Duration::from_secs(1))
    );
    assert!(pair.xdp_attached(), "ready, yet no program attached");
    Served { child, json }
}

/// Connections open ("N conns open") in the last stats line of `serve`'s stdout `out`
/// that was printed after its first `from` bytes.
pub fn conns_open_after(out: &str, from: usize) -> Option<u64> {
    out.get(from..)?
        .lines()
        .rev()
        .find_map(|l| l.split_once(" conns open"))
        .and_then(|(before, _)| before.rsplit(' ').next()?.parse().ok())
}

/// Stops the engine with `sig` and returns (success, stdout, stderr).
pub fn stop(engine: Served, sig: i32) -> (bool, String, String) {
    let (ok, out, err, _) = stop_report(engine, sig);
    (ok, out, err)
}

/// Stops the engine with `sig` and returns (success, stdout, stderr, the report as JSON;
/// `Value::Null` if it wrote none).
pub fn stop_report(mut engine: Served, sig: i32) -> (bool, String, String, Value) {
    engine.child.signal(sig);
    let (status, out, err) = engine.child.wait_exit(Duration::from_secs(10));
    let report = std::fs::read_to_string(&engine.json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (status.is_some_and(|s| s.success()), out, err, report)
}

/// `key` of every queue's worker counters in `report`, in queue order.
pub fn per_queue(report: &Value, key: &str) -> Vec<u64> {
    report["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| q["worker"]["counters"][key].as_u64().unwrap_or(0))
        .collect()
}

/// `key` of every queue's worker summary (beside its counters), e.g. "connections_left".
pub fn worker_field(report: &Value, key: &str) -> Vec<u64> {
    report["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| q["worker"][key].as_u64().unwrap_or(u64::MAX))
        .collect()
}

/// `key` of the counters summed over the workers.
pub fn total(report: &Value, key: &str) -> u64 {
    report["total"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no total {key} in the report: {report}"))
}

/// Nothing held at exit: no connection, no socket table entry, no frame in use.
pub fn assert_nothing_held(report: &Value) {
    assert_eq!(report["at_exit"]["connections"], 0, "{report:#}");
    assert_eq!(report["at_exit"]["table_entries"], 0, "{report:#}");
    assert!(frames_balanced_and_free(report), "{report:#}");
}

/// Every queue's frames were accounted for (free + with the kernel + in use = all), and
/// none was in use at exit.
pub fn frames_balanced_and_free(report: &Value) -> bool {
    let queues = report["queues"].as_array().cloned().unwrap_or_default();
    !queues.is_empty()
        && queues.iter().all(|q| {
            let f = &q["worker"]["frames"];
            let sum: u64 = ["free", "kernel_rx", "in_use", "kernel_tx"]
                .iter()
                .filter_map(|k| f[k].as_u64())
                .sum();
            Some(sum) == f["total"].as_u64() && f["in_use"] == 0
        })
}

pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Heavy tests of one file (floods, loss recovery) take turns: side by side on a 2-core
/// machine they time each other out.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path of a Python peer in `tools/tests/peers/`, for `python3 PATH ARGS...` (run by
/// path, so a peer can import its neighbours, e.g. `rawsend.py`).
pub fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The peer's kernel's TCP sockets to the engine's port 80 in `state` (an `ss` state
/// filter, e.g. "established" or "connected exclude time-wait").
pub fn peer_conns(pair: &VethPair, state: &str) -> usize {
    let dst = format!("{}:80", pair.engine_addr());
    let mut argv = vec!["ss", "-Htn", "state"];
    argv.extend(state.split_whitespace());
    argv.extend(["dst", &dst]);
    pair.peer_ns().run_ok(&argv).lines().count()
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

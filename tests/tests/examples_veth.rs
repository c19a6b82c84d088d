//! The engine's examples on a veth pair, built by cargo and run as a user runs them: the
//! embedding shown in the README keeps working.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fastpath_testbed::proc::wait_until;
use fastpath_testbed::{privileged, VethPair};

const SIGTERM: i32 = 15;

/// Builds `engine/examples/NAME.rs` with this test's profile and target directory (a
/// no-op when `cargo test --workspace` built it already) and returns its path.
fn example(name: &str) -> PathBuf {
    // This test runs from TARGET/PROFILE/deps/.
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("TARGET/PROFILE/deps/TEST");
    let target = profile_dir.parent().expect("TARGET/PROFILE");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(p) => p,
        None => panic!("no profile in {}", exe.display()),
    };
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "fastpath-engine", "--example", name])
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target)
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "cargo build --example {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    profile_dir.join("examples").join(name)
}

#[test]
fn serve_hello_answers_with_its_own_handler() {
    if !privileged::check("serve_hello_answers_with_its_own_handler") {
        return;
    }
    let bin = example("serve_hello");
    let pair = VethPair::new("exh");
    let ip = format!("{}/24", pair.engine_addr());
    let bin = bin.to_string_lossy().into_owned();
    let mut child = pair.engine_ns().spawn(&[&bin, pair.engine_if(), &ip]);

    // Ready when the port answers with the handler's greeting: no fixed sleep.
    let curl = |path: &str| {
        let url = format!("http://{}/{path}", pair.engine_addr());
        let out = pair
            .peer_ns()
            .exec(&["curl", "-s", "--max-time", "1", &url]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut first = None;
    let up = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        first = curl("veth");
        first.is_some() || !child.alive()
    });
    assert!(
        up && child.alive(),
        "serve_hello did not answer: {:?}",
        child.stop(Duration::from_secs(1))
    );
    let first = first.unwrap_or_default();
    assert!(first.starts_with("Hello, veth! (request "), "{first}");
    let second = curl("").expect("a second request");
    assert!(second.starts_with("Hello, world! (request "), "{second}");

    // SIGTERM: a clean stop, the summary, the report as JSON, the program detached.
    child.signal(SIGTERM);
    let (status, out, err) = child.wait_exit(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "{out}\n{err}");
    assert!(
        out.starts_with(&format!("serving http://{}/ on ", pair.engine_addr())),
        "{out}"
    );
    assert!(out.contains("fastpath summary (XDP program in"), "{out}");
    let json = out.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(json).expect("the report as JSON");
    assert!(report["total"]["http_2xx"].as_u64() >= Some(2), "{json}");
    assert_eq!(report["queues"].as_array().map(Vec::len), Some(2), "{json}");
    for q in report["queues"].as_array().into_iter().flatten() {
        assert_eq!(q["afxdp_mode"], "copy", "veth has no zero-copy: {q}");
        let f = &q["worker"]["frames"];
        let sum: u64 = ["free", "kernel_rx", "in_use", "kernel_tx"]
            .iter()
            .filter_map(|k| f[k].as_u64())
            .sum();
        assert_eq!(Some(sum), f["total"].as_u64(), "every frame accounted: {f}");
    }
    assert!(!pair.xdp_attached(), "XDP program left attached");
}

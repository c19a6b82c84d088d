//! The README's first command, `fastpath demo`, runs to completion and cleans up.

use fastpath_testbed::{netns, privileged};

#[test]
fn demo_runs_and_removes_what_it_made() {
    if !privileged::check("demo_runs_and_removes_what_it_made") {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastpath"))
        .args(["demo", "--duration", "1"])
        .output()
        .expect("run fastpath demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("answered by the engine"), "{stdout}");
    assert!(
        stdout.contains("100 packets transmitted, 100 received"),
        "{stdout}"
    );
    // An HTTP load ran over each family and measured a rate, without errors.
    let families: &[&str] = if fastpath_xdp::STEERS_IPV6 {
        assert!(
            stdout.contains("20 packets transmitted, 20 received"),
            "ping -6: {stdout}"
        );
        &["IPv4", "IPv6"]
    } else {
        &["IPv4"]
    };
    for family in families {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("demo: HTTP load over {family}")))
            .unwrap_or_else(|| panic!("no {family} load: {stdout}"));
        let rate: f64 = line
            .split(": ")
            .nth(2)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no request rate: {line}"));
        assert!(rate > 0.0 && line.ends_with(", 0 errors"), "{line}");
    }
    assert!(stdout.contains("removed the namespaces"), "{stdout}");
    // The namespaces it named are gone.
    for word in stdout.split_whitespace() {
        if word.starts_with("fp-demo-") {
            assert!(netns::existing(word).is_empty(), "{word} left behind");
        }
    }
}

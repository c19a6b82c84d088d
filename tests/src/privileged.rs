//! Gate for tests that need root (netns, veth, XDP, AF_XDP).
//!
//! Not root: the test prints a loud SKIP line and returns. With `FASTPATH_PRIVILEGED=1`
//! (set by `.ci/run`) a missing privilege is a failure, never a silent skip.

/// Returns `true` when the calling test may go on with privileged work.
///
/// ```no_run
/// #[test]
/// fn veth_ping() {
///     if !fastpath_testbed::privileged::check("veth_ping") {
///         return;
///     }
///     // ... privileged work ...
/// }
/// ```
pub fn check(test: &str) -> bool {
    let required = std::env::var("FASTPATH_PRIVILEGED").is_ok_and(|v| v == "1");
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        return true;
    }
    if required {
        panic!("{test}: FASTPATH_PRIVILEGED=1 but not running as root; run the suite as root");
    }
    eprintln!(
        "\n!!!!! SKIPPED {test}: needs root (network namespaces, veth, XDP, AF_XDP). \
         Run as root; set FASTPATH_PRIVILEGED=1 to make this a failure. !!!!!\n"
    );
    false
}

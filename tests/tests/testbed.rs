//! The test bed tests itself: pairs work, have unique names, and vanish on every path.

use std::time::Duration;

use fastpath_testbed::{netns, privileged, VethPair};

#[test]
fn pair_carries_kernel_traffic_and_is_removed_on_drop() {
    if !privileged::check("pair_carries_kernel_traffic_and_is_removed_on_drop") {
        return;
    }
    let pair = VethPair::new("tb");
    pair.add_engine_kernel_addr(pair.engine_addr());
    let names = [
        pair.engine_ns().name().to_string(),
        pair.peer_ns().name().to_string(),
    ];
    let target = pair.engine_addr().to_string();
    let out = pair
        .peer_ns()
        .exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", &target]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(pair.engine_mac().len(), 6);
    assert_ne!(pair.engine_mac(), pair.peer_mac());
    drop(pair);
    for n in names {
        assert!(netns::existing(&n).is_empty(), "{n} left behind");
    }
}

#[test]
fn pair_is_removed_when_the_test_panics() {
    if !privileged::check("pair_is_removed_when_the_test_panics") {
        return;
    }
    let mut names = Vec::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pair = VethPair::new("tbp");
        names.push(pair.engine_ns().name().to_string());
        names.push(pair.peer_ns().name().to_string());
        panic!("deliberate");
    }));
    assert!(r.is_err());
    assert_eq!(names.len(), 2);
    for n in names {
        assert!(
            netns::existing(&n).is_empty(),
            "{n} left behind after a panic"
        );
    }
}

#[test]
fn parallel_pairs_are_distinct_and_threads_can_enter_them() {
    if !privileged::check("parallel_pairs_are_distinct_and_threads_can_enter_them") {
        return;
    }
    let pairs: Vec<VethPair> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2).map(|_| s.spawn(|| VethPair::new("tbq"))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_ne!(pairs[0].engine_ns().name(), pairs[1].engine_ns().name());
    assert_ne!(pairs[0].engine_if(), pairs[1].engine_if());
    for p in &pairs {
        let name = std::ffi::CString::new(p.engine_if()).unwrap();
        // Inside: the interface exists. Outside (root namespace): it does not.
        // SAFETY: valid C string.
        let inside = p
            .engine_ns()
            .enter_thread(|| unsafe { libc::if_nametoindex(name.as_ptr()) });
        assert_ne!(inside, 0);
        // SAFETY: valid C string.
        assert_eq!(unsafe { libc::if_nametoindex(name.as_ptr()) }, 0);
    }
}

#[test]
fn child_guard_kills_on_drop() {
    if !privileged::check("child_guard_kills_on_drop") {
        return;
    }
    let ns = netns::Netns::new("tbc");
    let child = ns.spawn(&["sleep", "100"]);
    let pid = child.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(child);
    assert!(fastpath_testbed::proc::wait_until(
        Duration::from_secs(3),
        Duration::from_millis(20),
        || !std::path::Path::new(&format!("/proc/{pid}")).exists()
    ));
}

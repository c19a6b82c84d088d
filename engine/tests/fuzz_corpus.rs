//! Replays the fuzz corpora and every crash the fuzzers ever found (fuzz/regressions)
//! through the same entry points the fuzz targets call, on stable, in the normal suite.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for dir in ["regressions", "corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(r.is_ok(), "{target}: {} panics", path.display());
            count += 1;
        }
    }
    println!("{target}: {count} inputs replayed");
}

#[test]
fn wire_frame_corpus() {
    replay("wire_frame", fastpath_engine::fuzz::wire_frame);
}

#[test]
fn tcp_options_corpus() {
    replay("tcp_options", fastpath_engine::fuzz::tcp_options);
}

#[test]
fn tcp_conn_corpus() {
    replay("tcp_conn", fastpath_engine::fuzz::tcp_conn);
}

#[test]
fn http_session_corpus() {
    replay("http_session", fastpath_engine::fuzz::http_session);
}

#[test]
fn ipv6_packet_corpus() {
    replay("ipv6_packet", fastpath_engine::fuzz::ipv6_packet);
}

//! The access log adds no allocation to a worker's request: the same requests through a
//! session cost the worker thread exactly as many allocations with the log on as with it
//! off (a counting allocator, counting this thread only; the logger thread's own
//! formatting is not the worker's). And "/" costs no more than naming its index.html.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use fastpath_engine::http::{
    AccessLogger, HttpConfig, LiveSite, LoadOptions, LogFormat, Session, Site,
};
use fastpath_engine::tcp::{Conn, FourTuple, SeqNum, TcpConfig};
use fastpath_engine::time::Instant;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn shuttle(from: &mut Conn, to: &mut Conn, now: Instant, scratch: &mut [u8]) {
    while let Some((r, n)) = from.poll_transmit(now, scratch) {
        let payload = scratch[..n].to_vec();
        to.on_segment(now, &r, &payload);
    }
}

/// Allocations on this thread inside `Session::drive` over `n` keep-alive requests,
/// after 100 to warm up (buffers reach their size).
fn drive_allocs(site: &Site, cfg: &HttpConfig, path: &str, n: usize) -> u64 {
    let cli = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
    let srv = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
    let tcp = TcpConfig::default();
    let mut now = Instant::from_secs(10);
    let mut scratch = vec![0u8; 65536];
    let tuple = |local, remote| FourTuple { local, remote };
    let mut client = Conn::connect(&tcp, tuple(cli, srv), SeqNum(1), now);
    let (syn, _) = client.poll_transmit(now, &mut scratch).unwrap();
    let mut server = Conn::accept(&tcp, tuple(srv, cli), &syn, SeqNum(9), now);
    for _ in 0..4 {
        shuttle(&mut client, &mut server, now, &mut scratch);
        shuttle(&mut server, &mut client, now, &mut scratch);
    }
    let date = *b"Mon, 23 Nov 2026 10:00:00 GMT";
    let mut session = Session::new(now);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: test/1.0\r\nReferer: http://r/\r\n\r\n"
    );
    let mut counted = 0;
    for i in 0..100 + n {
        client.send(request.as_bytes());
        shuttle(&mut client, &mut server, now, &mut scratch);
        let before = allocs();
        session.drive(now, &mut server, site, cfg, &date);
        if i >= 100 {
            counted += allocs() - before;
        }
        shuttle(&mut server, &mut client, now, &mut scratch);
        while client.recv(&mut scratch) > 0 {}
        shuttle(&mut client, &mut server, now, &mut scratch);
        now += Duration::from_micros(10);
    }
    counted
}

#[test]
fn the_access_log_adds_no_allocation_per_request() {
    let dir = std::env::temp_dir().join(format!("fastpath-alloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("page.html"), "<p>hi</p>\n".repeat(50)).unwrap();
    std::fs::write(dir.join("index.html"), "<p>home</p>\n".repeat(50)).unwrap();
    let site = Site::Live(Arc::new(LiveSite::new(
        Site::load(&dir, &LoadOptions::default()).unwrap(),
    )));
    let logger = AccessLogger::open(&dir.join("access.log"), LogFormat::Combined, 4096).unwrap();
    let logged = HttpConfig {
        access_log: Some(logger.handle().for_worker()),
        ..HttpConfig::default()
    };
    // The counter counts.
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocs() > before && v.len() == 10);
    let mut costs = Vec::new();
    for path in ["/page.html", "/"] {
        let off = drive_allocs(&site, &HttpConfig::default(), path, 1000);
        let on = drive_allocs(&site, &logged, path, 1000);
        assert_eq!(
            on, off,
            "{path}: allocations in 1000 requests: {off} without the log, {on} with it"
        );
        println!("{path}: allocations per 1000 requests: {off} (log off), {on} (log on)");
        costs.push(off);
    }
    // "/" (the directory's index.html) costs no more than naming the file.
    assert_eq!(costs[1], costs[0]);
    let stats = logger.finish();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(stats.written + stats.dropped, 2200);
}

//! The responder's per-request cost for files, in one session over the engine's own TCP
//! (no network): the plain hello, a loaded file (ETag, Last-Modified, Accept-Ranges), a
//! 304, a 206, a gzip representation, and a file with the access log on (the worker's
//! side: the record copied into its queue; the logger thread drains to a file).
//!
//!     cargo bench --bench http_files

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fastpath_engine::http::{
    AccessLogger, HttpConfig, LiveSite, LoadOptions, LogFormat, Session, Site, DATE_LEN,
};
use fastpath_engine::tcp::{Conn, FourTuple, SeqNum, TcpConfig};
use fastpath_engine::time::Instant;

struct Pair {
    client: Conn,
    server: Conn,
    session: Session,
    now: Instant,
    scratch: Vec<u8>,
}

fn shuttle(from: &mut Conn, to: &mut Conn, now: Instant, scratch: &mut [u8]) {
    while let Some((r, n)) = from.poll_transmit(now, scratch) {
        let payload = scratch[..n].to_vec();
        to.on_segment(now, &r, &payload);
    }
}

impl Pair {
    fn new() -> Pair {
        let cli = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
        let srv = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let tcp = TcpConfig::default();
        let now = Instant::from_secs(10);
        let mut scratch = vec![0u8; 65536];
        let tuple = |local, remote| FourTuple { local, remote };
        let mut client = Conn::connect(&tcp, tuple(cli, srv), SeqNum(1), now);
        let (syn, _) = client.poll_transmit(now, &mut scratch).unwrap();
        let mut server = Conn::accept(&tcp, tuple(srv, cli), &syn, SeqNum(9), now);
        for _ in 0..4 {
            shuttle(&mut client, &mut server, now, &mut scratch);
            shuttle(&mut server, &mut client, now, &mut scratch);
        }
        Pair {
            client,
            server,
            session: Session::new(now),
            now,
            scratch,
        }
    }
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("fastpath-bench-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<p>hello</p>\n".repeat(80)).unwrap();
    let opts = LoadOptions {
        compress: true,
        ..LoadOptions::default()
    };
    let files = Site::Live(Arc::new(LiveSite::new(Site::load(&dir, &opts).unwrap())));
    let date: [u8; DATE_LEN] = *b"Mon, 23 Nov 2026 10:00:00 GMT";
    let log_path = dir.join("access.log");
    let logger = AccessLogger::open(&log_path, LogFormat::Combined, 4096).unwrap();
    let plain = HttpConfig::default();
    let logged = HttpConfig {
        access_log: Some(logger.handle().for_worker()),
        ..HttpConfig::default()
    };
    let etag = {
        let Site::Live(l) = &files else {
            unreachable!()
        };
        let cur = l.current();
        let fastpath_engine::http::Lookup::Found(r) = cur.lookup("/index.html") else {
            unreachable!()
        };
        r.file.as_ref().unwrap().etag.to_string()
    };
    let inm = format!("GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n");
    let cases: Vec<(&str, Site, &HttpConfig, Vec<u8>)> = vec![
        (
            "hello",
            Site::hello(),
            &plain,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "file_200",
            files.clone(),
            &plain,
            b"GET /index.html HTTP/1.1\r\nHost: x\r\nUser-Agent: bench/1\r\n\r\n".to_vec(),
        ),
        ("file_304", files.clone(), &plain, inm.into_bytes()),
        (
            "file_206",
            files.clone(),
            &plain,
            b"GET /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n".to_vec(),
        ),
        (
            "file_gzip",
            files.clone(),
            &plain,
            b"GET /index.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n"
                .to_vec(),
        ),
        (
            "file_200_access_log",
            files.clone(),
            &logged,
            b"GET /index.html HTTP/1.1\r\nHost: x\r\nUser-Agent: bench/1\r\n\r\n".to_vec(),
        ),
    ];
    let mut g = c.benchmark_group("http_files");
    g.throughput(Throughput::Elements(1));
    for (name, site, cfg, request) in cases {
        let mut p = Pair::new();
        // One exchange first: the case answers what its name says, whole.
        p.client.send(&request);
        shuttle(&mut p.client, &mut p.server, p.now, &mut p.scratch);
        p.session.drive(p.now, &mut p.server, &site, cfg, &date);
        shuttle(&mut p.server, &mut p.client, p.now, &mut p.scratch);
        let mut got = Vec::new();
        loop {
            let n = p.client.recv(&mut p.scratch);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&p.scratch[..n]);
        }
        shuttle(&mut p.client, &mut p.server, p.now, &mut p.scratch);
        let text = String::from_utf8_lossy(&got);
        println!(
            "{name}: {} ({} bytes)",
            text.lines().next().unwrap_or(""),
            got.len()
        );
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    p.client.send(&request);
                    shuttle(&mut p.client, &mut p.server, p.now, &mut p.scratch);
                    let t = std::time::Instant::now();
                    p.session.drive(p.now, &mut p.server, &site, cfg, &date);
                    timed += t.elapsed();
                    shuttle(&mut p.server, &mut p.client, p.now, &mut p.scratch);
                    while p.client.recv(&mut p.scratch) > 0 {}
                    shuttle(&mut p.client, &mut p.server, p.now, &mut p.scratch);
                    p.now += Duration::from_micros(10);
                }
                timed
            })
        });
    }
    g.finish();
    let stats = logger.finish();
    println!("access log: {stats:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);

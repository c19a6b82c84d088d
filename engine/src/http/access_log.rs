//! The access log (nginx `access_log`): one line per answered request, in nginx's
//! `combined` format or as JSON, written by a logger thread of its own.
//!
//! A worker never blocks or allocates for it: a request's fields are copied into a
//! fixed-size `Record` on the stack and pushed into the worker's own bounded queue
//! (`crossbeam_queue::ArrayQueue`, allocated once); when the queue is full the line is
//! dropped and counted, the request is answered as ever. The logger thread drains every
//! queue, formats and writes through a buffer, and reopens the file on request (SIGUSR1
//! after logrotate renamed it): lines before the reopen go to the renamed file, lines
//! after to the new one, none is lost without being counted.
//!
//! A program embedding the engine opens the logger, hands its handle to the config, and
//! finishes it after the engine stopped (so every queued line is written):
//!
//! ```no_run
//! use fastpath_engine::http::{AccessLogger, LogFormat, QUEUE_RECORDS};
//! use fastpath_engine::runtime::{Engine, EngineConfig};
//! let logger = AccessLogger::open("access.log".as_ref(), LogFormat::Combined, QUEUE_RECORDS)?;
//! let mut config = EngineConfig::new("eth1", "192.0.2.10/24".parse().unwrap());
//! config.http.access_log = Some(logger.handle());
//! let running = Engine::start(config)?;
//! // ... logger.reopen() after a logrotate rename ...
//! let report = running.stop(std::time::Duration::from_secs(5));
//! let lines = logger.finish();
//! println!("{} lines, {} dropped", lines.written, lines.dropped);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Fields longer than their slot (target 512 bytes, referer and user agent 256) are cut
//! and end in `...`. The bytes logged are the response body's (0 for HEAD and 304), as
//! queued: a connection reset halfway still logs the whole length.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use super::date::DATE_LEN;
use super::response::Status;
use crate::tcp::Conn;

/// How lines are written.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status
    /// $body_bytes_sent "$http_referer" "$http_user_agent"`.
    #[default]
    Combined,
    /// One JSON object per line, the same fields by nginx's variable names.
    Json,
}

/// Records each worker's queue holds by default (about 1.1 KB each).
pub const QUEUE_RECORDS: usize = 4096;

/// A field of at most `N` bytes, inline.
#[derive(Copy, Clone)]
struct Text<const N: usize> {
    len: u16,
    cut: bool,
    bytes: [u8; N],
}

impl<const N: usize> Text<N> {
    const EMPTY: Self = Text {
        len: 0,
        cut: false,
        bytes: [0; N],
    };
    fn set(&mut self, b: &[u8]) {
        let n = b.len().min(N);
        self.bytes[..n].copy_from_slice(&b[..n]);
        self.len = n as u16;
        self.cut = b.len() > N;
    }
    fn get(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// One request as a worker hands it over: fixed size, no heap.
#[derive(Copy, Clone)]
pub struct Record {
    /// The client's address.
    pub peer: IpAddr,
    /// The response's `Date` (IMF-fixdate).
    pub date: [u8; DATE_LEN],
    /// The response's status code.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// HTTP/1.x minor version; `None` for a request that could not be parsed.
    pub version: Option<u8>,
    method: Text<16>,
    target: Text<512>,
    referer: Text<256>,
    agent: Text<256>,
}

impl Record {
    /// A request answered with `status` and `bytes` of body, its line not yet known.
    pub fn new(peer: IpAddr, date: &[u8; DATE_LEN], status: u16, bytes: u64) -> Record {
        Record {
            peer,
            date: *date,
            status,
            bytes,
            version: None,
            method: Text::EMPTY,
            target: Text::EMPTY,
            referer: Text::EMPTY,
            agent: Text::EMPTY,
        }
    }

    /// A parsed request and its answer: `bytes` of body sent.
    pub(super) fn parsed(
        req: &httparse::Request<'_, '_>,
        conn: &Conn,
        date: &[u8; DATE_LEN],
        status: Status,
        bytes: usize,
    ) -> Record {
        Record::answered(
            req,
            conn.tuple().remote().ip(),
            date,
            status.code(),
            bytes as u64,
        )
    }

    /// A request a handler answered with `status` and `bytes` of body.
    pub(super) fn answered(
        req: &httparse::Request<'_, '_>,
        peer: IpAddr,
        date: &[u8; DATE_LEN],
        status: u16,
        bytes: u64,
    ) -> Record {
        let mut rec = Record::new(peer, date, status, bytes);
        rec.request(
            req.method.unwrap_or("").as_bytes(),
            req.path.unwrap_or("").as_bytes(),
            req.version.unwrap_or(1),
        );
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("referer") {
                rec.referer(h.value);
            } else if h.name.eq_ignore_ascii_case("user-agent") {
                rec.user_agent(h.value);
            }
        }
        rec
    }

    /// A request head that could not be parsed: its request is logged as `-` (nginx).
    pub(super) fn unparsed(conn: &Conn, date: &[u8; DATE_LEN], status: Status) -> Record {
        let peer = conn.tuple().remote().ip();
        Record::new(peer, date, status.code(), status.body().len() as u64)
    }

    /// The request line's parts (each cut to its room).
    pub fn request(&mut self, method: &[u8], target: &[u8], version: u8) {
        self.method.set(method);
        self.target.set(target);
        self.version = Some(version);
    }

    /// The `Referer` header's value.
    pub fn referer(&mut self, v: &[u8]) {
        self.referer.set(v);
    }

    /// The `User-Agent` header's value.
    pub fn user_agent(&mut self, v: &[u8]) {
        self.agent.set(v);
    }
}

/// A worker's queue and what it dropped.
struct Queue {
    records: ArrayQueue<Record>,
    dropped: AtomicU64,
}

struct Shared {
    queues: Mutex<Vec<Arc<Queue>>>,
    capacity: usize,
    written: AtomicU64,
    /// Lines lost to write errors (disk full, file gone).
    failed: AtomicU64,
    reopen: AtomicBool,
    stop: AtomicBool,
}

/// What a worker logs through (in `HttpConfig`). `for_worker` gives each worker a queue
/// of its own; clones share one.
#[derive(Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
    queue: Arc<Queue>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

impl AccessLog {
    fn new_queue(shared: &Arc<Shared>) -> AccessLog {
        let queue = Arc::new(Queue {
            records: ArrayQueue::new(shared.capacity.max(1)),
            dropped: AtomicU64::new(0),
        });
        shared
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(queue.clone());
        AccessLog {
            shared: shared.clone(),
            queue,
        }
    }

    /// The same log through a queue of its own (one per worker: no contention).
    pub fn for_worker(&self) -> AccessLog {
        AccessLog::new_queue(&self.shared)
    }

    /// Hands a record to the logger; never blocks. A full queue drops it (counted).
    pub fn push(&self, r: Record) {
        if self.queue.records.push(r).is_err() {
            self.queue.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Lines written and lost so far.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogStats {
    /// Lines written to the file.
    pub written: u64,
    /// Dropped because a worker's queue was full (the logger fell behind).
    pub dropped: u64,
    /// Lost to write errors.
    pub failed: u64,
}

/// The logger thread and its file. `finish` (or drop) writes what is queued and stops it.
pub struct AccessLogger {
    shared: Arc<Shared>,
    first: AccessLog,
    thread: Option<JoinHandle<()>>,
}

impl AccessLogger {
    /// Opens (appends to, creating) `path` and starts the logger thread; each worker
    /// queue holds `capacity` records.
    pub fn open(path: &Path, format: LogFormat, capacity: usize) -> std::io::Result<AccessLogger> {
        let file = open_append(path)?;
        let shared = Arc::new(Shared {
            queues: Mutex::new(Vec::new()),
            capacity,
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let first = AccessLog::new_queue(&shared);
        let mut w = Writer {
            shared: shared.clone(),
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(64 * 1024, file),
            format,
            line: Vec::with_capacity(2048),
            broken: false,
        };
        let thread = std::thread::Builder::new()
            .name("fastpath-log".into())
            .spawn(move || w.run())?;
        Ok(AccessLogger {
            shared,
            first,
            thread: Some(thread),
        })
    }

    /// What to put in `HttpConfig::access_log` (workers take a queue each from it).
    pub fn handle(&self) -> AccessLog {
        self.first.clone()
    }

    /// Reopens the file by its path (after it was renamed): asked here, done by the
    /// logger thread between two lines.
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Release);
    }

    /// Lines written, dropped and lost so far, over every worker's queue.
    pub fn stats(&self) -> LogStats {
        let queues = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        LogStats {
            written: self.shared.written.load(Ordering::Acquire),
            dropped: queues
                .iter()
                .map(|q| q.dropped.load(Ordering::Relaxed))
                .sum(),
            failed: self.shared.failed.load(Ordering::Acquire),
        }
    }

    /// Writes every queued line, flushes, stops the thread. Call after the workers
    /// stopped, so nothing more arrives.
    pub fn finish(mut self) -> LogStats {
        self.stop_thread();
        self.stats()
    }

    fn stop_thread(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AccessLogger {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The logger thread's side.
struct Writer {
    shared: Arc<Shared>,
    path: PathBuf,
    out: BufWriter<File>,
    format: LogFormat,
    line: Vec<u8>,
    /// A write failed: said once, until a reopen.
    broken: bool,
}

impl Writer {
    fn run(&mut self) {
        let mut queues: Vec<Arc<Queue>> = Vec::new();
        // Idle waits grow from 1 ms to 10 ms: a quiet server costs ~100 wakeups a second,
        // and a 4096-record queue at 100k requests/s fills in 40 ms.
        let mut idle = Duration::from_millis(1);
        loop {
            if self.shared.reopen.swap(false, Ordering::AcqRel) {
                self.reopen();
            }
            let stopping = self.shared.stop.load(Ordering::Acquire);
            {
                let all = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
                if all.len() != queues.len() {
                    queues = all.clone();
                }
            }
            let mut n = 0u64;
            for q in &queues {
                // A bounded batch per queue, so a busy worker cannot starve the others
                // or a pending reopen.
                for _ in 0..1024 {
                    let Some(r) = q.records.pop() else { break };
                    self.write(&r);
                    n += 1;
                }
            }
            if n > 0 {
                idle = Duration::from_millis(1);
                continue;
            }
            self.flush();
            if stopping {
                return;
            }
            std::thread::sleep(idle);
            idle = (idle * 2).min(Duration::from_millis(10));
        }
    }

    fn write(&mut self, r: &Record) {
        self.line.clear();
        match self.format {
            LogFormat::Combined => combined(r, &mut self.line),
            LogFormat::Json => json(r, &mut self.line),
        }
        match self.out.write_all(&self.line) {
            Ok(()) => {
                self.shared.written.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => self.failed(e),
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.failed(e);
        }
    }

    fn failed(&mut self, e: std::io::Error) {
        self.shared.failed.fetch_add(1, Ordering::AcqRel);
        if !self.broken {
            self.broken = true;
            tracing::error!(
                "access log {}: {e}; lines are counted as failed until it works again (SIGUSR1 reopens it)",
                self.path.display()
            );
        }
    }

    fn reopen(&mut self) {
        self.flush();
        match open_append(&self.path) {
            Ok(f) => {
                self.out = BufWriter::with_capacity(64 * 1024, f);
                self.broken = false;
                tracing::info!("access log {} reopened", self.path.display());
            }
            Err(e) => tracing::error!(
                "access log {}: cannot reopen ({e}); still writing to the old file",
                self.path.display()
            ),
        }
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `[06/Nov/1994:08:49:37 +0000]` from `Sun, 06 Nov 1994 08:49:37 GMT`.
fn time_local(d: &[u8; DATE_LEN], out: &mut Vec<u8>) {
    out.extend_from_slice(&d[5..7]);
    out.push(b'/');
    out.extend_from_slice(&d[8..11]);
    out.push(b'/');
    out.extend_from_slice(&d[12..16]);
    out.push(b':');
    out.extend_from_slice(&d[17..25]);
    out.extend_from_slice(b" +0000");
}

/// `1994-11-06T08:49:37+00:00` (nginx `$time_iso8601`).
fn time_iso(d: &[u8; DATE_LEN], out: &mut Vec<u8>) {
    let month = MONTHS.iter().position(|m| &d[8..11] == *m).unwrap_or(0) + 1;
    out.extend_from_slice(&d[12..16]);
    let _ = write!(out, "-{month:02}-");
    out.extend_from_slice(&d[5..7]);
    out.push(b'T');
    out.extend_from_slice(&d[17..25]);
    out.extend_from_slice(b"+00:00");
}

/// nginx's default escaping: `"`, `\` and bytes outside printable ASCII as `\xHH`.
fn escaped(b: &[u8], cut: bool, out: &mut Vec<u8>) {
    for &c in b {
        if c == b'"' || c == b'\\' || !(0x20..0x7f).contains(&c) {
            let _ = write!(out, "\\x{c:02X}");
        } else {
            out.push(c);
        }
    }
    if cut {
        out.extend_from_slice(b"...");
    }
}

fn request_line(r: &Record, out: &mut Vec<u8>, esc: fn(&[u8], bool, &mut Vec<u8>)) {
    match r.version {
        Some(v) => {
            esc(r.method.get(), r.method.cut, out);
            out.push(b' ');
            esc(r.target.get(), r.target.cut, out);
            let _ = write!(out, " HTTP/1.{v}");
        }
        None => out.push(b'-'),
    }
}

fn combined(r: &Record, out: &mut Vec<u8>) {
    let _ = write!(out, "{} - - [", r.peer);
    time_local(&r.date, out);
    out.extend_from_slice(b"] \"");
    request_line(r, out, escaped);
    let _ = write!(out, "\" {} {} \"", r.status, r.bytes);
    for (i, t) in [&r.referer, &r.agent].into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b" \"");
        }
        if t.len == 0 {
            out.push(b'-');
        } else {
            escaped(t.get(), t.cut, out);
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

/// JSON string contents: UTF-8 kept, invalid bytes as U+FFFD, `"`, `\` and control
/// characters escaped.
fn json_escaped(b: &[u8], cut: bool, out: &mut Vec<u8>) {
    for c in String::from_utf8_lossy(b).chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    if cut {
        out.extend_from_slice(b"...");
    }
}

fn json(r: &Record, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"time\":\"");
    time_iso(&r.date, out);
    let _ = write!(out, "\",\"remote_addr\":\"{}\",\"request\":\"", r.peer);
    request_line(r, out, json_escaped);
    out.push(b'"');
    let field = |out: &mut Vec<u8>, name: &str, b: &[u8], cut: bool| {
        let _ = write!(out, ",\"{name}\":\"");
        json_escaped(b, cut, out);
        out.push(b'"');
    };
    field(out, "method", r.method.get(), r.method.cut);
    field(out, "uri", r.target.get(), r.target.cut);
    let protocol = match r.version {
        Some(0) => "HTTP/1.0",
        Some(_) => "HTTP/1.1",
        None => "",
    };
    let _ = write!(
        out,
        ",\"protocol\":\"{protocol}\",\"status\":{},\"body_bytes_sent\":{}",
        r.status, r.bytes
    );
    field(out, "http_referer", r.referer.get(), r.referer.cut);
    field(out, "http_user_agent", r.agent.get(), r.agent.cut);
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let mut r = Record::new(
            std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            200,
            1234,
        );
        r.request(b"GET", b"/a b\"c", 1);
        r.user_agent("curl/8 \u{e9}".as_bytes());
        r
    }

    #[test]
    fn combined_as_nginx_writes_it() {
        let mut out = Vec::new();
        combined(&record(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a b\\x22c HTTP/1.1\" 200 1234 \"-\" \"curl/8 \\xC3\\xA9\"\n"
        );
        let mut r = Record::new(
            std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
            b"Mon, 23 Nov 2026 10:00:00 GMT",
            400,
            16,
        );
        r.referer(&[b'x'; 300]);
        let mut out = Vec::new();
        combined(&r, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.starts_with("10.0.0.1 - - [23/Nov/2026:10:00:00 +0000] \"-\" 400 16 \""),
            "{line}"
        );
        assert!(
            line.contains(&format!("\"{}...\" \"-\"", "x".repeat(256))),
            "{line}"
        );
    }

    #[test]
    fn a_record_is_about_a_kilobyte() {
        // 4096 of them per worker: about 4.5 MB (docs/static-files.md says so).
        let size = std::mem::size_of::<Record>();
        assert!((1000..1200).contains(&size), "{size}");
    }

    #[test]
    fn json_lines_are_json() {
        let mut out = Vec::new();
        json(&record(), &mut out);
        let line = String::from_utf8(out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "1994-11-06T08:49:37+00:00");
        assert_eq!(v["remote_addr"], "10.0.0.1");
        assert_eq!(v["request"], "GET /a b\"c HTTP/1.1");
        assert_eq!(v["uri"], "/a b\"c");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["body_bytes_sent"], 1234);
        assert_eq!(v["http_referer"], "");
        assert_eq!(v["http_user_agent"], "curl/8 \u{e9}");
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_reopen_follows_a_rename() {
        let dir = std::env::temp_dir().join(format!("fastpath-alog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let logger = AccessLogger::open(&path, LogFormat::Combined, 4).unwrap();
        let worker = logger.handle().for_worker();
        // The logger may drain meanwhile, so only the total is exact.
        for _ in 0..1000 {
            worker.push(record());
        }
        std::fs::rename(&path, dir.join("access.log.1")).unwrap();
        logger.reopen();
        // Wait (on the fact) for the new file, then log more.
        for _ in 0..10_000 {
            if path.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(path.exists(), "reopened");
        for _ in 0..3 {
            worker.push(record());
        }
        let stats = logger.finish();
        let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count() as u64;
        let (old, new) = (lines(&dir.join("access.log.1")), lines(&path));
        assert_eq!(old + new, stats.written);
        assert_eq!(stats.written + stats.dropped, 1003, "{stats:?}");
        assert!(stats.dropped > 0, "a 4-record queue overflowed: {stats:?}");
        assert!(new >= 1, "lines after the reopen go to the new file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

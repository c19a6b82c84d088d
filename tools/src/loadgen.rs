//! An HTTP/1.1 load generator that runs inside a worker (`fastpath load`, and
//! `fastpath serve --self-load` against the engine's own address, over the loopback fast
//! path). Closed loop by default: each connection keeps `pipeline` requests outstanding.
//! With a rate it is open loop: requests are scheduled at fixed intervals and a request's
//! latency counts from its scheduled time, so a slow server cannot hide its queueing
//! (no coordinated omission).
//!
//! Responses are delimited by `Content-Length`, by chunked encoding, or by the server's
//! close; a status outside 2xx is counted, not an error of the transport.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use fastpath_engine::app::{App, Closed, ConnId, Event, Net};
use fastpath_engine::time::Instant;

/// What one load generator instance does.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server's address and port.
    pub target: SocketAddr,
    /// The `Host` header's value.
    pub host: String,
    /// The request target, e.g. `/index.html`.
    pub path: String,
    /// Connections this instance keeps open.
    pub connections: usize,
    /// How long to send requests for.
    pub duration: Duration,
    /// Requests outstanding per connection (closed loop).
    pub pipeline: usize,
    /// Requests per second for this instance (open loop); `None`: as fast as answered.
    pub rate: Option<f64>,
    /// One request per connection, `Connection: close`.
    pub close: bool,
    /// A request unanswered this long counts as a timeout and its connection is reset.
    pub timeout: Duration,
}

/// Counters the progress line reads while the load runs (shared by all instances).
#[derive(Debug, Default)]
pub struct Progress {
    /// Responses received.
    pub requests: AtomicU64,
    /// Errors of any kind.
    pub errors: AtomicU64,
    /// Response bytes received.
    pub bytes: AtomicU64,
    /// Connections open now.
    pub connections: AtomicU64,
}

/// What one instance measured; `merge` sums instances.
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// Instances merged into this report.
    pub instances: u32,
    /// Responses received.
    pub requests: u64,
    /// Of `requests`, answered with a status outside 2xx.
    pub non_2xx: u64,
    /// Response bytes (heads and bodies).
    pub bytes: u64,
    /// Connections established.
    pub connects: u64,
    /// Errors by kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// From the first connect to the end of the run.
    pub elapsed: Duration,
}

impl Default for LoadReport {
    fn default() -> Self {
        LoadReport {
            instances: 0,
            requests: 0,
            non_2xx: 0,
            bytes: 0,
            connects: 0,
            errors: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid bounds"),
            elapsed: Duration::ZERO,
        }
    }
}

/// As data: the counts, latency percentiles in milliseconds (none when no request
/// completed), and the rates `render` prints.
impl serde::Serialize for LoadReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(serde::Serialize)]
        struct LatencyMs {
            p50: f64,
            p90: f64,
            p99: f64,
            p999: f64,
            max: f64,
        }
        let latency = (!self.latency.is_empty()).then(|| LatencyMs {
            p50: self.latency_ms(50.0),
            p90: self.latency_ms(90.0),
            p99: self.latency_ms(99.0),
            p999: self.latency_ms(99.9),
            max: self.latency.max() as f64 / 1e6,
        });
        let mut r = s.serialize_struct("LoadReport", 10)?;
        r.serialize_field("instances", &self.instances)?;
        r.serialize_field("requests", &self.requests)?;
        r.serialize_field("seconds", &self.elapsed.as_secs_f64())?;
        r.serialize_field("requests_per_sec", &self.requests_per_sec())?;
        r.serialize_field("bytes", &self.bytes)?;
        r.serialize_field("non_2xx", &self.non_2xx)?;
        r.serialize_field("connects", &self.connects)?;
        r.serialize_field("errors", &self.errors)?;
        r.serialize_field("latency_ms", &latency)?;
        r.end()
    }
}

impl LoadReport {
    /// Adds another instance's measurements to this one.
    pub fn merge(&mut self, o: &LoadReport) {
        self.instances += o.instances;
        self.requests += o.requests;
        self.non_2xx += o.non_2xx;
        self.bytes += o.bytes;
        self.connects += o.connects;
        for (k, v) in &o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        let _ = self.latency.add(&o.latency);
        self.elapsed = self.elapsed.max(o.elapsed);
    }

    /// Errors of every kind together.
    #[cfg(test)]
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Responses per second over the run.
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at a percentile, in milliseconds.
    pub fn latency_ms(&self, percentile: f64) -> f64 {
        self.latency.value_at_percentile(percentile) as f64 / 1e6
    }

    /// The report as printed at the end of a run.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "{} requests in {:.2} s: {:.0} requests/s, {:.2} MB/s ({:.3} Gbit/s), {} connections opened\n",
            self.requests,
            secs,
            self.requests_per_sec(),
            self.bytes as f64 / secs / 1e6,
            self.bytes as f64 * 8.0 / secs / 1e9,
            self.connects,
        );
        if self.latency.is_empty() {
            s.push_str("latency: no request completed\n");
        } else {
            s.push_str(&format!(
                "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
                self.latency_ms(50.0),
                self.latency_ms(90.0),
                self.latency_ms(99.0),
                self.latency_ms(99.9),
                self.latency.max() as f64 / 1e6
            ));
        }
        s.push_str(&format!("responses outside 2xx: {}\n", self.non_2xx));
        if self.errors.is_empty() {
            s.push_str("errors: none\n");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!("errors: {}\n", list.join(", ")));
        }
        s
    }
}

/// Parsing one response at a time from a connection's bytes.
#[derive(Debug, Default)]
struct Parser {
    buf: Vec<u8>,
    /// Body bytes still to skip for the current response (after its head).
    body: Option<Body>,
    status: u16,
    /// The current response ends the connection (`Connection: close`, or HTTP/1.0
    /// without keep-alive): no more requests go on it.
    closing: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    /// Chunked: in a size line (`None`) or `Some(n)` data bytes (+ CRLF) left.
    Chunked(Option<u64>),
    /// Until the server closes.
    UntilClose,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole response with this status.
    Response(u16),
    NeedMore,
    Bad,
}

impl Parser {
    fn next(&mut self) -> Parsed {
        loop {
            match self.body {
                None => {
                    let mut headers = [httparse::EMPTY_HEADER; 32];
                    let mut resp = httparse::Response::new(&mut headers);
                    let n = match resp.parse(&self.buf) {
                        Ok(httparse::Status::Complete(n)) => n,
                        Ok(httparse::Status::Partial) => {
                            return if self.buf.len() > 64 * 1024 {
                                Parsed::Bad
                            } else {
                                Parsed::NeedMore
                            };
                        }
                        Err(_) => return Parsed::Bad,
                    };
                    self.status = resp.code.unwrap_or(0);
                    let mut keep_alive = resp.version == Some(1);
                    let mut body = Body::UntilClose;
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            match std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse().ok())
                            {
                                Some(len) => body = Body::Length(len),
                                None => return Parsed::Bad,
                            }
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                            && h.value.eq_ignore_ascii_case(b"chunked")
                        {
                            body = Body::Chunked(None);
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            for token in h.value.split(|&b| b == b',') {
                                let t = token.trim_ascii();
                                if t.eq_ignore_ascii_case(b"close") {
                                    keep_alive = false;
                                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                                    keep_alive = true;
                                }
                            }
                        }
                    }
                    self.closing |= !keep_alive;
                    if self.status == 204 || self.status == 304 || (100..200).contains(&self.status)
                    {
                        body = Body::Length(0);
                    }
                    self.buf.drain(..n);
                    self.body = Some(body);
                }
                Some(Body::Length(left)) => {
                    let take = (left as usize).min(self.buf.len());
                    self.buf.drain(..take);
                    let left = left - take as u64;
                    if left > 0 {
                        self.body = Some(Body::Length(left));
                        return Parsed::NeedMore;
                    }
                    self.body = None;
                    return Parsed::Response(self.status);
                }
                Some(Body::Chunked(None)) => {
                    let Some(e) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                        return Parsed::NeedMore;
                    };
                    let line = &self.buf[..e];
                    let size =
                        std::str::from_utf8(line.split(|&b| b == b';').next().unwrap_or(b""))
                            .ok()
                            .and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
                    let Some(size) = size else {
                        return Parsed::Bad;
                    };
                    self.buf.drain(..e + 2);
                    if size == 0 {
                        // Trailer section: skip to the empty line.
                        let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                            self.body = Some(Body::Chunked(Some(0)));
                            return Parsed::NeedMore;
                        };
                        self.buf.drain(..end + 2);
                        self.body = None;
                        return Parsed::Response(self.status);
                    }
                    self.body = Some(Body::Chunked(Some(size + 2)));
                }
                Some(Body::Chunked(Some(0))) => {
                    let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                        return Parsed::NeedMore;
                    };
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        self.body = None;
                        return Parsed::Response(self.status);
                    }
                }
                Some(Body::Chunked(Some(left))) => {
                    let take = (left as usize).min(self.buf.len());
                    self.buf.drain(..take);
                    let left = left - take as u64;
                    if left > 0 {
                        self.body = Some(Body::Chunked(Some(left)));
                        return Parsed::NeedMore;
                    }
                    self.body = Some(Body::Chunked(None));
                }
                Some(Body::UntilClose) => {
                    self.buf.clear();
                    return Parsed::NeedMore;
                }
            }
        }
    }

    /// The server closed: a body delimited by the close is complete.
    fn on_close(&mut self) -> Option<u16> {
        if self.body == Some(Body::UntilClose) {
            self.body = None;
            return Some(self.status);
        }
        None
    }
}

struct LoadConn {
    /// When each outstanding request was sent (or scheduled, open loop).
    sent: VecDeque<Instant>,
    parser: Parser,
    /// No more requests on this connection (closing, or `--close` sent its one).
    done: bool,
    opened: Instant,
}

/// One worker's share of a load run.
pub struct LoadApp {
    cfg: LoadConfig,
    request: Vec<u8>,
    started: Option<Instant>,
    end: Option<Instant>,
    conns: BTreeMap<ConnId, LoadConn>,
    /// Connections to open (again) at these times.
    reconnect: VecDeque<Instant>,
    /// Open loop: scheduled requests not yet sent, and the next schedule point.
    queue: VecDeque<Instant>,
    next_at: Option<Instant>,
    report: LoadReport,
    progress: Arc<Progress>,
    out: Arc<Mutex<LoadReport>>,
    finished: bool,
    readbuf: Vec<u8>,
}

impl LoadApp {
    /// `out` receives this instance's report when the run ends (merged into it).
    pub fn new(cfg: LoadConfig, progress: Arc<Progress>, out: Arc<Mutex<LoadReport>>) -> LoadApp {
        let mut request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n", cfg.path, cfg.host);
        if cfg.close {
            request.push_str("Connection: close\r\n");
        }
        request.push_str("\r\n");
        LoadApp {
            request: request.into_bytes(),
            started: None,
            end: None,
            conns: BTreeMap::new(),
            reconnect: VecDeque::new(),
            queue: VecDeque::new(),
            next_at: None,
            report: LoadReport::default(),
            progress,
            out,
            finished: false,
            readbuf: vec![0; 64 * 1024],
            cfg,
        }
    }

    fn error(&mut self, kind: &'static str) {
        *self.report.errors.entry(kind).or_default() += 1;
        self.progress.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn running(&self, now: Instant) -> bool {
        self.end.is_some_and(|e| now < e)
    }

    fn open(&mut self, now: Instant, net: &mut Net<'_>) {
        match net.connect(self.cfg.target) {
            Ok(id) => {
                self.report.connects += 1;
                self.progress.connections.fetch_add(1, Ordering::Relaxed);
                self.conns.insert(
                    id,
                    LoadConn {
                        sent: VecDeque::new(),
                        parser: Parser::default(),
                        done: false,
                        opened: now,
                    },
                );
            }
            Err(e) => {
                self.error(match e {
                    fastpath_engine::app::ConnectError::NoPorts => "no local port free",
                    fastpath_engine::app::ConnectError::NoRoute(_) => "no route (give --gateway)",
                    _ => "connect failed",
                });
                self.reconnect.push_back(now + Duration::from_millis(10));
            }
        }
    }

    /// Sends what this connection may send now.
    fn fill(&mut self, now: Instant, net: &mut Net<'_>, id: ConnId) {
        if !self.running(now) {
            return;
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.done || net.state(id) != Some(fastpath_engine::tcp::State::Established) {
            return;
        }
        let depth = if self.cfg.close {
            1
        } else {
            self.cfg.pipeline.max(1)
        };
        while c.sent.len() < depth {
            let at = if self.cfg.rate.is_some() {
                match self.queue.pop_front() {
                    Some(t) => t,
                    None => break,
                }
            } else {
                now
            };
            if net.send(id, &self.request) < self.request.len() {
                // The send buffer is full of requests already: the server is behind.
                if self.cfg.rate.is_some() {
                    self.queue.push_front(at);
                }
                break;
            }
            c.sent.push_back(at);
            if self.cfg.close {
                c.done = true;
                break;
            }
        }
    }

    fn read(&mut self, now: Instant, net: &mut Net<'_>, id: ConnId) {
        loop {
            let n = net.recv(id, &mut self.readbuf);
            if n == 0 {
                break;
            }
            self.report.bytes += n as u64;
            self.progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            c.parser.buf.extend_from_slice(&self.readbuf[..n]);
            loop {
                match c.parser.next() {
                    Parsed::Response(status) => {
                        let Some(at) = c.sent.pop_front() else {
                            *self
                                .report
                                .errors
                                .entry("response nobody asked for")
                                .or_default() += 1;
                            self.progress.errors.fetch_add(1, Ordering::Relaxed);
                            c.done = true;
                            net.abort(id);
                            return;
                        };
                        self.report.requests += 1;
                        if !(200..300).contains(&status) {
                            self.report.non_2xx += 1;
                        }
                        if c.parser.closing {
                            // The server closes after this one; requests pipelined behind
                            // it are lost with the connection (counted when it closes).
                            c.done = true;
                        }
                        let ns = now.saturating_since(at).as_nanos().max(1) as u64;
                        let _ = self.report.latency.record(ns);
                        self.progress.requests.fetch_add(1, Ordering::Relaxed);
                    }
                    Parsed::NeedMore => break,
                    Parsed::Bad => {
                        *self.report.errors.entry("malformed response").or_default() += 1;
                        self.progress.errors.fetch_add(1, Ordering::Relaxed);
                        c.done = true;
                        net.abort(id);
                        return;
                    }
                }
            }
        }
        self.fill(now, net, id);
    }

    fn finish(&mut self, now: Instant, net: &mut Net<'_>) {
        if self.finished {
            return;
        }
        // Requests still outstanding at the end are neither answered nor errors: the run
        // was cut there (as wrk does). A connection not established after a second is
        // reported.
        let mut pending = 0;
        for (&id, c) in self.conns.iter_mut() {
            c.done = true;
            if now.saturating_since(c.opened) > Duration::from_secs(1)
                && matches!(
                    net.state(id),
                    None | Some(fastpath_engine::tcp::State::SynSent)
                        | Some(fastpath_engine::tcp::State::Closed)
                )
            {
                pending += 1;
            }
            net.close(id);
        }
        if pending > 0 {
            *self
                .report
                .errors
                .entry("not connected after 1 s at the end (no answer to SYN or ARP)")
                .or_default() += pending;
        }
        if let Some(s) = self.started {
            self.report.elapsed = now.saturating_since(s).min(self.cfg.duration);
        }
        self.report.instances = 1;
        if let Ok(mut out) = self.out.lock() {
            out.merge(&self.report);
        }
        self.finished = true;
    }
}

impl App for LoadApp {
    fn poll(&mut self, now: Instant, net: &mut Net<'_>) {
        if self.finished {
            return;
        }
        let started = *self.started.get_or_insert(now);
        let end = *self.end.get_or_insert(started + self.cfg.duration);
        if now >= end {
            self.finish(now, net);
            return;
        }
        if self.report.connects == 0 && self.conns.is_empty() && self.reconnect.is_empty() {
            for _ in 0..self.cfg.connections {
                self.open(now, net);
            }
            if let Some(r) = self.cfg.rate {
                self.next_at = Some(now);
                let _ = r;
            }
        }
        while self.reconnect.front().is_some_and(|&t| t <= now) {
            self.reconnect.pop_front();
            self.open(now, net);
        }
        if let (Some(rate), Some(mut at)) = (self.cfg.rate, self.next_at) {
            let step = Duration::from_secs_f64(1.0 / rate.max(1e-3));
            while at <= now {
                self.queue.push_back(at);
                at += step;
            }
            self.next_at = Some(at);
            if !self.queue.is_empty() {
                let ids: Vec<ConnId> = self.conns.keys().copied().collect();
                for id in ids {
                    if self.queue.is_empty() {
                        break;
                    }
                    self.fill(now, net, id);
                }
            }
        }
        // Requests unanswered too long: count them and drop their connection.
        let timeout = self.cfg.timeout;
        let stuck: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.sent
                    .front()
                    .is_some_and(|&t| now.saturating_since(t) > timeout)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in stuck {
            if let Some(c) = self.conns.get_mut(&id) {
                let n = c.sent.len() as u64;
                c.sent.clear();
                c.done = true;
                *self.report.errors.entry("request timed out").or_default() += n;
                self.progress.errors.fetch_add(n, Ordering::Relaxed);
            }
            net.abort(id);
        }
    }

    fn on_event(&mut self, now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        match event {
            Event::Connected | Event::Writable => self.fill(now, net, id),
            Event::Readable => self.read(now, net, id),
            // The load generator listens on nothing.
            Event::Accepted { .. } => {}
            Event::PeerClosed => {
                self.read(now, net, id);
                if let Some(c) = self.conns.get_mut(&id) {
                    if let Some(status) = c.parser.on_close() {
                        if let Some(at) = c.sent.pop_front() {
                            self.report.requests += 1;
                            if !(200..300).contains(&status) {
                                self.report.non_2xx += 1;
                            }
                            let _ = self
                                .report
                                .latency
                                .record(now.saturating_since(at).as_nanos().max(1) as u64);
                            self.progress.requests.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    c.done = true;
                }
                net.close(id);
            }
            Event::Closed(how) => {
                let Some(c) = self.conns.remove(&id) else {
                    return;
                };
                self.progress.connections.fetch_sub(1, Ordering::Relaxed);
                let unanswered = c.sent.len() as u64;
                match how {
                    Closed::Normal if unanswered == 0 => {}
                    Closed::Normal => {
                        *self
                            .report
                            .errors
                            .entry("closed before the response")
                            .or_default() += unanswered;
                        self.progress
                            .errors
                            .fetch_add(unanswered, Ordering::Relaxed);
                    }
                    other => {
                        if self.finished {
                            return;
                        }
                        self.error(other.as_str());
                        if unanswered > 1 {
                            *self.report.errors.entry(other.as_str()).or_default() +=
                                unanswered - 1;
                        }
                    }
                }
                if self.running(now) {
                    let delay = if matches!(how, Closed::Normal) {
                        Duration::ZERO
                    } else {
                        // A refused or failed connect is retried, but not in a tight loop.
                        Duration::from_millis(10)
                    };
                    self.reconnect.push_back(now + delay);
                }
            }
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let mut t = self.end;
        for c in [self.reconnect.front().copied(), self.next_at]
            .into_iter()
            .flatten()
        {
            t = Some(t.map_or(c, |x: Instant| x.min(c)));
        }
        t
    }
}

#[cfg(test)]
mod self_load_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(p: &mut Parser, bytes: &[u8]) -> Vec<Parsed> {
        p.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match p.next() {
                Parsed::NeedMore => break,
                x => {
                    let bad = x == Parsed::Bad;
                    out.push(x);
                    if bad {
                        break;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn content_length_chunked_and_pipelined_responses() {
        let mut p = Parser::default();
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            parse_all(&mut p, two),
            vec![Parsed::Response(200), Parsed::Response(404)]
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n";
        // Byte by byte: no response before its last byte, exactly one after.
        let mut got = Vec::new();
        for b in chunked.iter() {
            got.extend(parse_all(&mut p, &[*b]));
        }
        assert_eq!(got, vec![Parsed::Response(200)]);
        assert!(p.buf.is_empty());
        assert_eq!(
            parse_all(&mut p, b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            vec![Parsed::Bad]
        );
    }

    #[test]
    fn a_body_delimited_by_close() {
        let mut p = Parser::default();
        assert!(parse_all(&mut p, b"HTTP/1.0 200 OK\r\n\r\nsome body").is_empty());
        assert_eq!(p.on_close(), Some(200));
    }
}

//! The HTTP/1.1 responder, sans-IO: a `Session` per connection reads requests from a
//! `tcp::Conn`'s receive buffer and writes responses into its send buffer, under TCP flow
//! control, with bounded memory.
//!
//! - Keep-alive by default for HTTP/1.1; HTTP/1.0 closes unless it asks for keep-alive;
//!   `Connection: close` honoured; pipelined requests answered in order.
//! - GET and HEAD serve the `Site`; other methods get 405 after their body is read and
//!   discarded (by `Content-Length` or chunked coding). A program's `RequestHandler`
//!   (`Site::Requests`) gets every request whole instead, body included (`exchange.rs`).
//! - Errors, each followed by a close: 400 malformed (and request smuggling: both
//!   `Content-Length` and `Transfer-Encoding`, conflicting lengths), 408 header timeout,
//!   413 body over the limit, 414 target over the limit, 431 header block over the limit,
//!   501 unknown transfer coding, 505 unsupported version.
//! - Responses carry `Server`, `Date` (rendered once a second by the caller),
//!   `Content-Type` and `Content-Length`. Bodies are shared (`Arc`), never copied per
//!   connection; a body larger than the send buffer streams out as the peer acknowledges.
//! - Files as nginx serves them (`answer.rs`): `ETag` and `Last-Modified` with
//!   conditional requests (304, 412), single ranges (206, 416), precompressed
//!   representations chosen by `Accept-Encoding`, an optional `Cache-Control`.
//!
//! Files: `site.rs` what is served (and `LiveSite` for reloads), `load.rs` loading a
//! directory, `files.rs` per-file facts computed at load, `answer.rs` the answer and its
//! head, `conditional.rs`, `range.rs` and `negotiate.rs` the RFC 9110 rules it applies,
//! `request.rs` what a request head asks for, `body.rs` chunked request bodies,
//! `response.rs` statuses and queued responses, `date.rs` the `Date` header,
//! `access_log.rs` the access log's records and its logger thread, `handler.rs` the
//! request handlers' types (`Request`, `Response`, `Routes`), `exchange.rs` reading a
//! request for a handler and writing its response.

mod access_log;
mod answer;
mod body;
mod conditional;
mod date;
mod exchange;
mod files;
mod handler;
mod load;
mod negotiate;
mod range;
mod request;
mod response;
mod site;

pub use access_log::{AccessLog, AccessLogger, LogFormat, LogStats, Record, QUEUE_RECORDS};
pub use date::{DateCache, DATE_LEN};
pub use files::{content_type, Coding, Encoded, FileInfo};
pub use handler::{BodyStream, Request, RequestHandler, Response, ResponseBody, Routes};
pub use load::LoadOptions;
pub use response::CACHE_CONTROL_MAX;
pub use site::{Handler, LiveSite, Lookup, Resource, Site, SiteError};

use std::collections::VecDeque;
use std::time::Duration;

use self::answer::Reply;
use self::response::{Body, Response as Queued, Status, Writer};
use crate::tcp::Conn;
use crate::time::Instant;

/// Limits and timeouts; the defaults follow what nginx ships.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Request line plus headers (nginx large_client_header_buffers: 8 KB).
    pub max_header_bytes: usize,
    /// Request target length (414 beyond).
    pub max_target: usize,
    /// Request body (nginx client_max_body_size: 1 MB).
    pub max_body: u64,
    /// Time to receive a whole request head, from its first byte or from the connection's
    /// start (nginx client_header_timeout: 60 s).
    pub header_timeout: Duration,
    /// Idle time between keep-alive requests, and between body bytes (nginx
    /// keepalive_timeout: 75 s).
    pub keepalive_timeout: Duration,
    /// After our close, how long unread input is drained before the connection is
    /// aborted (nginx lingering_timeout/lingering_time).
    pub linger_timeout: Duration,
    /// Time a response may wait for the peer to take any of it (its window shut, nothing
    /// read) before the connection is reset (nginx send_timeout: 60 s, with
    /// reset_timedout_connection). TCP alone would probe a live peer's closed window for
    /// ever, holding the response and the connection.
    pub send_timeout: Duration,
    /// Responses queued per connection before reading stops (pipelining depth).
    pub max_pipeline: usize,
    /// `Server` header value.
    pub server: &'static str,
    /// `Cache-Control` on 200, 206 and 304 answers (none by default, as nginx); at most
    /// `CACHE_CONTROL_MAX` bytes, a longer value is not sent.
    pub cache_control: Option<String>,
    /// Where a line per answered request goes (none by default). Each worker takes a
    /// queue of its own from it (`AccessLog::for_worker`).
    pub access_log: Option<AccessLog>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_header_bytes: 8192,
            max_target: 8000,
            max_body: 1 << 20,
            header_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            linger_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(60),
            max_pipeline: 64,
            server: "fastpath",
            cache_control: None,
            access_log: None,
        }
    }
}

crate::stats::counter_set! {
    /// Counters a worker sums over its sessions.
    pub struct HttpStats {
        /// Requests parsed.
        requests,
        /// Responses with a 2xx status.
        responses_2xx,
        /// Responses with a 3xx status (304 Not Modified, 301 to a directory).
        responses_3xx,
        /// Responses with a 4xx status.
        responses_4xx,
        /// Responses with a 5xx status.
        responses_5xx,
        /// Connections closed because a request head did not arrive in time.
        header_timeouts,
        /// Keep-alive connections closed for idling.
        idle_timeouts,
        /// Connections reset because a response made no progress for `send_timeout`.
        send_timeouts,
        /// Request handlers that panicked (their clients got a 500).
        handler_panics,
    }
}

const MAX_HEADERS: usize = 64;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Discarding chunk data.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines after the last chunk, until an empty line.
    Trailer,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Read {
    /// Waiting for (more of) a request head.
    Head,
    /// Discarding a body of this many more bytes.
    Length(u64),
    /// Discarding a chunked body; bytes of body seen so far.
    Chunked(Chunk, u64),
    /// After an error or our close: input is drained and ignored.
    Drain,
}

/// What the caller should do with the connection after `drive` or `on_timeout`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the connection.
    Continue,
    /// Close abruptly (RST): the peer did not finish in time after our close.
    Abort,
}

/// One connection's HTTP state.
pub struct Session {
    inbuf: Vec<u8>,
    read: Read,
    out: VecDeque<Queued>,
    /// The heads of the responses in `out`, back to back (emptied when `out` is).
    heads: Vec<u8>,
    /// A response with `close` is queued: read nothing more.
    closing: bool,
    /// We released the connection (FIN queued).
    closed: bool,
    /// When the current request head began arriving, or the connection opened.
    head_since: Instant,
    /// Last progress (bytes in, or a response finished).
    active_at: Instant,
    /// When the connection last took response bytes.
    sent_at: Instant,
    /// When we released the connection (cleared once the linger deadline passed).
    closed_at: Option<Instant>,
    /// The peer kept sending after our close.
    lingering_input: bool,
    /// The answer to a request whose body is still being read: queued once it is.
    deferred: Option<Parsed>,
    /// Whether any request has been seen (the first waits `header_timeout` from the start).
    served: bool,
    /// The request for a handler being read (`exchange.rs`); made at the first such
    /// request, so a connection of the static path carries one pointer of it.
    exchange: Option<Box<exchange::Exchange>>,
    /// What the session counted.
    pub stats: HttpStats,
}

/// Case-insensitive token search in a comma-separated header value.
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The access log's line for a request head that could not be parsed.
fn log_unparsed(cfg: &HttpConfig, conn: &Conn, date: &[u8; DATE_LEN], status: Status) {
    if let Some(log) = &cfg.access_log {
        log.push(access_log::Record::unparsed(conn, date, status));
    }
}

/// What a parsed request asks for.
struct Parsed {
    reply: Reply,
    head_only: bool,
    keep_alive: bool,
    body: Read,
    /// A handler answers (`exchange.rs`), once the body is read.
    handler: Option<std::sync::Arc<dyn RequestHandler>>,
    /// `Expect: 100-continue`.
    expect_continue: bool,
    /// HTTP/1.0.
    http10: bool,
}

impl Session {
    /// A session for a connection that opened at `now`.
    pub fn new(now: Instant) -> Session {
        Session {
            inbuf: Vec::new(),
            read: Read::Head,
            out: VecDeque::new(),
            heads: Vec::new(),
            closing: false,
            closed: false,
            head_since: now,
            active_at: now,
            sent_at: now,
            closed_at: None,
            lingering_input: false,
            deferred: None,
            served: false,
            exchange: None,
            stats: HttpStats::default(),
        }
    }

    /// A fresh session for a connection that opened at `now`, in this (finished)
    /// session's buffers: emptied, their allocations kept up to a few kilobytes, so that
    /// a host reuses them for its next connection rather than allocating anew.
    pub fn reuse(self, now: Instant) -> Session {
        /// Bytes of a buffer kept (a request head and a response head fit).
        const KEEP: usize = 4096;
        let Session {
            mut inbuf,
            mut out,
            mut heads,
            ..
        } = self;
        inbuf.clear();
        inbuf.shrink_to(KEEP);
        heads.clear();
        heads.shrink_to(KEEP);
        out.clear();
        out.shrink_to(16);
        Session {
            inbuf,
            out,
            heads,
            ..Session::new(now)
        }
    }

    /// Whether the session has released its connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Responses queued and not yet fully written.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Reads what arrived, answers it, writes what fits. Call after the connection
    /// received data or acknowledgments (or on a timer).
    pub fn drive(
        &mut self,
        now: Instant,
        conn: &mut Conn,
        site: &Site,
        cfg: &HttpConfig,
        date: &[u8; DATE_LEN],
    ) -> Verdict {
        loop {
            let before = (self.out.len(), conn.readable(), self.inbuf.len(), self.read);
            self.read_requests(now, conn, site, cfg, date);
            self.write(now, conn);
            if before == (self.out.len(), conn.readable(), self.inbuf.len(), self.read) {
                break;
            }
        }
        if !self.closed {
            let peer_done = conn.peer_closed() && conn.readable() == 0;
            let done_writing = self.out.is_empty();
            if done_writing && (self.closing || peer_done) {
                // Our last response is out (or the peer is gone with nothing left to
                // answer): FIN after the queued bytes; leftover input is drained.
                conn.release();
                self.closed = true;
                self.closed_at = Some(now);
                self.read = Read::Drain;
            }
        }
        if self.read == Read::Drain {
            let n = conn.readable();
            conn.recv_consume(n);
            self.inbuf.clear();
            if self.closed && n > 0 {
                self.lingering_input = true;
            }
        }
        Verdict::Continue
    }

    /// When `on_timeout` should run.
    pub fn deadline(&self, cfg: &HttpConfig) -> Option<Instant> {
        if let Some(at) = self.closed_at {
            return Some(at + cfg.linger_timeout);
        }
        if !self.out.is_empty() {
            // Writing is paced by the peer's window and TCP's own timers bound a dead peer;
            // a live one that takes nothing is bounded here.
            return Some(self.sent_at.max(self.active_at) + cfg.send_timeout);
        }
        match self.read {
            Read::Head if !self.inbuf.is_empty() || !self.served => {
                Some(self.head_since + cfg.header_timeout)
            }
            Read::Head | Read::Length(_) | Read::Chunked(..) => {
                Some(self.active_at + cfg.keepalive_timeout)
            }
            Read::Drain => None,
        }
    }

    /// A deadline passed: 408 for a slow request head, a quiet close for an idle
    /// keep-alive connection, an abort for a response nobody takes or for a peer that does
    /// not finish after our close.
    pub fn on_timeout(
        &mut self,
        now: Instant,
        conn: &mut Conn,
        cfg: &HttpConfig,
        date: &[u8; DATE_LEN],
    ) -> Verdict {
        let Some(due) = self.deadline(cfg) else {
            return Verdict::Continue;
        };
        if now < due {
            return Verdict::Continue;
        }
        if self.closed {
            // A silent peer is left to TCP (FIN_WAIT_2 is bounded for a released
            // connection); one that keeps sending after our close is cut off.
            self.closed_at = None;
            return if self.lingering_input {
                Verdict::Abort
            } else {
                Verdict::Continue
            };
        }
        if !self.out.is_empty() {
            // A response nobody takes: reset, so neither it nor the connection is held.
            self.stats.send_timeouts += 1;
            self.out.clear();
            self.heads.clear();
            self.closed = true;
            self.read = Read::Drain;
            return Verdict::Abort;
        }
        if self.read == Read::Head && (!self.inbuf.is_empty() || !self.served) {
            self.stats.header_timeouts += 1;
            if self.inbuf.is_empty() {
                // Nothing was asked: close quietly, as nginx does.
                self.closing = true;
            } else {
                self.error(Status::RequestTimeout, date, cfg);
            }
        } else {
            self.stats.idle_timeouts += 1;
            self.closing = true;
        }
        self.read = Read::Drain;
        self.write(now, conn);
        if self.out.is_empty() {
            conn.release();
            self.closed = true;
            self.closed_at = Some(now);
        }
        Verdict::Continue
    }

    fn answer(&mut self, mut r: Parsed, date: &[u8; DATE_LEN], cfg: &HttpConfig) {
        match r.handler.take() {
            Some(h) => self.exchange(h, r, date, cfg),
            None => self.queue(r.reply, r.head_only, r.keep_alive, date, cfg),
        }
    }

    /// The body of the current request has been read: its answer can go.
    fn body_done(&mut self, date: &[u8; DATE_LEN], cfg: &HttpConfig) {
        self.read = Read::Head;
        if let Some(r) = self.deferred.take() {
            self.answer(r, date, cfg);
        }
    }

    fn error(&mut self, status: Status, date: &[u8; DATE_LEN], cfg: &HttpConfig) {
        self.deferred = None;
        self.queue(Reply::plain(status), false, false, date, cfg);
        self.closing = true;
        self.read = Read::Drain;
    }

    fn queue(
        &mut self,
        reply: Reply,
        head_only: bool,
        keep_alive: bool,
        date: &[u8; DATE_LEN],
        cfg: &HttpConfig,
    ) {
        // Errors close; a 404 or 405 is an answer like any other.
        let close = !keep_alive || !reply.keeps_connection();
        let body = reply.body();
        let head_at = self.heads.len();
        let mut w = Writer {
            buf: &mut self.heads,
            start: head_at,
        };
        reply.write_head(&mut w, body.bytes().len(), cfg, date, close);
        let head_len = self.heads.len() - head_at;
        match reply.status {
            Status::Ok | Status::PartialContent => self.stats.responses_2xx += 1,
            Status::NotModified | Status::MovedPermanently => self.stats.responses_3xx += 1,
            Status::NotImplemented | Status::VersionNotSupported => self.stats.responses_5xx += 1,
            _ => self.stats.responses_4xx += 1,
        }
        self.out.push_back(Queued {
            head_at,
            head_len,
            written: 0,
            body: if head_only { Body::None } else { body },
        });
        if close {
            self.closing = true;
        }
    }

    /// Moves queued response bytes into the connection's send buffer.
    fn write(&mut self, now: Instant, conn: &mut Conn) {
        while let Some(r) = self.out.front_mut() {
            loop {
                while r.written < r.total() {
                    let chunk = if r.written < r.head_len {
                        &self.heads[r.head_at + r.written..r.head_at + r.head_len]
                    } else {
                        &r.body.bytes()[r.written - r.head_len..]
                    };
                    let n = conn.send(chunk);
                    if n == 0 {
                        return;
                    }
                    self.sent_at = now;
                    r.written += n;
                }
                // A stream's piece is all handed over: the next one, if any.
                let Body::Stream(s) = &mut r.body else {
                    break;
                };
                match s.refill() {
                    Some(true) => r.written = r.head_len,
                    Some(false) => break,
                    None => {
                        // A stream shorter than its announced length: the peer must not
                        // take what it got for the whole (reset, as nginx does).
                        self.out.clear();
                        self.heads.clear();
                        self.closed = true;
                        self.read = Read::Drain;
                        conn.abort();
                        return;
                    }
                }
            }
            self.out.pop_front();
            if self.out.is_empty() {
                self.heads.clear();
            }
            self.active_at = now;
        }
    }

    fn read_requests(
        &mut self,
        now: Instant,
        conn: &mut Conn,
        site: &Site,
        cfg: &HttpConfig,
        date: &[u8; DATE_LEN],
    ) {
        while !self.closing && self.out.len() < cfg.max_pipeline {
            match self.read {
                Read::Drain => return,
                Read::Head => {
                    self.fill(now, conn, cfg.max_header_bytes);
                    if self.inbuf.is_empty() {
                        return;
                    }
                    if !self.parse_head(now, conn, site, cfg, date) {
                        return;
                    }
                }
                Read::Length(0) => self.body_done(date, cfg),
                Read::Length(n) => {
                    let from_buf = (n as usize).min(self.inbuf.len());
                    self.keep_buffered(0..from_buf);
                    self.inbuf.drain(..from_buf);
                    let mut left = n - from_buf as u64;
                    let from_conn = (left as usize).min(conn.readable());
                    self.keep_from(conn, from_conn);
                    conn.recv_consume(from_conn);
                    left -= from_conn as u64;
                    if from_buf + from_conn > 0 {
                        self.active_at = now;
                    }
                    if left == 0 {
                        self.body_done(date, cfg);
                    } else {
                        self.read = Read::Length(left);
                        return;
                    }
                }
                Read::Chunked(..) => {
                    if !self.chunked(now, conn, cfg, date) {
                        return;
                    }
                }
            }
        }
    }

    /// Copies from the connection into `inbuf`, up to `limit` bytes held. The first byte
    /// of a request head starts its header timeout.
    fn fill(&mut self, now: Instant, conn: &mut Conn, limit: usize) {
        let room = limit.saturating_sub(self.inbuf.len());
        if room == 0 || conn.readable() == 0 {
            return;
        }
        if self.inbuf.is_empty() && self.read == Read::Head && self.served {
            self.head_since = now;
        }
        self.active_at = now;
        let (a, b) = conn.recv_peek();
        let na = a.len().min(room);
        self.inbuf.extend_from_slice(&a[..na]);
        let nb = b.len().min(room - na);
        self.inbuf.extend_from_slice(&b[..nb]);
        conn.recv_consume(na + nb);
    }

    /// Parses one request head from `inbuf`. Returns whether one was consumed.
    fn parse_head(
        &mut self,
        now: Instant,
        conn: &mut Conn,
        site: &Site,
        cfg: &HttpConfig,
        date: &[u8; DATE_LEN],
    ) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let parsed = req.parse(&self.inbuf);
        let n = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if self.inbuf.len() >= cfg.max_header_bytes {
                    let line_end = self.inbuf.windows(2).position(|w| w == b"\r\n");
                    let status = if line_end.is_none_or(|e| e > cfg.max_target) {
                        Status::UriTooLong
                    } else {
                        Status::HeadersTooLarge
                    };
                    log_unparsed(cfg, conn, date, status);
                    self.error(status, date, cfg);
                } else if conn.peer_closed() && conn.readable() == 0 {
                    // The peer half-closed mid-request: nothing will complete it.
                    log_unparsed(cfg, conn, date, Status::BadRequest);
                    self.error(Status::BadRequest, date, cfg);
                }
                return false;
            }
            Err(httparse::Error::Version) => {
                log_unparsed(cfg, conn, date, Status::VersionNotSupported);
                self.error(Status::VersionNotSupported, date, cfg);
                return false;
            }
            Err(httparse::Error::TooManyHeaders) => {
                log_unparsed(cfg, conn, date, Status::HeadersTooLarge);
                self.error(Status::HeadersTooLarge, date, cfg);
                return false;
            }
            Err(_) => {
                log_unparsed(cfg, conn, date, Status::BadRequest);
                self.error(Status::BadRequest, date, cfg);
                return false;
            }
        };
        self.stats.requests += 1;
        self.served = true;
        self.active_at = now;
        let r = self.classify(&req, site, cfg);
        if let Some(log) = cfg
            .access_log
            .as_ref()
            .filter(|_| !r.as_ref().is_ok_and(|p| p.handler.is_some()))
        {
            let (status, bytes) = match &r {
                Ok(r) => (
                    r.reply.status,
                    if r.head_only { 0 } else { r.reply.body_len() },
                ),
                Err(s) => (*s, s.body().len()),
            };
            log.push(access_log::Record::parsed(&req, conn, date, status, bytes));
        }
        if let Some(p) = r.as_ref().ok().filter(|p| p.handler.is_some()) {
            self.begin_exchange(n, p, conn.tuple().remote().ip());
        }
        self.inbuf.drain(..n);
        self.head_since = now; // for a pipelined request already in `inbuf`
        match r {
            Ok(r) => {
                self.read = r.body;
                if matches!(r.body, Read::Length(0)) {
                    self.answer(r, date, cfg);
                } else {
                    // Answered once the body is read: a malformed body gets its error
                    // instead, never two responses to one request.
                    self.deferred = Some(r);
                }
            }
            Err(status) => self.error(status, date, cfg),
        }
        true
    }
}

#[cfg(test)]
mod tests;

//! Requests for a program's handler (`Site::Requests`): the head kept, the body read
//! whole (by `Content-Length` or chunked, up to `max_body`: beyond, 413 and a close, as
//! nginx does), `Expect: 100-continue` answered (RFC 9110 10.1.1), the handler called (a
//! panic is answered 500 and counted), and its response queued: owned, shared or static
//! bytes, a site's resource answered as the static path answers it, or a stream (by
//! known length, or chunked, RFC 9112 7.1), and logged once answered (`access_log.rs`).

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::access_log::Record;
use super::answer::{Asked, Reply};
use super::date::DATE_LEN;
use super::handler::{BodyStream, Request, RequestHandler, Response, ResponseBody};
use super::response::{Body, Response as Queued};
use super::{HttpConfig, Parsed, Read, Session, MAX_HEADERS};
use crate::tcp::Conn;

/// A request being read for a handler.
pub(super) struct Exchange {
    /// The request head, as received (parsed again for the call: no allocation per
    /// header, and the handler's view borrows from it).
    head: Vec<u8>,
    /// The body, de-chunked.
    body: Vec<u8>,
    /// A body is being read into `body`.
    collect: bool,
    /// The client's address, for the access log.
    peer: IpAddr,
}

impl Default for Exchange {
    fn default() -> Exchange {
        Exchange {
            head: Vec::new(),
            body: Vec::new(),
            collect: false,
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// A body kept beyond this is given back to the allocator after the call.
const KEEP_BODY_CAPACITY: usize = 64 * 1024;

/// How a stream's pieces are framed.
enum Framing {
    /// Chunked coding (HTTP/1.1, length unknown).
    Chunked,
    /// `Content-Length`: this many bytes still to come.
    Length(u64),
    /// Close-delimited (HTTP/1.0, length unknown).
    Raw,
}

/// A handler's body stream being written: its current piece, framed.
pub(super) struct Streaming {
    src: Box<dyn BodyStream>,
    framing: Framing,
    piece: Vec<u8>,
    data: Vec<u8>,
    ended: bool,
}

impl Streaming {
    pub(super) fn piece(&self) -> &[u8] {
        &self.piece
    }

    /// The next piece: `Some(true)` when there is one to write, `Some(false)` when the
    /// body is complete, `None` when the stream broke its length (or panicked).
    pub(super) fn refill(&mut self) -> Option<bool> {
        self.piece.clear();
        if self.ended {
            return Some(false);
        }
        self.data.clear();
        let src = &mut self.src;
        let data = &mut self.data;
        // A piece must not be empty unless it is the last: an empty one ends the body.
        let more = catch_unwind(AssertUnwindSafe(|| src.next(data))).ok()? && !data.is_empty();
        match &mut self.framing {
            Framing::Chunked => {
                if !self.data.is_empty() {
                    self.piece
                        .extend_from_slice(format!("{:x}\r\n", self.data.len()).as_bytes());
                    self.piece.extend_from_slice(&self.data);
                    self.piece.extend_from_slice(b"\r\n");
                }
                if !more {
                    self.piece.extend_from_slice(b"0\r\n\r\n");
                }
            }
            Framing::Length(left) => {
                let n = (self.data.len() as u64).min(*left) as usize;
                self.piece.extend_from_slice(&self.data[..n]);
                *left -= n as u64;
                if !more && *left > 0 {
                    return None;
                }
                if *left == 0 {
                    self.ended = true;
                }
            }
            Framing::Raw => self.piece.extend_from_slice(&self.data),
        }
        if !more {
            self.ended = true;
        }
        Some(!self.piece.is_empty())
    }
}

/// The reason phrase of the statuses a handler is likely to use (RFC 9110 15).
fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

impl Session {
    /// A request head for a handler was parsed (`head_len` bytes of `inbuf`): keep it,
    /// read its body into the exchange, and say "100 Continue" if the client waits for it.
    pub(super) fn begin_exchange(&mut self, head_len: usize, p: &Parsed, peer: IpAddr) {
        let x = self.exchange.get_or_insert_with(Box::default);
        x.peer = peer;
        x.head.clear();
        x.head.extend_from_slice(&self.inbuf[..head_len]);
        x.body.clear();
        x.collect = true;
        let has_body = !matches!(p.body, Read::Length(0));
        if p.expect_continue && !p.http10 && has_body {
            // RFC 9110 10.1.1: the body is within the limit (413 otherwise, before
            // this), so the client may send it.
            const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
            let head_at = self.heads.len();
            self.heads.extend_from_slice(CONTINUE);
            self.out.push_back(Queued {
                head_at,
                head_len: CONTINUE.len(),
                written: 0,
                body: Body::None,
            });
        }
    }

    /// Body bytes in `inbuf[range]`: kept if a handler is to see them.
    pub(super) fn keep_buffered(&mut self, range: Range<usize>) {
        if let Some(x) = self.exchange.as_mut().filter(|x| x.collect) {
            x.body.extend_from_slice(&self.inbuf[range]);
        }
    }

    /// The next `n` bytes of the connection, about to be consumed as body: kept if a
    /// handler is to see them.
    pub(super) fn keep_from(&mut self, conn: &Conn, n: usize) {
        if let Some(x) = self.exchange.as_mut().filter(|x| x.collect) {
            let (a, b) = conn.recv_peek();
            let na = n.min(a.len());
            x.body.extend_from_slice(&a[..na]);
            x.body.extend_from_slice(&b[..(n - na).min(b.len())]);
        }
    }

    /// The request is whole: the handler answers it.
    pub(super) fn exchange(
        &mut self,
        handler: Arc<dyn RequestHandler>,
        p: Parsed,
        date: &[u8; DATE_LEN],
        cfg: &HttpConfig,
    ) {
        let mut x = self.exchange.take().unwrap_or_default();
        x.collect = false;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        // It parsed before, whole, from the same bytes.
        let _ = req.parse(&x.head);
        let request = Request {
            method: req.method.unwrap_or(""),
            target: req.path.unwrap_or(""),
            version: req.version.unwrap_or(1),
            headers: req.headers,
            body: &x.body,
        };
        let answered = catch_unwind(AssertUnwindSafe(|| handler.handle(&request)));
        let resp = answered.unwrap_or_else(|_| {
            self.stats.handler_panics += 1;
            Response::new(500)
                .header("Content-Type", "text/plain; charset=utf-8")
                .static_body(b"500 Internal Server Error\n")
                .close()
        });
        let keep_alive = p.keep_alive && !resp.close;
        let (status, bytes) = if let ResponseBody::Resource(r) = resp.body {
            // As the static path answers it, under the request's conditions and range.
            let mut asked = Asked::default();
            for (i, h) in request.headers.iter().enumerate() {
                asked.take(h, &request.headers[i + 1..]);
            }
            let reply = Reply::for_resource(r, p.head_only, &asked);
            let logged = (reply.status.code(), reply.body_len() as u64);
            self.queue(reply, p.head_only, keep_alive, date, cfg);
            logged
        } else {
            self.queue_response(resp, &p, keep_alive, date, cfg)
        };
        if let Some(log) = &cfg.access_log {
            let bytes = if p.head_only { 0 } else { bytes };
            log.push(Record::answered(&req, x.peer, date, status, bytes));
        }
        if x.body.capacity() > KEEP_BODY_CAPACITY {
            x.body = Vec::new();
        }
        self.exchange = Some(x);
    }

    fn queue_response(
        &mut self,
        resp: Response,
        p: &Parsed,
        keep_alive: bool,
        date: &[u8; DATE_LEN],
        cfg: &HttpConfig,
    ) -> (u16, u64) {
        // A final status only (1xx is the engine's to send), three digits.
        let code = if (200..=999).contains(&resp.status) {
            resp.status
        } else {
            500
        };
        let mut close = !keep_alive;
        let no_content = code == 204 || code == 304;
        let (body, length) = match resp.body {
            _ if no_content => (Body::None, None),
            ResponseBody::Empty => (Body::None, Some(0)),
            ResponseBody::Bytes(b) => {
                let n = b.len() as u64;
                (Body::Owned(b), Some(n))
            }
            ResponseBody::Shared(b) => {
                let n = b.len() as u64;
                (Body::Shared(b), Some(n))
            }
            ResponseBody::Static(b) => (Body::Static(b), Some(b.len() as u64)),
            ResponseBody::Resource(r) => {
                let n = r.body.len() as u64;
                (Body::Shared(r.body), Some(n))
            }
            ResponseBody::Stream(src, length) => {
                let framing = match length {
                    Some(n) => Framing::Length(n),
                    None if p.http10 => Framing::Raw,
                    None => Framing::Chunked,
                };
                if matches!(framing, Framing::Raw) {
                    close = true; // the close ends the body
                }
                let s = Streaming {
                    src,
                    framing,
                    piece: Vec::new(),
                    data: Vec::new(),
                    ended: false,
                };
                (Body::Stream(Box::new(s)), length)
            }
        };
        let h = &mut self.heads;
        let head_at = h.len();
        h.extend_from_slice(b"HTTP/1.1 ");
        h.extend_from_slice(code.to_string().as_bytes());
        h.push(b' ');
        h.extend_from_slice(reason(code).as_bytes());
        h.extend_from_slice(b"\r\nServer: ");
        h.extend_from_slice(cfg.server.as_bytes());
        h.extend_from_slice(b"\r\nDate: ");
        h.extend_from_slice(date);
        h.extend_from_slice(b"\r\n");
        h.extend_from_slice(&resp.headers);
        match (&body, length) {
            _ if no_content => {}
            (_, Some(n)) => {
                h.extend_from_slice(b"Content-Length: ");
                h.extend_from_slice(n.to_string().as_bytes());
                h.extend_from_slice(b"\r\n");
            }
            (_, None) if !p.http10 => h.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            (_, None) => {}
        }
        h.extend_from_slice(if close {
            b"Connection: close\r\n".as_slice()
        } else {
            b"Connection: keep-alive\r\n".as_slice()
        });
        h.extend_from_slice(b"\r\n");
        let head_len = h.len() - head_at;
        match code {
            200..=299 => self.stats.responses_2xx += 1,
            300..=399 => self.stats.responses_3xx += 1,
            400..=499 => self.stats.responses_4xx += 1,
            _ => self.stats.responses_5xx += 1,
        }
        self.out.push_back(Queued {
            head_at,
            head_len,
            written: 0,
            body: if p.head_only { Body::None } else { body },
        });
        if close {
            self.closing = true;
        }
        (code, length.unwrap_or(0))
    }
}

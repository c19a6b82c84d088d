//! What a session answers with: status lines and their bodies, queued responses (head
//! in the session's arena, body shared), and the writer that builds a head.

use std::ops::Range;
use std::sync::Arc;

/// The longest response head written (`--cache-control` is at most `CACHE_CONTROL_MAX`, a
/// directory redirect's `Location` at most 512 bytes).
pub(super) const HEAD_MAX: usize = 1024;

/// The longest `Cache-Control` value accepted.
pub const CACHE_CONTROL_MAX: usize = 256;

pub(super) enum Body {
    None,
    Static(&'static [u8]),
    Shared(Arc<[u8]>),
    /// A range of a shared body (206).
    Slice(Arc<[u8]>, Range<usize>),
    /// A handler's own bytes.
    Owned(Vec<u8>),
    /// A handler's stream: its current piece, framed (`exchange.rs`).
    Stream(Box<super::exchange::Streaming>),
}

impl Body {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Body::None => &[],
            Body::Static(b) => b,
            Body::Shared(b) => b,
            Body::Slice(b, r) => &b[r.clone()],
            Body::Owned(b) => b,
            Body::Stream(s) => s.piece(),
        }
    }
}

/// A response waiting to be written: its head in the session's `heads` (at `head_at`),
/// its body shared. Small, so queueing and dequeuing it moves a few words, not a head.
pub(super) struct Response {
    pub(super) head_at: usize,
    pub(super) head_len: usize,
    pub(super) written: usize,
    pub(super) body: Body,
}

impl Response {
    pub(super) fn total(&self) -> usize {
        self.head_len + self.body.bytes().len()
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Ok,
    PartialContent,
    MovedPermanently,
    NotModified,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    RangeNotSatisfiable,
    HeadersTooLarge,
    NotImplemented,
    VersionNotSupported,
}

impl Status {
    pub(super) fn line(self) -> &'static [u8] {
        match self {
            Status::Ok => b"200 OK",
            Status::PartialContent => b"206 Partial Content",
            Status::MovedPermanently => b"301 Moved Permanently",
            Status::NotModified => b"304 Not Modified",
            Status::PreconditionFailed => b"412 Precondition Failed",
            Status::RangeNotSatisfiable => b"416 Range Not Satisfiable",
            Status::BadRequest => b"400 Bad Request",
            Status::NotFound => b"404 Not Found",
            Status::MethodNotAllowed => b"405 Method Not Allowed",
            Status::RequestTimeout => b"408 Request Timeout",
            Status::PayloadTooLarge => b"413 Content Too Large",
            Status::UriTooLong => b"414 URI Too Long",
            Status::HeadersTooLarge => b"431 Request Header Fields Too Large",
            Status::NotImplemented => b"501 Not Implemented",
            Status::VersionNotSupported => b"505 HTTP Version Not Supported",
        }
    }
    /// The numeric code, for the access log.
    pub(super) fn code(self) -> u16 {
        let l = self.line();
        l[..3].iter().fold(0, |n, d| n * 10 + u16::from(d - b'0'))
    }

    pub(super) fn body(self) -> &'static [u8] {
        match self {
            Status::Ok | Status::PartialContent | Status::NotModified => b"",
            Status::MovedPermanently => b"301 Moved Permanently\n",
            Status::PreconditionFailed => b"412 Precondition Failed\n",
            Status::RangeNotSatisfiable => b"416 Range Not Satisfiable\n",
            Status::BadRequest => b"400 Bad Request\n",
            Status::NotFound => b"404 Not Found\n",
            Status::MethodNotAllowed => b"405 Method Not Allowed\n",
            Status::RequestTimeout => b"408 Request Timeout\n",
            Status::PayloadTooLarge => b"413 Content Too Large\n",
            Status::UriTooLong => b"414 URI Too Long\n",
            Status::HeadersTooLarge => b"431 Request Header Fields Too Large\n",
            Status::NotImplemented => b"501 Not Implemented\n",
            Status::VersionNotSupported => b"505 HTTP Version Not Supported\n",
        }
    }
}

/// Appends one response head to the session's `heads`, at most `HEAD_MAX` bytes.
pub(super) struct Writer<'a> {
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) start: usize,
}

impl Writer<'_> {
    pub(super) fn put(&mut self, b: &[u8]) {
        let n = b.len().min(HEAD_MAX - (self.buf.len() - self.start));
        self.buf.extend_from_slice(&b[..n]);
    }
    pub(super) fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}

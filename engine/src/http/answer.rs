//! The answer to a request, and its head. For a GET or HEAD of something that exists the
//! steps follow RFC 9110: choose the representation (`Accept-Encoding`, 12.5.3), then the
//! preconditions in the order of 13.2.2 (412 or 304), then `If-Range` and `Range` (14.2,
//! GET only: "a server MUST ignore a Range header field received with a request method
//! [...] for which range handling is not defined", so HEAD shows the 200 a plain GET
//! would get).

use std::ops::Range;
use std::sync::Arc;

use super::conditional::{self, Outcome, Preconditions, Validators};
use super::date::DATE_LEN;
use super::files::Coding;
use super::negotiate;
use super::range::{self, Ranged};
use super::response::{Body, Status, Writer, CACHE_CONTROL_MAX};
use super::site::Resource;
use super::HttpConfig;

/// The request header fields a static answer depends on (first line of each).
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Asked<'a> {
    pub pre: Preconditions<'a>,
    pub range: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
    pub accept_encoding: Option<&'a [u8]>,
}

/// What a request gets.
#[derive(Clone, Debug)]
pub(super) struct Reply {
    pub status: Status,
    /// What is served (200, 206, 304) or whose length a 416 names.
    pub resource: Option<Resource>,
    pub coding: Coding,
    /// The slice a 206 sends.
    pub part: Option<Range<usize>>,
    /// Where a 301 points.
    pub location: Option<String>,
}

impl Reply {
    /// A status with its short text body (errors, 404, 405).
    pub fn plain(status: Status) -> Reply {
        Reply {
            status,
            resource: None,
            coding: Coding::Identity,
            part: None,
            location: None,
        }
    }

    /// 301 to `location` (a directory named without its slash).
    pub fn redirect(location: String) -> Reply {
        Reply {
            location: Some(location),
            ..Reply::plain(Status::MovedPermanently)
        }
    }

    /// A GET (or HEAD, `head_only`) of `resource`.
    pub fn for_resource(resource: Resource, head_only: bool, asked: &Asked<'_>) -> Reply {
        let info = resource.file.as_deref();
        let coding = info.map_or(Coding::Identity, |f| {
            negotiate::choose(asked.accept_encoding, f.gzip.is_some(), f.br.is_some())
        });
        let v = Validators {
            etag: info.map(|f| f.etag_of(coding)),
            modified: info.map(|f| f.modified),
        };
        let mut reply = Reply {
            status: Status::Ok,
            resource: None,
            coding,
            part: None,
            location: None,
        };
        match conditional::evaluate(&asked.pre, v) {
            Outcome::Failed => return Reply::plain(Status::PreconditionFailed),
            Outcome::NotModified => reply.status = Status::NotModified,
            Outcome::Proceed => {
                if let Some(value) = asked.range.filter(|_| !head_only) {
                    if asked
                        .if_range
                        .is_none_or(|ir| conditional::if_range_holds(ir, v))
                    {
                        let len = selected(&resource, coding).len();
                        match range::evaluate(value, len) {
                            Ranged::Whole => {}
                            Ranged::Part(r) => {
                                reply.status = Status::PartialContent;
                                reply.part = Some(r);
                            }
                            Ranged::Unsatisfiable => reply.status = Status::RangeNotSatisfiable,
                        }
                    }
                }
            }
        }
        reply.resource = Some(resource);
        reply
    }

    /// The body a GET gets.
    pub fn body(&self) -> Body {
        match (&self.resource, self.status) {
            (Some(r), Status::Ok) => Body::Shared(selected(r, self.coding).clone()),
            (Some(r), Status::PartialContent) => Body::Slice(
                selected(r, self.coding).clone(),
                self.part.clone().unwrap_or_default(),
            ),
            (_, Status::NotModified) => Body::None,
            _ => Body::Static(self.status.body()),
        }
    }

    /// The length of the body a GET gets (no clone of it).
    pub fn body_len(&self) -> usize {
        match (&self.resource, self.status) {
            (Some(r), Status::Ok) => selected(r, self.coding).len(),
            (Some(_), Status::PartialContent) => self.part.as_ref().map_or(0, |p| p.len()),
            (_, Status::NotModified) => 0,
            _ => self.status.body().len(),
        }
    }

    /// Whether the connection may stay open after this answer (errors close).
    pub fn keeps_connection(&self) -> bool {
        matches!(
            self.status,
            Status::Ok
                | Status::PartialContent
                | Status::MovedPermanently
                | Status::NotModified
                | Status::NotFound
                | Status::MethodNotAllowed
                | Status::PreconditionFailed
                | Status::RangeNotSatisfiable
        )
    }

    /// Writes the head for a response whose GET body is `body_len` bytes.
    pub fn write_head(
        &self,
        w: &mut Writer<'_>,
        body_len: usize,
        cfg: &HttpConfig,
        date: &[u8; DATE_LEN],
        close: bool,
    ) {
        let status = self.status;
        w.put(b"HTTP/1.1 ");
        w.put(status.line());
        w.put(b"\r\nServer: ");
        w.put(cfg.server.as_bytes());
        w.put(b"\r\nDate: ");
        w.put(date);
        let served = self
            .resource
            .as_ref()
            .filter(|_| matches!(status, Status::Ok | Status::PartialContent));
        if status != Status::NotModified {
            // RFC 9110 15.4.5: a 304 carries the validators, not the content's fields.
            w.put(b"\r\nContent-Type: ");
            w.put(
                served
                    .map_or("text/plain; charset=utf-8", |r| r.content_type)
                    .as_bytes(),
            );
            w.put(b"\r\nContent-Length: ");
            w.num(body_len as u64);
        }
        if let Some(r) = &self.resource {
            let full = selected(r, self.coding).len() as u64;
            match (status, &self.part) {
                (Status::PartialContent, Some(p)) => {
                    w.put(b"\r\nContent-Range: bytes ");
                    w.num(p.start as u64);
                    w.put(b"-");
                    w.num(p.end as u64 - 1);
                    w.put(b"/");
                    w.num(full);
                }
                (Status::RangeNotSatisfiable, _) => {
                    w.put(b"\r\nContent-Range: bytes */");
                    w.num(full);
                }
                _ => {}
            }
        }
        let represented = self.resource.as_ref().filter(|_| {
            matches!(
                status,
                Status::Ok | Status::PartialContent | Status::NotModified
            )
        });
        if let Some(r) = represented {
            if let Some(f) = &r.file {
                w.put(b"\r\nLast-Modified: ");
                w.put(&f.last_modified);
                w.put(b"\r\nETag: ");
                w.put(f.etag_of(self.coding).as_bytes());
            }
            if status == Status::Ok {
                // On the 200 that announces them (nginx sends it there only).
                w.put(b"\r\nAccept-Ranges: bytes");
            }
            if let Some(name) = self.coding.name().filter(|_| status != Status::NotModified) {
                // RFC 9110 15.4.5: a 304 carries no representation metadata beyond the
                // validators, Vary and Cache-Control.
                w.put(b"\r\nContent-Encoding: ");
                w.put(name.as_bytes());
            }
            if r.file.as_ref().is_some_and(|f| f.has_variants()) {
                // Caches must key on Accept-Encoding, also for the identity response.
                w.put(b"\r\nVary: Accept-Encoding");
            }
            if let Some(cc) = cfg
                .cache_control
                .as_deref()
                .filter(|cc| cc.len() <= CACHE_CONTROL_MAX)
            {
                w.put(b"\r\nCache-Control: ");
                w.put(cc.as_bytes());
            }
        }
        if let Some(to) = &self.location {
            w.put(b"\r\nLocation: ");
            w.put(to.as_bytes());
        }
        if status == Status::MethodNotAllowed {
            w.put(b"\r\nAllow: GET, HEAD");
        }
        if close {
            w.put(b"\r\nConnection: close");
        } else {
            w.put(b"\r\nConnection: keep-alive");
        }
        w.put(b"\r\n\r\n");
    }
}

/// The bytes of `r` in `coding` (its own if it lacks that coding).
fn selected(r: &Resource, coding: Coding) -> &Arc<[u8]> {
    r.file
        .as_deref()
        .and_then(|f| f.encoded(coding))
        .map_or(&r.body, |e| &e.body)
}

impl<'a> Asked<'a> {
    /// Where a header field's value goes, if it is one of ours.
    pub fn slot(&mut self, name: &str) -> Option<&mut Option<&'a [u8]>> {
        let n = name.as_bytes();
        let slot = if n.eq_ignore_ascii_case(b"range") {
            &mut self.range
        } else if n.eq_ignore_ascii_case(b"if-none-match") {
            &mut self.pre.if_none_match
        } else if n.eq_ignore_ascii_case(b"if-modified-since") {
            &mut self.pre.if_modified_since
        } else if n.eq_ignore_ascii_case(b"accept-encoding") {
            &mut self.accept_encoding
        } else if n.eq_ignore_ascii_case(b"if-range") {
            &mut self.if_range
        } else if n.eq_ignore_ascii_case(b"if-match") {
            &mut self.pre.if_match
        } else if n.eq_ignore_ascii_case(b"if-unmodified-since") {
            &mut self.pre.if_unmodified_since
        } else {
            return None;
        };
        Some(slot)
    }
}

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

/// The request header fields a static answer depends on: every line of a list-valued one
/// (RFC 9110 5.3), the first line of the others.
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Asked<'a> {
    pub pre: Preconditions<'a>,
    pub range: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
    pub accept_encoding: Option<ListField<'a>>,
}

/// A list-valued field (`#element`: `If-Match`, `If-None-Match`, `Accept-Encoding`) read
/// from every line the request has of it, as RFC 9110 5.3 says a recipient may combine
/// them: in order, as one comma-separated list. Nothing is copied; the lines after the
/// first are found again among the header lines that follow it.
#[derive(Copy, Clone, Debug)]
pub(super) struct ListField<'a> {
    name: &'a str,
    first: &'a [u8],
    /// The header lines after the first of this field.
    rest: &'a [httparse::Header<'a>],
}

impl<'a> ListField<'a> {
    /// A field of one line.
    #[cfg(test)]
    pub fn one(value: &'a [u8]) -> ListField<'a> {
        ListField {
            name: "",
            first: value,
            rest: &[],
        }
    }

    /// The field's elements across all its lines, trimmed, empty ones skipped (5.6.1).
    pub fn items(self) -> impl Iterator<Item = &'a [u8]> {
        let name = self.name;
        let more = self
            .rest
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value);
        std::iter::once(self.first)
            .chain(more)
            .flat_map(|line| line.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty())
    }
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
    /// Takes header line `h` if it is one of ours (whether or not an earlier line of it
    /// was taken); `rest` are the lines after it, where a list-valued field continues.
    pub fn take(&mut self, h: &'a httparse::Header<'a>, rest: &'a [httparse::Header<'a>]) -> bool {
        let n = h.name.as_bytes();
        let list = if n.eq_ignore_ascii_case(b"if-none-match") {
            &mut self.pre.if_none_match
        } else if n.eq_ignore_ascii_case(b"accept-encoding") {
            &mut self.accept_encoding
        } else if n.eq_ignore_ascii_case(b"if-match") {
            &mut self.pre.if_match
        } else {
            let slot = if n.eq_ignore_ascii_case(b"range") {
                &mut self.range
            } else if n.eq_ignore_ascii_case(b"if-modified-since") {
                &mut self.pre.if_modified_since
            } else if n.eq_ignore_ascii_case(b"if-range") {
                &mut self.if_range
            } else if n.eq_ignore_ascii_case(b"if-unmodified-since") {
                &mut self.pre.if_unmodified_since
            } else {
                return false;
            };
            slot.get_or_insert(h.value);
            return true;
        };
        // The first line of a list holds the rest (the later lines are found from it).
        list.get_or_insert(ListField {
            name: h.name,
            first: h.value,
            rest,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 5.3: a list-valued field on several lines is one list, in order; other
    /// fields between its lines and single-valued fields (first line wins) are unchanged.
    #[test]
    fn list_fields_on_several_lines_are_combined() {
        let h = |name, value: &'static str| httparse::Header {
            name,
            value: value.as_bytes(),
        };
        let lines = [
            h("If-None-Match", "\"a\""),
            h("Accept-Encoding", "identity;q=0.5"),
            h("Range", "bytes=0-1"),
            h("if-none-match", " \"b\", \"c\" "),
            h("Range", "bytes=5-9"),
            h("ACCEPT-ENCODING", "gzip"),
            h("If-Match", "\"x\""),
            h("If-Match", "*"),
            h("X-Other", "\"d\""),
        ];
        let mut asked = Asked::default();
        for (i, line) in lines.iter().enumerate() {
            let ours = asked.take(line, &lines[i + 1..]);
            assert_eq!(ours, line.name != "X-Other", "{}", line.name);
        }
        let items = |f: Option<ListField<'_>>| -> Vec<String> {
            f.unwrap()
                .items()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect()
        };
        assert_eq!(items(asked.pre.if_none_match), ["\"a\"", "\"b\"", "\"c\""]);
        assert_eq!(items(asked.pre.if_match), ["\"x\"", "*"]);
        assert_eq!(items(asked.accept_encoding), ["identity;q=0.5", "gzip"]);
        assert_eq!(asked.range, Some(&b"bytes=0-1"[..]), "first line wins");
        // What they decide: a tag on the second line is a 304, a coding on the second
        // line is chosen.
        let v = Validators {
            etag: Some("\"c\""),
            modified: None,
        };
        let pre = Preconditions {
            if_match: None,
            ..asked.pre
        };
        assert_eq!(conditional::evaluate(&pre, v), Outcome::NotModified);
        assert_eq!(
            conditional::evaluate(&asked.pre, v),
            Outcome::NotModified,
            "* on If-Match's second line matches"
        );
        assert_eq!(
            negotiate::choose(asked.accept_encoding, true, false),
            Coding::Gzip
        );
    }
}

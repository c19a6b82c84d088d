//! What a request head asks for: its framing checked (RFC 9112: one `Host`, one length,
//! no smuggling), its connection handling, and the answer a site gives it.

use super::answer::{Asked, Reply};
use super::response::Status;
use super::site::{Lookup, Site};
use super::{has_token, Chunk, HttpConfig, Parsed, Read, Session};

impl Session {
    pub(super) fn classify(
        &self,
        req: &httparse::Request<'_, '_>,
        site: &Site,
        cfg: &HttpConfig,
    ) -> Result<Parsed, Status> {
        let method = req.method.unwrap_or("");
        let target = req.path.unwrap_or("");
        let version = req.version.unwrap_or(1);
        if target.len() > cfg.max_target {
            return Err(Status::UriTooLong);
        }
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut transfer_encoding = false;
        let mut keep_alive = version == 1;
        let mut host = false;
        let mut expect_continue = false;
        let mut asked = Asked::default();
        for (i, h) in req.headers.iter().enumerate() {
            let name = h.name;
            if asked.take(h, &req.headers[i + 1..]) {
                continue;
            } else if name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(Status::BadRequest)?;
                if content_length.is_some_and(|c| c != v) {
                    return Err(Status::BadRequest); // conflicting lengths: smuggling
                }
                content_length = Some(v);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = true;
                // Only "chunked", alone (RFC 9112 6.1: it must be the final coding, and
                // no other coding is implemented here).
                let mut codings = h
                    .value
                    .split(|&b| b == b',')
                    .map(|t| t.trim_ascii())
                    .filter(|t| !t.is_empty());
                match (codings.next(), codings.next()) {
                    (Some(c), None) if c.eq_ignore_ascii_case(b"chunked") && !chunked => {
                        chunked = true
                    }
                    _ => return Err(Status::NotImplemented),
                }
            } else if name.eq_ignore_ascii_case("connection") {
                if has_token(h.value, "close") {
                    keep_alive = false;
                } else if has_token(h.value, "keep-alive") {
                    keep_alive = true;
                }
            } else if name.eq_ignore_ascii_case("host") {
                if host {
                    return Err(Status::BadRequest); // RFC 9112 3.2: exactly one Host
                }
                host = true;
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
            }
        }
        if version == 1 && !host {
            return Err(Status::BadRequest);
        }
        if transfer_encoding && (content_length.is_some() || version == 0) {
            // RFC 9112 6.1 and 6.3: both framings at once is how requests are smuggled.
            return Err(Status::BadRequest);
        }
        if content_length.is_some_and(|c| c > cfg.max_body) {
            return Err(Status::PayloadTooLarge);
        }
        let body = if chunked {
            Read::Chunked(Chunk::Size, 0)
        } else {
            Read::Length(content_length.unwrap_or(0))
        };
        let head_only = method == "HEAD";
        let http10 = version == 0;
        if let Some(handler) = site.request_handler() {
            // The handler answers once the body is read, whatever the method.
            return Ok(Parsed {
                reply: Reply::plain(Status::Ok),
                head_only,
                keep_alive,
                body,
                handler: Some(handler),
                expect_continue,
                http10,
            });
        }
        if method != "GET" && !head_only {
            return Ok(Parsed {
                reply: Reply::plain(Status::MethodNotAllowed),
                head_only: false,
                keep_alive,
                body,
                handler: None,
                expect_continue,
                http10,
            });
        }
        let reply = match site.lookup(target) {
            Lookup::Found(r) => Reply::for_resource(r.clone(), head_only, &asked),
            Lookup::Made(r) => Reply::for_resource(r, head_only, &asked),
            Lookup::Redirect(to) => Reply::redirect(to),
            Lookup::NotFound => Reply::plain(Status::NotFound),
            Lookup::Forbidden => return Err(Status::BadRequest),
        };
        Ok(Parsed {
            reply,
            head_only,
            keep_alive,
            body,
            handler: None,
            expect_continue,
            http10,
        })
    }
}

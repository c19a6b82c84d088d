//! A program's own HTTP answers, with the whole exchange: a [`Request`] (method, target,
//! version, headers borrowed from the receive buffer, the body read whole up to
//! `HttpConfig::max_body`) goes to a [`RequestHandler`], which returns a [`Response`]
//! (any status, its own headers, a body that is owned bytes, a shared or static buffer, a
//! site's resource served as the static path serves it, or a stream produced in pieces).
//!
//! A handler runs on the worker's core, between two packets: it must not block. One that
//! panics gets its client a 500 (and the connection closed); the worker counts it
//! (`http_handler_panics`) and keeps serving.

use std::sync::Arc;

use super::site::{Lookup, Resource, Site};

/// One request, borrowed from the session's buffers for the length of the call.
#[derive(Debug)]
pub struct Request<'a> {
    pub(super) method: &'a str,
    pub(super) target: &'a str,
    pub(super) version: u8,
    pub(super) headers: &'a [httparse::Header<'a>],
    pub(super) body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request made of its parts (tests of a handler).
    pub fn new(
        method: &'a str,
        target: &'a str,
        headers: &'a [httparse::Header<'a>],
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            method,
            target,
            version: 1,
            headers,
            body,
        }
    }

    /// The method, as sent ("GET", "POST", ...).
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request target: path and query, as sent.
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path: the target up to `?`.
    pub fn path(&self) -> &'a str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query string, after `?` (`None` without one).
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Every header line, in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.headers.iter().map(|h| (h.name, h.value))
    }

    /// The body, whole (de-chunked); empty without one.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// Produces a response body in pieces, as the peer takes them: `next` is called again
/// once the previous piece is all in the connection's send buffer.
pub trait BodyStream: Send {
    /// Appends the next piece to `out` (which is empty). Returns `false` once the body
    /// is complete (`out` may hold a last piece then).
    fn next(&mut self, out: &mut Vec<u8>) -> bool;
}

/// A response body.
pub enum ResponseBody {
    /// None (`Content-Length: 0`).
    Empty,
    /// Bytes the response owns.
    Bytes(Vec<u8>),
    /// Bytes shared with other responses, never copied per response.
    Shared(Arc<[u8]>),
    /// Bytes that live as long as the program.
    Static(&'static [u8]),
    /// A site's resource, answered as the static path answers it: `ETag` and
    /// `Last-Modified`, conditional requests, ranges, precompressed representations.
    Resource(Resource),
    /// Produced in pieces: with a known length (`Content-Length`; a stream that ends
    /// short resets the connection) or, without one, in chunked coding (HTTP/1.1; for
    /// HTTP/1.0 the connection closes after the body).
    Stream(Box<dyn BodyStream>, Option<u64>),
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseBody::Empty => f.write_str("Empty"),
            ResponseBody::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            ResponseBody::Shared(b) => write!(f, "Shared({} bytes)", b.len()),
            ResponseBody::Static(b) => write!(f, "Static({} bytes)", b.len()),
            ResponseBody::Resource(r) => write!(f, "Resource({})", r.content_type),
            ResponseBody::Stream(_, len) => write!(f, "Stream({len:?})"),
        }
    }
}

/// What a handler answers: a status, header lines of its own, a body. The responder adds
/// `Server`, `Date`, the framing (`Content-Length` or `Transfer-Encoding`) and
/// `Connection: close` when it closes.
#[derive(Debug)]
pub struct Response {
    pub(super) status: u16,
    /// "Name: value\r\n" lines, back to back.
    pub(super) headers: Vec<u8>,
    pub(super) body: ResponseBody,
    /// Close the connection after this response.
    pub(super) close: bool,
}

impl Response {
    /// A response with `status` (100-999; others are answered as 500) and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: ResponseBody::Empty,
            close: false,
        }
    }

    /// 200 with `body` as `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }

    /// 200 with `json` (already serialised) as `application/json`.
    pub fn json(json: impl Into<String>) -> Response {
        Response::new(200)
            .header("Content-Type", "application/json")
            .body(json.into().into_bytes())
    }

    /// A site's resource, answered as the static path answers it (status 200, 206, 304
    /// or 412 as the request's conditions and range say).
    pub fn resource(r: Resource) -> Response {
        Response {
            body: ResponseBody::Resource(r),
            ..Response::new(200)
        }
    }

    /// `status` with the body produced by `stream` (see [`ResponseBody::Stream`]).
    pub fn stream(status: u16, length: Option<u64>, stream: impl BodyStream + 'static) -> Response {
        Response {
            body: ResponseBody::Stream(Box::new(stream), length),
            ..Response::new(status)
        }
    }

    /// Adds a header line. A name that is not a token, or a value with CR, LF or NUL, is
    /// left out (a handler cannot split the response); so are the framing headers the
    /// responder writes itself (`Content-Length`, `Transfer-Encoding`, `Connection`).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
        let value = value.as_ref();
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let framing = ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        if token && !framing && !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            self.headers.extend_from_slice(name.as_bytes());
            self.headers.extend_from_slice(b": ");
            self.headers.extend_from_slice(value);
            self.headers.extend_from_slice(b"\r\n");
        }
        self
    }

    /// Sets the body to owned bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = ResponseBody::Bytes(body.into());
        self
    }

    /// Sets the body to bytes shared with other responses.
    pub fn shared(mut self, body: Arc<[u8]>) -> Response {
        self.body = ResponseBody::Shared(body);
        self
    }

    /// Sets the body to bytes that live as long as the program.
    pub fn static_body(mut self, body: &'static [u8]) -> Response {
        self.body = ResponseBody::Static(body);
        self
    }

    /// Closes the connection after this response (`Connection: close`).
    pub fn close(mut self) -> Response {
        self.close = true;
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// Answers requests with the whole exchange in view. Called on the worker's core once a
/// request's body is read (HEAD included: the responder sends the head alone). Must not
/// block.
pub trait RequestHandler: Send + Sync {
    /// The response to `req`.
    fn handle(&self, req: &Request<'_>) -> Response;
}

impl<F> RequestHandler for F
where
    F: Fn(&Request<'_>) -> Response + Send + Sync,
{
    fn handle(&self, req: &Request<'_>) -> Response {
        self(req)
    }
}

/// A site as a handler among others: GET and HEAD answered from it as `fastpath serve`
/// answers them, 405 for other methods.
impl RequestHandler for Site {
    fn handle(&self, req: &Request<'_>) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::new(405)
                .header("Allow", "GET, HEAD")
                .static_body(b"405 Method Not Allowed\n");
        }
        match self.lookup(req.target) {
            Lookup::Found(r) => Response::resource(r.clone()),
            Lookup::Made(r) => Response::resource(r),
            Lookup::Redirect(to) => Response::new(301)
                .header("Location", to)
                .static_body(b"301 Moved Permanently\n"),
            Lookup::NotFound => Response::new(404).static_body(b"404 Not Found\n"),
            Lookup::Forbidden => Response::new(400).static_body(b"400 Bad Request\n").close(),
        }
    }
}

/// Handlers by method and path: the first route that matches answers; a path ending in
/// `*` matches by prefix. Nothing matched: the fallback (404 without one).
///
/// ```
/// use std::sync::Arc;
/// use fastpath_engine::http::{Request, Response, Routes, Site};
/// let routes = Routes::new()
///     .route("GET", "/hello", |_: &Request<'_>| Response::json(r#"{"hello":"world"}"#))
///     .route("POST", "/echo", |r: &Request<'_>| Response::new(200).body(r.body()))
///     .fallback(Site::hello()); // static files: one handler among others
/// ```
#[derive(Default)]
pub struct Routes {
    routes: Vec<(String, String, Arc<dyn RequestHandler>)>,
    fallback: Option<Arc<dyn RequestHandler>>,
}

impl Routes {
    /// No routes.
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Requests with `method` ("*": any) for `path` go to `handler`.
    pub fn route(
        mut self,
        method: &str,
        path: &str,
        handler: impl RequestHandler + 'static,
    ) -> Routes {
        self.routes
            .push((method.to_string(), path.to_string(), Arc::new(handler)));
        self
    }

    /// Requests no route takes go to `handler`.
    pub fn fallback(mut self, handler: impl RequestHandler + 'static) -> Routes {
        self.fallback = Some(Arc::new(handler));
        self
    }
}

impl RequestHandler for Routes {
    fn handle(&self, req: &Request<'_>) -> Response {
        let path = req.path();
        let mut path_known = false;
        for (m, p, h) in &self.routes {
            let hit = match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == p,
            };
            if !hit {
                continue;
            }
            path_known = true;
            if m == "*" || m == req.method || (m == "GET" && req.method == "HEAD") {
                return h.handle(req);
            }
        }
        match &self.fallback {
            Some(h) => h.handle(req),
            None if path_known => Response::new(405).static_body(b"405 Method Not Allowed\n"),
            None => Response::new(404).static_body(b"404 Not Found\n"),
        }
    }
}

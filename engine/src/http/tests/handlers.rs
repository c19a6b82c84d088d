//! Handlers that see the whole exchange: bodies by length and by chunks, the body limit,
//! `Expect: 100-continue`, a panic, streams, and a site among other routes.

use super::*;
use crate::http::{BodyStream, Request, Response, Routes};

/// Answers `POST /echo` with the body and its length and a digest header; `/panic`
/// panics; other paths get the method and target back.
fn api() -> Site {
    Site::Requests(Arc::new(|r: &Request<'_>| match (r.method(), r.path()) {
        ("POST", "/echo") => {
            let sum: u64 = r.body().iter().map(|&b| u64::from(b)).sum();
            Response::new(201)
                .header("X-Sum", sum.to_string())
                .header("Content-Type", "application/octet-stream")
                .body(r.body())
        }
        (_, "/panic") => panic!("a handler bug"),
        (m, _) => Response::text(format!(
            "{m} {} q={:?} ua={:?}",
            r.target(),
            r.query(),
            r.header("user-agent")
                .map(|v| String::from_utf8_lossy(v).into_owned())
        )),
    }))
}

fn body_of(n: usize) -> String {
    (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

#[test]
fn a_handler_sees_method_target_headers_and_keeps_the_connection() {
    let mut p = Pair::new(api(), HttpConfig::default());
    let r = p.exchange(b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\n\r\n");
    let rs = responses(&r);
    assert_eq!(rs.len(), 1, "{r}");
    assert_eq!(rs[0].0, "HTTP/1.1 200 OK");
    assert_eq!(rs[0].2, r#"GET /x?y=1 q=Some("y=1") ua=Some("t/1")"#);
    assert_eq!(header(&rs[0].1, "connection"), Some("keep-alive"));
    assert_eq!(header(&rs[0].1, "server"), Some("fastpath"));
    assert!(!p.server_closed());
}

#[test]
fn post_bodies_reach_the_handler_whole_by_length_and_by_chunks() {
    let mut p = Pair::new(api(), HttpConfig::default());
    let body = body_of(300_000);
    let sum: u64 = body.bytes().map(u64::from).sum();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let r = p.exchange(format!("{head}{body}").as_bytes());
    let rs = responses(&r);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].0, "HTTP/1.1 201 Created");
    assert_eq!(header(&rs[0].1, "x-sum"), Some(sum.to_string().as_str()));
    assert!(rs[0].2 == body, "the body came back altered");

    // The same body in uneven chunks, with an extension and a trailer.
    let mut chunked =
        String::from("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut at = 0;
    for (i, size) in [1usize, 4095, 70_000, 3, 225_901].iter().enumerate() {
        let ext = if i == 2 { ";name=v" } else { "" };
        chunked += &format!("{size:x}{ext}\r\n{}\r\n", &body[at..at + size]);
        at += size;
    }
    assert_eq!(at, body.len());
    chunked += "0\r\nX-Trailer: 1\r\n\r\n";
    let r = p.exchange(chunked.as_bytes());
    let rs = responses(&r);
    assert_eq!(rs.len(), 1);
    assert!(rs[0].2 == body, "the chunked body came back altered");
    assert_eq!(p.session.stats.requests, 2);
    assert!(!p.server_closed());
}

#[test]
fn bodies_beyond_the_limit_get_413_and_a_close_without_the_handler() {
    let cfg = HttpConfig {
        max_body: 1000,
        ..HttpConfig::default()
    };
    let mut p = Pair::new(api(), cfg.clone());
    let r = p.exchange(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 413 "), "{r}");
    assert!(r.contains("Connection: close"), "{r}");
    assert!(p.server_closed());

    let mut p = Pair::new(api(), cfg);
    let big = body_of(1001);
    let req = format!(
        "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n{big}\r\n0\r\n\r\n"
    );
    let r = p.exchange(req.as_bytes());
    assert!(r.starts_with("HTTP/1.1 413 "), "{r}");
    assert!(p.server_closed());
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let mut p = Pair::new(api(), HttpConfig::default());
    let r = p.exchange(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(r, "HTTP/1.1 100 Continue\r\n\r\n");
    let r = p.exchange(b"hello");
    let rs = responses(&r);
    assert_eq!(rs[0].0, "HTTP/1.1 201 Created");
    assert_eq!(rs[0].2, "hello");

    // Over the limit: 413 at once, no 100.
    let cfg = HttpConfig {
        max_body: 4,
        ..HttpConfig::default()
    };
    let mut p = Pair::new(api(), cfg);
    let r = p.exchange(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 413 "), "{r}");
}

#[test]
fn a_panicking_handler_gets_its_client_a_500_and_is_counted() {
    let mut p = Pair::new(api(), HttpConfig::default());
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // quiet: the panic is on purpose
    let r = p.exchange(b"GET /panic HTTP/1.1\r\nHost: h\r\n\r\n");
    std::panic::set_hook(prev);
    let rs = responses(&r);
    assert_eq!(rs[0].0, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(header(&rs[0].1, "connection"), Some("close"));
    assert_eq!(p.session.stats.handler_panics, 1);
    assert_eq!(p.session.stats.responses_5xx, 1);
    assert!(p.server_closed());
    // The handler (and whatever shares it) goes on answering.
    let mut p = Pair::new(p.site.clone(), HttpConfig::default());
    let r = p.exchange(b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
}

/// `n` pieces of `piece`.
struct Pieces(usize, &'static str);

impl BodyStream for Pieces {
    fn next(&mut self, out: &mut Vec<u8>) -> bool {
        if self.0 == 0 {
            return false;
        }
        self.0 -= 1;
        out.extend_from_slice(self.1.as_bytes());
        self.0 > 0
    }
}

fn streams() -> Site {
    Site::Requests(Arc::new(|r: &Request<'_>| match r.path() {
        "/chunked" => Response::stream(200, None, Pieces(3000, "0123456789")),
        "/length" => Response::stream(200, Some(30_000), Pieces(3000, "0123456789")),
        _ => Response::stream(200, Some(30_001), Pieces(3000, "0123456789")),
    }))
}

#[test]
fn streamed_bodies_go_chunked_or_by_length_and_a_short_one_resets() {
    let mut p = Pair::new(streams(), HttpConfig::default());
    let r = p.exchange(b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    assert_eq!(body.len(), 3000 * (3 + 10 + 2) + 5);
    assert!(body.starts_with("a\r\n0123456789\r\na\r\n"));
    assert!(body.ends_with("0123456789\r\n0\r\n\r\n"));

    let r = p.exchange(b"GET /length HTTP/1.1\r\nHost: h\r\n\r\n");
    let rs = responses(&r);
    assert_eq!(header(&rs[0].1, "content-length"), Some("30000"));
    assert_eq!(rs[0].2, "0123456789".repeat(3000));
    assert!(!p.server_closed());

    let _ = p.exchange(b"GET /short HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        p.server.state(),
        State::Closed,
        "reset, not a truncated answer"
    );
}

#[test]
fn a_site_is_one_handler_among_routes_with_its_static_answers() {
    let site = Site::body("static\n");
    let routes = Routes::new()
        .route("POST", "/api/*", |r: &Request<'_>| {
            Response::new(200).body(r.body())
        })
        .fallback(site);
    let mut p = Pair::new(Site::Requests(Arc::new(routes)), HttpConfig::default());
    let r = p.exchange(b"POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(responses(&r)[0].2, "ok");
    let r = p.exchange(b"GET /any HTTP/1.1\r\nHost: h\r\n\r\n");
    let rs = responses(&r);
    assert_eq!(rs[0].0, "HTTP/1.1 200 OK");
    assert_eq!(rs[0].2, "static\n");
    assert_eq!(
        header(&rs[0].1, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    let r = p.exchange(b"DELETE /any HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
    assert!(r.contains("Allow: GET, HEAD"), "{r}");
}

#[test]
fn the_access_log_has_a_line_for_each_request_a_handler_answers() {
    use crate::http::{AccessLogger, LogFormat};
    let path = std::env::temp_dir().join(format!("fastpath-handler-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let logger = AccessLogger::open(&path, LogFormat::Combined, 64).unwrap();
    let cfg = HttpConfig {
        access_log: Some(logger.handle().for_worker()),
        ..HttpConfig::default()
    };
    let mut p = Pair::new(api(), cfg);
    p.exchange(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\nContent-Length: 3\r\n\r\nabc",
    );
    p.exchange(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    let stats = logger.finish();
    assert_eq!((stats.written, stats.dropped), (2, 0));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let day = "[23/Nov/2026:10:00:00 +0000]";
    assert_eq!(
        lines[0],
        format!("10.0.0.1 - - {day} \"POST /echo HTTP/1.1\" 201 3 \"-\" \"t/1\"")
    );
    assert!(
        lines[1].contains("\"GET /x HTTP/1.1\" 200 "),
        "{}",
        lines[1]
    );
}

//! The responder over a real pair of TCP connections (the engine's own stack on both
//! ends, segments handed across in memory), driven with explicit time.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::tcp::{Conn, FourTuple, SeqNum, State, TcpConfig};

mod files;
mod handlers;

struct Pair {
    now: Instant,
    client: Conn,
    server: Conn,
    session: Session,
    site: Site,
    cfg: HttpConfig,
    date: [u8; DATE_LEN],
    received: Vec<u8>,
    scratch: Vec<u8>,
    /// Whether the client application reads what arrives (off: its window fills and shuts).
    client_reads: bool,
}

fn tuple(server: bool) -> FourTuple {
    let c = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
    let s = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
    if server {
        FourTuple {
            local: s,
            remote: c,
        }
    } else {
        FourTuple {
            local: c,
            remote: s,
        }
    }
}

impl Pair {
    fn new(site: Site, cfg: HttpConfig) -> Pair {
        Pair::with_tcp(site, cfg, TcpConfig::default())
    }

    fn with_tcp(site: Site, cfg: HttpConfig, tcp: TcpConfig) -> Pair {
        let now = Instant::from_secs(1000);
        let mut client = Conn::connect(&tcp, tuple(false), SeqNum(1), now);
        let mut scratch = vec![0u8; 65536];
        let (syn, _) = client.poll_transmit(now, &mut scratch).unwrap();
        let server = Conn::accept(&tcp, tuple(true), &syn, SeqNum(5000), now);
        let mut p = Pair {
            now,
            client,
            server,
            session: Session::new(now),
            site,
            cfg,
            date: *b"Mon, 23 Nov 2026 10:00:00 GMT",
            received: Vec::new(),
            scratch,
            client_reads: true,
        };
        p.settle();
        assert_eq!(p.server.state(), State::Established);
        p
    }

    /// Moves segments both ways and drives the session until nothing moves; timers that
    /// fall due within `horizon` fire on the way.
    fn run_for(&mut self, horizon: Duration) {
        let until = self.now + horizon;
        for _ in 0..1_000_000 {
            let mut moved = false;
            while let Some((r, n)) = self.client.poll_transmit(self.now, &mut self.scratch) {
                let payload = self.scratch[..n].to_vec();
                self.server.on_segment(self.now, &r, &payload);
                moved = true;
            }
            let v = self.session.drive(
                self.now,
                &mut self.server,
                &self.site,
                &self.cfg,
                &self.date,
            );
            if v == Verdict::Abort {
                self.server.abort();
            }
            while let Some((r, n)) = self.server.poll_transmit(self.now, &mut self.scratch) {
                let payload = self.scratch[..n].to_vec();
                self.client.on_segment(self.now, &r, &payload);
                moved = true;
            }
            while self.client_reads {
                let n = self.client.recv(&mut self.scratch);
                if n == 0 {
                    break;
                }
                self.received.extend_from_slice(&self.scratch[..n]);
            }
            if moved {
                continue;
            }
            let next = [
                self.client.poll_at(),
                self.server.poll_at(),
                self.session.deadline(&self.cfg),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    if self.client.poll_at().is_some_and(|t| t <= self.now) {
                        self.client.on_timeout(self.now);
                    }
                    if self.server.poll_at().is_some_and(|t| t <= self.now) {
                        self.server.on_timeout(self.now);
                    }
                    if self
                        .session
                        .deadline(&self.cfg)
                        .is_some_and(|t| t <= self.now)
                    {
                        let v = self.session.on_timeout(
                            self.now,
                            &mut self.server,
                            &self.cfg,
                            &self.date,
                        );
                        if v == Verdict::Abort {
                            self.server.abort();
                        }
                    }
                }
                _ => {
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
        panic!("no quiescence");
    }

    fn settle(&mut self) {
        self.run_for(Duration::from_millis(500));
    }

    /// Sends `req` from the client and returns what came back.
    fn exchange(&mut self, req: &[u8]) -> String {
        let mut off = 0;
        while off < req.len() {
            off += self.client.send(&req[off..]);
            self.settle();
        }
        self.settle();
        String::from_utf8_lossy(&std::mem::take(&mut self.received)).into_owned()
    }

    fn server_closed(&self) -> bool {
        self.client.peer_closed()
    }
}

/// Splits a stream of responses: (status line, headers, body) each.
/// (status line, lower-cased headers, body).
type Parsed = (String, Vec<(String, String)>, String);

fn responses(mut s: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (head, rest) = s.split_once("\r\n\r\n").expect("a complete head");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0); // a 304 has none
        let head_only = status.contains("HEAD-ONLY");
        let body_len = if head_only { 0 } else { len.min(rest.len()) };
        out.push((status, headers, rest[..body_len].to_string()));
        s = &rest[body_len..];
    }
    out
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn get_keeps_alive_with_the_standard_headers() {
    let mut p = Pair::new(Site::body("hello\n"), HttpConfig::default());
    for _ in 0..3 {
        let r = p.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let rs = responses(&r);
        assert_eq!(rs.len(), 1, "{r}");
        let (status, h, body) = &rs[0];
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "hello\n");
        assert_eq!(header(h, "server"), Some("fastpath"));
        assert_eq!(header(h, "date"), Some("Mon, 23 Nov 2026 10:00:00 GMT"));
        assert_eq!(header(h, "content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(header(h, "content-length"), Some("6"));
        assert_eq!(header(h, "connection"), Some("keep-alive"));
        assert!(!p.server_closed());
    }
    assert_eq!(p.session.stats.requests, 3);
}

#[test]
fn head_has_the_length_but_no_body() {
    let mut p = Pair::new(Site::body("hello\n"), HttpConfig::default());
    let r = p.exchange(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("Content-Length: 6\r\n"));
    assert!(r.ends_with("\r\n\r\n"), "no body after a HEAD: {r:?}");
    // The connection still works: the next response follows directly.
    let r = p.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.ends_with("\r\n\r\nhello\n"), "{r}");
}

#[test]
fn http_1_0_closes_unless_asked_and_connection_close_is_honoured() {
    let mut p = Pair::new(Site::body("x"), HttpConfig::default());
    let r = p.exchange(b"GET / HTTP/1.0\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.contains("Connection: close\r\n"),
        "{r}"
    );
    assert!(
        p.server_closed(),
        "HTTP/1.0 without keep-alive: FIN after the response"
    );

    let mut p = Pair::new(Site::body("x"), HttpConfig::default());
    let r = p.exchange(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(r.contains("Connection: keep-alive\r\n"), "{r}");
    assert!(!p.server_closed());

    let mut p = Pair::new(Site::body("x"), HttpConfig::default());
    let r = p.exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        r.contains("Connection: close\r\n") && r.ends_with("x"),
        "{r}"
    );
    assert!(p.server_closed());
    // Our FIN, the client's, and the server side ends cleanly.
    p.client.close();
    p.run_for(Duration::from_secs(120));
    assert_eq!(p.server.state(), State::Closed);
    assert_eq!(
        p.server.close_reason(),
        Some(crate::tcp::CloseReason::Normal)
    );
}

#[test]
fn sixteen_pipelined_requests_get_sixteen_responses_in_order() {
    let dir = std::env::temp_dir().join(format!("fastpath-pipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..16 {
        std::fs::write(dir.join(format!("{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let site = Site::load_dir(&dir, 1 << 20).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut p = Pair::new(site, HttpConfig::default());
    let mut req = Vec::new();
    for i in 0..16 {
        req.extend_from_slice(format!("GET /{i}.txt HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    let r = p.exchange(&req);
    let rs = responses(&r);
    assert_eq!(rs.len(), 16);
    for (i, (status, _, body)) in rs.iter().enumerate() {
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, &format!("file {i}\n"));
    }
    let r = p.exchange(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    assert!(!p.server_closed(), "a 404 keeps the connection");
}

#[test]
fn bodies_are_read_and_discarded_by_length_and_by_chunks() {
    let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
    let r = p.exchange(b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
    assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
    assert!(r.contains("Allow: GET, HEAD\r\n"));
    let r = p.exchange(
        b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: y\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    // The body bytes were not taken for a request: the next one parses.
    let r = p.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("ok"),
        "{r}"
    );
    // A body split over many writes, chunk sizes included.
    let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in body.chunks(7000) {
        req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        req.extend_from_slice(c);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let rs = responses(&p.exchange(&req));
    assert_eq!(rs.len(), 2);
    assert!(rs[0].0.contains("405") && rs[1].0.contains("200"));
}

#[test]
fn errors_get_their_status_and_a_close() {
    let cases: &[(&[u8], &str)] = &[
        (b"GARBAGE\r\n\r\n", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\n\r\n", "400 Bad Request"), // no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 Bad Request"),
        (b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400 Bad Request",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "400 Bad Request",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400 Bad Request"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", "413 Content Too Large"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "501 Not Implemented",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "501 Not Implemented",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "400 Bad Request",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n",
            "413 Content Too Large",
        ),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported"),
    ];
    for (req, want) in cases {
        let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
        let r = p.exchange(req);
        assert!(
            r.starts_with(&format!("HTTP/1.1 {want}\r\n")),
            "{:?} -> {r}",
            String::from_utf8_lossy(req)
        );
        assert!(r.contains("Connection: close\r\n"), "{r}");
        assert!(p.server_closed(), "closed after {want}");
    }
    let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert!(p
        .exchange(long.as_bytes())
        .starts_with("HTTP/1.1 414 URI Too Long\r\n"));
    let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Fill: {}\r\n\r\n",
        "b".repeat(9000)
    );
    assert!(p
        .exchange(big.as_bytes())
        .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
    let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert!(p.exchange(&many).starts_with("HTTP/1.1 431"));
}

#[test]
fn a_large_body_streams_under_flow_control_with_bounded_memory() {
    let body: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(7) % 253) as u8)
        .collect();
    let site = Site::Body(Resource::new("application/octet-stream", body.clone()));
    let tcp = TcpConfig {
        send_buffer: 64 * 1024,
        recv_buffer: 64 * 1024,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_tcp(site, HttpConfig::default(), tcp);
    p.client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.run_for(Duration::from_secs(60));
    let got = std::mem::take(&mut p.received);
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(got.len() - at, body.len());
    assert!(got[at..] == body[..], "body corrupted");
    // The server never held more than its buffers for this connection, and the record of
    // segments in flight (a 24-byte entry per segment: 64 KiB / 1448 B fits in 64).
    assert!(p.server.memory() <= core::mem::size_of::<Conn>() + 2 * 64 * 1024 + 64 * 24);
}

#[test]
fn a_response_nobody_takes_is_reset_after_the_send_timeout_and_a_slow_reader_is_not() {
    let body: Arc<[u8]> = Arc::from(vec![7u8; 3_000_000]);
    let site = || Site::Body(Resource::new("application/octet-stream", body.clone()));
    let tcp = TcpConfig {
        send_buffer: 64 * 1024,
        recv_buffer: 64 * 1024,
        ..TcpConfig::default()
    };
    let cfg = HttpConfig {
        send_timeout: Duration::from_secs(20),
        ..HttpConfig::default()
    };
    // The client asks and never reads: its window shuts, it answers every probe.
    let mut p = Pair::with_tcp(site(), cfg.clone(), tcp);
    p.client_reads = false;
    p.client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.run_for(Duration::from_secs(15));
    assert_eq!(p.server.state(), State::Established);
    assert_eq!(p.session.stats.send_timeouts, 0);
    p.run_for(Duration::from_secs(10));
    assert_eq!(p.session.stats.send_timeouts, 1);
    assert_eq!(
        p.server.close_reason(),
        Some(crate::tcp::CloseReason::Aborted)
    );
    assert_eq!(p.session.deadline(&cfg), None, "nothing left to time");

    // One that reads 16 KB every 10 s makes progress within every 20 s: kept.
    let mut p = Pair::with_tcp(site(), cfg, tcp);
    p.client_reads = false;
    p.client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut got = 0;
    for _ in 0..12 {
        p.run_for(Duration::from_secs(10));
        got += p.client.recv(&mut [0u8; 16 * 1024]);
    }
    assert_eq!(p.session.stats.send_timeouts, 0);
    assert_eq!(p.server.state(), State::Established);
    assert!(got >= 12 * 16 * 1024 - 16 * 1024, "read {got}");
}

#[test]
fn slowloris_gets_408_and_idle_keepalive_is_closed() {
    let cfg = HttpConfig {
        header_timeout: Duration::from_secs(10),
        keepalive_timeout: Duration::from_secs(30),
        ..HttpConfig::default()
    };
    let mut p = Pair::new(Site::body("ok"), cfg.clone());
    // One header byte every 2 s: the head never completes within 10 s.
    for b in b"GET / HTTP/1.1\r\nHost: x\r\n" {
        p.client.send(&[*b]);
        p.run_for(Duration::from_secs(2));
        if p.server_closed() {
            break;
        }
    }
    let r = String::from_utf8_lossy(&p.received).into_owned();
    assert!(r.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{r}");
    assert!(p.server_closed());
    assert_eq!(p.session.stats.header_timeouts, 1);

    let mut p = Pair::new(Site::body("ok"), cfg.clone());
    assert!(p
        .exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .contains("200 OK"));
    // (the exchange itself let a second of virtual time pass)
    let t0 = p.now;
    p.run_for(Duration::from_secs(28));
    assert!(
        !p.server_closed(),
        "idle for less than the keep-alive timeout: {:?} after {:?}, {:?}",
        p.now - t0,
        p.session.stats,
        p.session.deadline(&cfg).map(|d| d - t0)
    );
    p.run_for(Duration::from_secs(3));
    assert!(p.server_closed(), "idle keep-alive connection closed");
    assert!(p.received.is_empty(), "quietly: no response");
    assert_eq!(p.session.stats.idle_timeouts, 1);

    // A connection that never sends a byte is closed after the header timeout.
    let mut p = Pair::new(Site::body("ok"), cfg);
    p.run_for(Duration::from_secs(11));
    assert!(p.server_closed());
    assert!(p.received.is_empty());
}

#[test]
fn after_our_close_a_silent_peer_is_left_to_tcp_and_a_talking_one_is_cut_off() {
    let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
    let r = p.exchange(b"GET / HTTP/1.0\r\n\r\n");
    assert!(r.contains("200 OK"));
    assert!(p.server_closed());
    // The client keeps its side open and silent: FIN_WAIT_2, bounded by TCP (60 s).
    p.run_for(Duration::from_secs(6));
    assert_eq!(p.server.state(), State::FinWait2);
    p.run_for(Duration::from_secs(61));
    assert_eq!(p.server.state(), State::Closed);

    // One that keeps sending after the close is aborted after the linger timeout.
    let mut p = Pair::new(Site::body("ok"), HttpConfig::default());
    p.exchange(b"GET / HTTP/1.0\r\n\r\n");
    for _ in 0..7 {
        p.client.send(b"more");
        p.run_for(Duration::from_secs(1));
    }
    assert_eq!(
        p.server.close_reason(),
        Some(crate::tcp::CloseReason::Aborted)
    );
}

#[test]
fn a_reused_session_starts_empty_in_the_old_ones_buffers() {
    let mut p = Pair::new(Site::body("hello\n"), HttpConfig::default());
    let r = p.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHo");
    assert_eq!(responses(&r).len(), 1, "{r}");
    assert!(!p.session.inbuf.is_empty(), "half a request head is held");
    let old = std::mem::replace(&mut p.session, Session::new(p.now));
    let kept = old.inbuf.capacity();
    let s = old.reuse(p.now);
    assert!(s.inbuf.is_empty() && s.out.is_empty() && s.heads.is_empty());
    assert_eq!(s.inbuf.capacity(), kept, "the allocation is kept");
    assert_eq!(s.stats.requests, 0);
    assert!(!s.is_closed());
    // On a new connection it answers as a new session would: the old half head is gone.
    let mut q = Pair::new(Site::body("hello\n"), HttpConfig::default());
    q.session = s;
    let r = q.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let rs = responses(&r);
    assert_eq!(rs.len(), 1, "{r}");
    assert_eq!(rs[0].0, "HTTP/1.1 200 OK");
    assert_eq!(rs[0].2, "hello\n");
    assert_eq!(q.session.stats.requests, 1);
}

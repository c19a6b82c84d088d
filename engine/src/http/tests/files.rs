//! Files as nginx users expect them, through a real session: validators and 304s,
//! ranges, precompressed representations, Cache-Control.

use super::*;
use crate::http::files::{etag, Encoded, FileInfo};

const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn body() -> Vec<u8> {
    (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A 1000-byte file modified at `LM`, with a gzip representation (fake bytes: the
/// responder never decodes them) when `gz`.
fn site(gz: bool) -> Site {
    let b = body();
    let mut info = FileInfo::new(&b, 784_111_777, 2_000_000_000);
    if gz {
        let z = b"pretend-gzip-bytes-0123456789".to_vec();
        info.gzip = Some(Encoded {
            etag: etag(&z),
            body: Arc::from(z),
        });
    }
    Site::Body(Resource {
        content_type: "text/plain; charset=utf-8",
        body: Arc::from(b),
        file: Some(Arc::new(info)),
    })
}

fn get(p: &mut Pair, extra: &str) -> Parsed {
    let req = format!("GET /f.txt HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    let mut r = responses(&p.exchange(req.as_bytes()));
    assert_eq!(r.len(), 1);
    r.pop().unwrap()
}

#[test]
fn validators_give_304_in_the_rfc_order_and_head_matches_get() {
    let mut p = Pair::new(site(false), HttpConfig::default());
    let (status, h, b) = get(&mut p, "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(b.as_bytes(), &body()[..]);
    let tag = header(&h, "etag").unwrap().to_string();
    assert!(tag.starts_with("\"3e8-"), "{tag}");
    assert_eq!(header(&h, "last-modified"), Some(LM));
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&h, "vary"), None, "no other representation");

    for cond in [
        format!("If-None-Match: {tag}\r\n"),
        format!("If-None-Match: \"zzz\", W/{tag}\r\n"),
        "If-None-Match: *\r\n".to_string(),
        format!("If-Modified-Since: {LM}\r\n"),
    ] {
        let (status, h, b) = get(&mut p, &cond);
        assert_eq!(status, "HTTP/1.1 304 Not Modified", "{cond}");
        assert!(b.is_empty());
        assert_eq!(header(&h, "etag"), Some(tag.as_str()));
        assert_eq!(header(&h, "last-modified"), Some(LM));
        assert_eq!(header(&h, "content-length"), None);
        assert_eq!(header(&h, "connection"), Some("keep-alive"));
    }
    // A changed tag beats a matching date (If-Modified-Since is then not evaluated).
    let (status, ..) = get(
        &mut p,
        &format!("If-None-Match: \"old\"\r\nIf-Modified-Since: {LM}\r\n"),
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, ..) = get(
        &mut p,
        "If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, h, _) = get(&mut p, "If-Match: \"other\"\r\n");
    assert_eq!(status, "HTTP/1.1 412 Precondition Failed");
    assert_eq!(header(&h, "connection"), Some("keep-alive"));
    let (status, ..) = get(&mut p, &format!("If-Match: {tag}\r\n"));
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, ..) = get(
        &mut p,
        "If-Unmodified-Since: Sat, 05 Nov 1994 00:00:00 GMT\r\n",
    );
    assert_eq!(status, "HTTP/1.1 412 Precondition Failed");

    // HEAD: the GET's head, no body; its preconditions too.
    let got = p.exchange(b"HEAD /f.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, rest) = got.split_once("\r\n\r\n").unwrap();
    assert!(rest.is_empty());
    assert!(head.contains("Content-Length: 1000\r\n"));
    assert!(head.contains(&format!("ETag: {tag}\r\n")));
    let got = p.exchange(
        format!("HEAD /f.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {tag}\r\n\r\n").as_bytes(),
    );
    assert!(got.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{got}");
    assert_eq!(p.session.stats.responses_3xx, 5);
    assert!(!p.server_closed());
}

#[test]
fn ranges_slice_the_body_and_if_range_guards_them() {
    let mut p = Pair::new(site(false), HttpConfig::default());
    let b = body();
    let tag = header(&get(&mut p, "").1, "etag").unwrap().to_string();
    let cases: [(&str, usize, usize); 4] = [
        ("bytes=0-99", 0, 100),
        ("bytes=990-", 990, 1000),
        ("bytes=-10", 990, 1000),
        ("bytes=500-5000", 500, 1000),
    ];
    for (range, from, to) in cases {
        let (status, h, got) = get(&mut p, &format!("Range: {range}\r\n"));
        assert_eq!(status, "HTTP/1.1 206 Partial Content", "{range}");
        assert_eq!(got.as_bytes(), &b[from..to], "{range}");
        assert_eq!(
            header(&h, "content-range"),
            Some(format!("bytes {from}-{}/1000", to - 1).as_str())
        );
        assert_eq!(header(&h, "etag"), Some(tag.as_str()));
        assert_eq!(
            header(&h, "accept-ranges"),
            None,
            "on the 200 only, as nginx"
        );
    }
    let (status, h, got) = get(&mut p, "Range: bytes=1000-\r\n");
    assert_eq!(status, "HTTP/1.1 416 Range Not Satisfiable");
    assert_eq!(header(&h, "content-range"), Some("bytes */1000"));
    assert_eq!(got, "416 Range Not Satisfiable\n");
    // Disjoint ranges: the whole body (see range.rs for why).
    let (status, _, got) = get(&mut p, "Range: bytes=0-1,10-11\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(got.len(), 1000);
    // If-Range: the current tag or date → the range; anything else → the whole body.
    for (if_range, partial) in [
        (tag.clone(), true),
        (LM.to_string(), true),
        ("\"stale\"".to_string(), false),
        (format!("W/{tag}"), false),
        ("Mon, 07 Nov 1994 08:49:37 GMT".to_string(), false),
    ] {
        let (status, _, got) = get(
            &mut p,
            &format!("Range: bytes=0-9\r\nIf-Range: {if_range}\r\n"),
        );
        let want = if partial { 10 } else { 1000 };
        assert_eq!(got.len(), want, "If-Range {if_range}: {status}");
    }
    // A conditional GET with a range whose validator matches: 304, not 206.
    let (status, ..) = get(
        &mut p,
        &format!("Range: bytes=0-9\r\nIf-None-Match: {tag}\r\n"),
    );
    assert_eq!(status, "HTTP/1.1 304 Not Modified");
    // HEAD ignores Range (RFC 9110 14.2).
    let got = p.exchange(b"HEAD /f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n");
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.contains("Content-Length: 1000\r\n"));
    assert!(!p.server_closed());
}

#[test]
fn a_precompressed_representation_has_its_own_tag_and_ranges() {
    let cfg = HttpConfig {
        cache_control: Some("public, max-age=60".into()),
        ..HttpConfig::default()
    };
    let mut p = Pair::new(site(true), cfg);
    let (_, plain, got) = get(&mut p, "");
    assert_eq!(got.len(), 1000);
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&plain, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(&plain, "cache-control"), Some("public, max-age=60"));
    let (status, gz, got) = get(&mut p, "Accept-Encoding: gzip, deflate, br\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(got, "pretend-gzip-bytes-0123456789");
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    assert_eq!(header(&gz, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(&gz, "content-length"), Some("29"));
    let (plain_tag, gz_tag) = (
        header(&plain, "etag").unwrap(),
        header(&gz, "etag").unwrap(),
    );
    assert_ne!(plain_tag, gz_tag);
    // q=0 refuses it.
    let (_, h, got) = get(&mut p, "Accept-Encoding: gzip;q=0\r\n");
    assert_eq!((got.len(), header(&h, "content-encoding")), (1000, None));
    // Validators per representation: the identity tag does not validate the gzip one.
    let ae = "Accept-Encoding: gzip\r\n";
    let (status, ..) = get(&mut p, &format!("{ae}If-None-Match: {plain_tag}\r\n"));
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, h, _) = get(&mut p, &format!("{ae}If-None-Match: {gz_tag}\r\n"));
    assert_eq!(status, "HTTP/1.1 304 Not Modified");
    assert_eq!(header(&h, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(&h, "content-encoding"), None, "RFC 9110 15.4.5");
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=60"));
    // Ranges count in the representation sent.
    let (status, h, got) = get(&mut p, &format!("{ae}Range: bytes=8-\r\n"));
    assert_eq!(status, "HTTP/1.1 206 Partial Content");
    assert_eq!(got, "gzip-bytes-0123456789");
    assert_eq!(header(&h, "content-range"), Some("bytes 8-28/29"));
    let (status, h, _) = get(&mut p, &format!("{ae}Range: bytes=100-\r\n"));
    assert_eq!(status, "HTTP/1.1 416 Range Not Satisfiable");
    assert_eq!(header(&h, "content-range"), Some("bytes */29"));
    // No Cache-Control on errors.
    let got = p.exchange(b"POST /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert!(got.starts_with("HTTP/1.1 405") && !got.contains("Cache-Control"));
}

/// RFC 9110 5.3: If-None-Match, If-Match and Accept-Encoding sent on several lines are
/// one list each; the second line counts as much as the first.
#[test]
fn list_fields_on_several_lines_are_one_list() {
    let mut p = Pair::new(site(true), HttpConfig::default());
    let (_, plain, _) = get(&mut p, "");
    let tag = header(&plain, "etag").unwrap().to_string();
    // The matching tag on the second If-None-Match line, another field between them.
    let (status, ..) = get(
        &mut p,
        &format!("If-None-Match: \"old\"\r\nX-Other: 1\r\nIf-None-Match: {tag}\r\n"),
    );
    assert_eq!(status, "HTTP/1.1 304 Not Modified");
    // The matching tag on the second If-Match line: no 412.
    let (status, ..) = get(&mut p, &format!("If-Match: \"old\"\r\nIf-Match: {tag}\r\n"));
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, ..) = get(&mut p, "If-Match: \"old\"\r\nIf-Match: \"older\"\r\n");
    assert_eq!(status, "HTTP/1.1 412 Precondition Failed");
    // gzip named on the second Accept-Encoding line only.
    let (_, h, got) = get(
        &mut p,
        "Accept-Encoding: deflate\r\nAccept-Encoding: gzip\r\n",
    );
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(got, "pretend-gzip-bytes-0123456789");
    // ...and refused on the second line: the last weight given for a coding holds.
    let (_, h, _) = get(
        &mut p,
        "Accept-Encoding: gzip\r\nAccept-Encoding: gzip;q=0\r\n",
    );
    assert_eq!(header(&h, "content-encoding"), None);
}

#[test]
fn the_access_log_gets_a_line_per_answer() {
    use crate::http::{AccessLogger, LogFormat};
    let path = std::env::temp_dir().join(format!("fastpath-session-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let logger = AccessLogger::open(&path, LogFormat::Combined, 64).unwrap();
    let cfg = HttpConfig {
        access_log: Some(logger.handle().for_worker()),
        ..HttpConfig::default()
    };
    let mut p = Pair::new(site(false), cfg);
    get(&mut p, "User-Agent: curl/8.0\r\nReferer: http://x/from\r\n");
    get(&mut p, "Range: bytes=0-9\r\n");
    p.exchange(b"HEAD /f.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    p.exchange(b"GET /f.txt HTTP/1.1\r\n\r\n"); // no Host: 400
    let stats = logger.finish();
    assert_eq!((stats.written, stats.dropped), (4, 0));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let day = "[23/Nov/2026:10:00:00 +0000]";
    assert_eq!(
        lines[0],
        format!(
            "10.0.0.1 - - {day} \"GET /f.txt HTTP/1.1\" 200 1000 \"http://x/from\" \"curl/8.0\""
        )
    );
    assert_eq!(
        lines[1],
        format!("10.0.0.1 - - {day} \"GET /f.txt HTTP/1.1\" 206 10 \"-\" \"-\"")
    );
    assert_eq!(
        lines[2],
        format!("10.0.0.1 - - {day} \"HEAD /f.txt HTTP/1.1\" 200 0 \"-\" \"-\"")
    );
    assert_eq!(
        lines[3],
        format!("10.0.0.1 - - {day} \"GET /f.txt HTTP/1.1\" 400 16 \"-\" \"-\"")
    );
}

#[test]
fn a_directory_without_its_slash_is_redirected_as_nginx_does() {
    let mut files = std::collections::HashMap::new();
    files.insert(
        "/docs/index.html".to_string(),
        Resource::new("text/html; charset=utf-8", &b"<a href=x.html>x</a>"[..]),
    );
    let mut p = Pair::new(Site::Root { files, bytes: 20 }, HttpConfig::default());
    let got = responses(&p.exchange(b"GET /docs?page=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(got[0].0, "HTTP/1.1 301 Moved Permanently");
    assert_eq!(header(&got[0].1, "location"), Some("/docs/?page=2"));
    assert_eq!(header(&got[0].1, "connection"), Some("keep-alive"));
    let got = responses(&p.exchange(b"GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(got[0].0, "HTTP/1.1 200 OK");
    assert_eq!(got[0].2, "<a href=x.html>x</a>");
    // Too long to fit a head: the page itself.
    let long = format!("GET /docs?{} HTTP/1.1\r\nHost: x\r\n\r\n", "q".repeat(600));
    let got = responses(&p.exchange(long.as_bytes()));
    assert_eq!(got[0].0, "HTTP/1.1 200 OK");
    assert_eq!(p.session.stats.responses_3xx, 1);
}

#[test]
fn a_response_under_way_finishes_with_the_old_generation_after_a_reload() {
    use crate::http::LiveSite;
    let old: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let old_body: Arc<[u8]> = Arc::from(old.clone());
    let old_alive = Arc::downgrade(&old_body);
    let live = Arc::new(LiveSite::new(Site::Body(Resource::new(
        "application/octet-stream",
        old_body,
    ))));
    let tcp = TcpConfig {
        send_buffer: 64 * 1024,
        recv_buffer: 64 * 1024,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_tcp(Site::Live(live.clone()), HttpConfig::default(), tcp);
    // The client asks and does not read yet: the response stalls mid-body.
    p.client_reads = false;
    p.client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.settle();
    assert_eq!(p.session.pending(), 1, "the response is under way");
    assert_eq!(live.replace(Site::body("new generation\n")), 2);
    assert!(
        old_alive.upgrade().is_some(),
        "the queued response holds the old body"
    );
    p.client_reads = true;
    p.run_for(Duration::from_secs(60));
    assert!(
        old_alive.upgrade().is_none(),
        "freed once no response uses it"
    );
    let got = std::mem::take(&mut p.received);
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got[at..] == old[..], "the old body, whole");
    // The same connection's next request sees the new generation.
    let r = responses(&p.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(r[0].2, "new generation\n");
}

//! `fastpath serve --root` as a person moving from nginx expects it, with curl and wrk
//! across a veth pair (issue: serving files the way nginx users expect): validators and
//! 304, ranges and 416, If-Range, precompressed representations, Cache-Control, live
//! reload, the access log. Every test builds its own namespaces and web root, bounds its
//! load in count and time, and cleans up on every exit path.

mod common;

use std::io::Read;

use common::{serve, stop_report, total, web_root};
use fastpath_testbed::{privileged, VethPair};

const SIGTERM: i32 = 15;

/// curl in the peer namespace: (head, body) of the one response.
fn curl(pair: &VethPair, url: &str, args: &[&str]) -> (String, Vec<u8>) {
    let mut argv = vec!["curl", "-sS", "--max-time", "10", "-i"];
    argv.extend_from_slice(args);
    argv.push(url);
    let out = pair.peer_ns().exec(&argv);
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    (
        String::from_utf8_lossy(&out.stdout[..at]).into_owned(),
        out.stdout[at..].to_vec(),
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(head: &str) -> &str {
    head.lines().next().unwrap_or("")
}

#[test]
fn curl_validators_ranges_and_precompressed_files() {
    if !privileged::check("curl_validators_ranges_and_precompressed_files") {
        return;
    }
    let (dir, _cleanup) = web_root("static-curl", &[("big.bin", 200_000)]);
    let big = std::fs::read(dir.join("big.bin")).unwrap();
    let css = "body { margin: 0; color: #333 }\n".repeat(200);
    std::fs::write(dir.join("site.css"), &css).unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1);\n".repeat(100)).unwrap();
    std::fs::write(dir.join("app.js.br"), b"brotli bytes made elsewhere").unwrap();
    let pair = VethPair::new("static");
    let engine = serve(
        &pair,
        &[
            "--root",
            dir.to_str().unwrap(),
            "--compress",
            "--cache-control",
            "public, max-age=600",
        ],
    );
    let base = format!("http://{}", pair.engine_addr());
    let big_url = format!("{base}/big.bin");

    // Validators: ETag and Last-Modified, then 304 by either, with no body.
    let (head, body) = curl(&pair, &big_url, &[]);
    assert_eq!(status(&head), "HTTP/1.1 200 OK", "{head}");
    assert_eq!(body, big);
    let etag = header(&head, "etag").expect("an ETag").to_string();
    let lm = header(&head, "last-modified")
        .expect("Last-Modified")
        .to_string();
    assert_eq!(header(&head, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&head, "cache-control"), Some("public, max-age=600"));
    assert_eq!(
        header(&head, "content-type"),
        Some("application/octet-stream")
    );
    for cond in [
        format!("If-None-Match: {etag}"),
        format!("If-Modified-Since: {lm}"),
    ] {
        let (head, body) = curl(&pair, &big_url, &["-H", &cond]);
        assert_eq!(status(&head), "HTTP/1.1 304 Not Modified", "{cond}: {head}");
        assert!(body.is_empty());
        assert_eq!(header(&head, "etag"), Some(etag.as_str()));
    }
    let (head, _) = curl(&pair, &big_url, &["-H", "If-None-Match: \"stale\""]);
    assert_eq!(status(&head), "HTTP/1.1 200 OK");
    // HEAD: the GET's head.
    let (head, body) = curl(&pair, &big_url, &["-I"]);
    assert!(
        body.is_empty() && head.contains("Content-Length: 200000\r\n"),
        "{head}"
    );
    assert_eq!(header(&head, "etag"), Some(etag.as_str()));

    // Ranges: the bytes are the file's slice.
    for (range, from, to) in [
        ("0-99", 0, 100),
        ("-100", 199_900, 200_000),
        ("150000-", 150_000, 200_000),
    ] {
        let (head, body) = curl(&pair, &big_url, &["-r", range]);
        assert_eq!(status(&head), "HTTP/1.1 206 Partial Content", "{range}");
        assert_eq!(body, &big[from..to], "{range}");
        let want = format!("bytes {from}-{}/200000", to - 1);
        assert_eq!(header(&head, "content-range"), Some(want.as_str()));
    }
    let (head, _) = curl(&pair, &big_url, &["-r", "200000-"]);
    assert_eq!(status(&head), "HTTP/1.1 416 Range Not Satisfiable");
    assert_eq!(header(&head, "content-range"), Some("bytes */200000"));
    let (head, body) = curl(
        &pair,
        &big_url,
        &["-r", "0-9", "-H", &format!("If-Range: {etag}")],
    );
    assert_eq!(
        (status(&head), body.len()),
        ("HTTP/1.1 206 Partial Content", 10)
    );
    let (head, body) = curl(&pair, &big_url, &["-r", "0-9", "-H", "If-Range: \"stale\""]);
    assert_eq!((status(&head), body.len()), ("HTTP/1.1 200 OK", 200_000));
    // A resumed download: curl -C continues from what it has.
    let (head, body) = curl(&pair, &big_url, &["-C", "123456"]);
    assert_eq!(status(&head), "HTTP/1.1 206 Partial Content");
    assert_eq!(body, &big[123_456..]);

    // gzip made at load: byte-exact after curl decompresses it.
    let css_url = format!("{base}/site.css");
    let (head, body) = curl(&pair, &css_url, &["--compressed"]);
    assert_eq!(header(&head, "content-encoding"), Some("gzip"), "{head}");
    assert_eq!(header(&head, "vary"), Some("Accept-Encoding"));
    assert_eq!(
        header(&head, "content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(body, css.as_bytes());
    let gz_len: usize = header(&head, "content-length").unwrap().parse().unwrap();
    assert!(gz_len < css.len() / 10, "{gz_len}");
    // The raw gzip bytes, and a range of them.
    let (_, raw) = curl(&pair, &css_url, &["-H", "Accept-Encoding: gzip"]);
    let mut back = Vec::new();
    gunzip(&raw, &mut back);
    assert_eq!(back, css.as_bytes());
    let (head, part) = curl(
        &pair,
        &css_url,
        &["-H", "Accept-Encoding: gzip", "-r", "0-9"],
    );
    assert_eq!(status(&head), "HTTP/1.1 206 Partial Content");
    assert_eq!(part, &raw[..10]);
    // Without Accept-Encoding, or with gzip refused: the file itself.
    for args in [&[][..], &["-H", "Accept-Encoding: gzip;q=0"][..]] {
        let (head, body) = curl(&pair, &css_url, args);
        assert_eq!(header(&head, "content-encoding"), None);
        assert_eq!(body, css.as_bytes());
    }
    // A .br beside the file, to a client that prefers it.
    let js_url = format!("{base}/app.js");
    let (head, body) = curl(&pair, &js_url, &["-H", "Accept-Encoding: gzip, br"]);
    assert_eq!(header(&head, "content-encoding"), Some("br"), "{head}");
    assert_eq!(body, b"brotli bytes made elsewhere");

    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    // The one 4xx is the 416.
    assert_eq!(
        (total(&report, "http_4xx"), total(&report, "http_5xx")),
        (1, 0),
        "{report:#}"
    );
}

/// gunzip with the system's `gzip -dc` (the test binary links no decompressor).
fn gunzip(z: &[u8], out: &mut Vec<u8>) {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(z).unwrap();
    child.stdout.take().unwrap().read_to_end(out).unwrap();
    assert!(child.wait().unwrap().success(), "not gzip");
}

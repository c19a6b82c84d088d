//! `fastpath serve --root` as a person moving from nginx expects it, with curl and wrk
//! across a veth pair (issue: serving files the way nginx users expect): validators and
//! 304, ranges and 416, If-Range, precompressed representations, Cache-Control, live
//! reload (SIGHUP and `fastpath reload`), the access log. Every test builds its own namespaces and web root, bounds its
//! load in count and time, and cleans up on every exit path.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{serve, stop_report, total, web_root, Served};
use fastpath_testbed::proc::wait_until;
use fastpath_testbed::{privileged, VethPair};

const SIGTERM: i32 = 15;
const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGUSR1: i32 = 10;

/// curl in the peer namespace: (head, body) of the one response.
fn curl(pair: &VethPair, url: &str, args: &[&str]) -> (String, Vec<u8>) {
    let mut argv = vec!["curl", "-sS", "--max-time", "30", "-i"];
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
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("docs/index.html"), "<a href=page.html>page</a>\n").unwrap();
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

    // A directory without its slash: 301 to DIR/ (relative links resolve inside it).
    let (head, _) = curl(&pair, &format!("{base}/docs?x=1"), &[]);
    assert_eq!(status(&head), "HTTP/1.1 301 Moved Permanently", "{head}");
    assert_eq!(header(&head, "location"), Some("/docs/?x=1"));
    // Followed (-i shows both heads, the 301's first).
    let (_, rest) = curl(&pair, &format!("{base}/docs"), &["-L"]);
    let rest = String::from_utf8_lossy(&rest).into_owned();
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    assert!(
        rest.ends_with("\r\n\r\n<a href=page.html>page</a>\n"),
        "{rest}"
    );

    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert_eq!(
        total(&report, "http_3xx"),
        4,
        "two 304s, two 301s: {report:#}"
    );
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

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// Sends SIGHUP and waits for the engine to log `what` for the `nth` time (its log
/// lines are the fact a reload happened, or failed).
fn hup_and_wait(engine: &mut Served, what: &str, nth: usize) {
    engine.signal(SIGHUP);
    let seen = engine.wait_for_output(Duration::from_secs(30), |_, err| {
        err.matches(what).count() >= nth
    });
    assert!(seen, "no {what:?} #{nth}: {}", engine.stderr_so_far());
}

/// The request rate in the engine's last stats line.
fn last_rate(out: &str) -> f64 {
    out.lines()
        .rev()
        .find_map(|l| l.split_once(" req/s"))
        .and_then(|(before, _)| before.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn reload_under_wrk_load_serves_the_new_tree_without_errors() {
    if !privileged::check("reload_under_wrk_load_serves_the_new_tree_without_errors") {
        return;
    }
    // 8 MB of other files, so a leaked generation would show in the RSS.
    let files: Vec<(String, usize)> = (0..4).map(|i| (format!("blob{i}.bin"), 2 << 20)).collect();
    let names: Vec<(&str, usize)> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let (dir, _cleanup) = web_root("static-reload", &names);
    std::fs::write(dir.join("page.html"), "generation one\n").unwrap();
    let pair = VethPair::new("reload");
    let mut engine = serve(
        &pair,
        &[
            "--root",
            dir.to_str().unwrap(),
            "--root-max-bytes",
            "12000000",
        ],
    );
    let url = format!("http://{}/page.html", pair.engine_addr());
    assert_eq!(curl(&pair, &url, &[]).1, b"generation one\n");

    // Load for the whole test; stopped with SIGINT, after which wrk prints its summary.
    // A 30 s response timeout: a machine busy with other work can starve the engine for
    // seconds, which is not what "no socket errors" is about (connect, read, write).
    let mut wrk = pair.peer_ns().spawn(&[
        "timeout",
        "120",
        "wrk",
        "-t2",
        "-c16",
        "-d100s",
        "--timeout",
        "30s",
        &url,
    ]);
    let loaded = wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
        last_rate(&engine.stdout_so_far()) > 0.0
    });
    assert!(loaded, "wrk never got going: {}", engine.stdout_so_far());

    std::fs::write(dir.join("page.html"), "generation two\n").unwrap();
    hup_and_wait(&mut engine, "generation 2 serving", 1);
    assert_eq!(curl(&pair, &url, &[]).1, b"generation two\n");

    // A tree that does not fit: the old generation keeps serving, the log says why.
    std::fs::write(dir.join("huge.bin"), vec![0u8; 5 << 20]).unwrap();
    std::fs::write(dir.join("page.html"), "generation three\n").unwrap();
    hup_and_wait(&mut engine, "reload failed, generation 2 still serving", 1);
    assert!(engine.stderr_so_far().contains("raise --root-max-bytes"));
    assert_eq!(curl(&pair, &url, &[]).1, b"generation two\n");
    std::fs::remove_file(dir.join("huge.bin")).unwrap();

    // Ten reloads under load: memory stays put (each old generation is freed).
    hup_and_wait(&mut engine, "generation 3 serving", 1);
    let rss_first = rss_kib(engine.pid());
    for g in 4..=13 {
        hup_and_wait(&mut engine, &format!("generation {g} serving"), 1);
    }
    let rss_last = rss_kib(engine.pid());
    println!("RSS after reload 1: {rss_first} KiB, after 10 more: {rss_last} KiB");
    // Ten leaked 8 MB generations would be 80 MB; allow one tree of slack.
    assert!(
        rss_last < rss_first + 12 * 1024,
        "RSS grew from {rss_first} to {rss_last} KiB over 10 reloads"
    );
    assert_eq!(curl(&pair, &url, &[]).1, b"generation three\n");

    wrk.signal(SIGINT);
    let (status, text, err) = wrk.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "wrk: {text}{err}");
    println!("{text}");
    assert!(!text.contains("Socket errors"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(requests > 1000, "{text}");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert_eq!(
        total(&report, "http_requests"),
        total(&report, "http_2xx"),
        "{report:#}"
    );
}

/// `fastpath reload ARGS...`, run here (the control socket is a file): (ok, stdout, stderr).
fn fastpath_reload(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(common::BIN)
        .arg("reload")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fastpath_reload_swaps_the_tree_or_says_why_not() {
    if !privileged::check("fastpath_reload_swaps_the_tree_or_says_why_not") {
        return;
    }
    let (dir, _cleanup) = web_root("static-ctlreload", &[]);
    std::fs::write(dir.join("page.html"), "generation one\n").unwrap();
    let pair = VethPair::new("ctlrl");
    let engine = serve(
        &pair,
        &[
            "--root",
            dir.to_str().unwrap(),
            "--root-max-bytes",
            "100000",
        ],
    );
    let url = format!("http://{}/page.html", pair.engine_addr());
    assert_eq!(curl(&pair, &url, &[]).1, b"generation one\n");
    let iface = pair.engine_if();

    // The command returns once the new tree serves: no waiting on the log.
    std::fs::write(dir.join("page.html"), "generation two\n").unwrap();
    let (ok, out, err) = fastpath_reload(&["--iface", iface]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("generation 2 serving"), "{out}");
    assert!(out.contains("1 file(s)"), "{out}");
    assert_eq!(curl(&pair, &url, &[]).1, b"generation two\n");

    // A tree over --root-max-bytes: non-zero, the reason, and the old tree still serves.
    std::fs::write(dir.join("huge.bin"), vec![0u8; 200_000]).unwrap();
    std::fs::write(dir.join("page.html"), "generation three\n").unwrap();
    let (ok, out, err) = fastpath_reload(&["--iface", iface]);
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("reload failed, generation 2 still serving")
            && err.contains("raise --root-max-bytes"),
        "{err}"
    );
    assert_eq!(curl(&pair, &url, &[]).1, b"generation two\n");
    let (ok, out, err, _) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    assert!(err.contains("fastpath reload: reload failed"), "{err}");

    // An engine serving no --root: non-zero, and it says so.
    let engine = serve(&pair, &["--body", "hi"]);
    let (ok, out, err) = fastpath_reload(&["--iface", iface]);
    assert!(!ok && err.contains("serves no --root"), "{out}{err}");
    let (ok, out, err, _) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
}

fn wrk_summary_ok(text: &str) -> u64 {
    assert!(!text.contains("Socket errors"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    text.lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn access_log_lines_in_combined_and_json() {
    if !privileged::check("access_log_lines_in_combined_and_json") {
        return;
    }
    let (dir, _cleanup) = web_root("static-alog", &[("f.bin", 5000)]);
    let pair = VethPair::new("alog");
    for format in ["combined", "json"] {
        let log = dir.join(format!("access-{format}.log"));
        let engine = serve(
            &pair,
            &[
                "--root",
                dir.to_str().unwrap(),
                "--access-log",
                log.to_str().unwrap(),
                "--access-log-format",
                format,
            ],
        );
        let url = format!("http://{}/f.bin", pair.engine_addr());
        curl(
            &pair,
            &url,
            &["-A", "tester/1.0", "-e", "http://ref.example/"],
        );
        curl(&pair, &url, &["-r", "0-99"]);
        curl(&pair, &url, &["-I"]);
        curl(
            &pair,
            &format!("http://{}/missing", pair.engine_addr()),
            &[],
        );
        let (ok, out, err, report) = stop_report(engine, SIGTERM);
        assert!(ok, "{out}{err}");
        assert!(out.contains("4 line(s) written, 0 dropped"), "{out}");
        assert_eq!(report["access_log"]["written"], 4, "{report:#}");
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let peer = pair.peer_addr().to_string();
        if format == "combined" {
            let want = [
                "\"GET /f.bin HTTP/1.1\" 200 5000 \"http://ref.example/\" \"tester/1.0\"",
                "\"GET /f.bin HTTP/1.1\" 206 100 \"-\" \"curl/",
                "\"HEAD /f.bin HTTP/1.1\" 200 0 \"-\" \"curl/",
                "\"GET /missing HTTP/1.1\" 404 14 \"-\" \"curl/",
            ];
            for (line, want) in lines.iter().zip(want) {
                assert!(line.starts_with(&format!("{peer} - - [")), "{line}");
                assert!(line.contains(" +0000] "), "{line}");
                assert!(line.contains(want), "{line} lacks {want}");
            }
        } else {
            let v: Vec<serde_json::Value> = lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(v[0]["remote_addr"], peer.as_str());
            assert_eq!(v[0]["request"], "GET /f.bin HTTP/1.1");
            assert_eq!(v[0]["http_user_agent"], "tester/1.0");
            assert_eq!(v[0]["http_referer"], "http://ref.example/");
            let statuses: Vec<u64> = v.iter().map(|l| l["status"].as_u64().unwrap()).collect();
            assert_eq!(statuses, [200, 206, 200, 404]);
            let bytes: Vec<u64> = v
                .iter()
                .map(|l| l["body_bytes_sent"].as_u64().unwrap())
                .collect();
            assert_eq!(bytes, [5000, 100, 0, 14]);
        }
    }
}

#[test]
fn logrotate_rename_and_sigusr1_lose_no_uncounted_line() {
    if !privileged::check("logrotate_rename_and_sigusr1_lose_no_uncounted_line") {
        return;
    }
    let (dir, _cleanup) = web_root("static-rotate", &[("f.bin", 100)]);
    let log = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let pair = VethPair::new("rotate");
    let mut engine = serve(
        &pair,
        &[
            "--root",
            dir.to_str().unwrap(),
            "--access-log",
            log.to_str().unwrap(),
        ],
    );
    let url = format!("http://{}/f.bin", pair.engine_addr());
    let mut wrk = pair.peer_ns().spawn(&[
        "timeout",
        "120",
        "wrk",
        "-t2",
        "-c16",
        "-d100s",
        "--timeout",
        "30s",
        &url,
    ]);
    let lines =
        |p: &std::path::Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count() as u64);
    // Rotate while lines are being written.
    let busy = wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
        lines(&log) > 1000
    });
    assert!(busy, "no lines logged under load");
    std::fs::rename(&log, &rotated).unwrap();
    engine.signal(SIGUSR1);
    let reopened = wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
        lines(&log) > 1000
    });
    assert!(
        reopened,
        "no new file after SIGUSR1: {}",
        engine.stderr_so_far()
    );
    wrk.signal(SIGINT);
    let (status, text, err) = wrk.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "wrk: {text}{err}");
    assert!(wrk_summary_ok(&text) > 2000, "{text}");
    let (ok, out, err, report) = stop_report(engine, SIGTERM);
    assert!(ok, "{out}{err}");
    let requests = total(&report, "http_requests");
    let written = report["access_log"]["written"].as_u64().unwrap();
    let dropped = report["access_log"]["dropped"].as_u64().unwrap();
    let failed = report["access_log"]["failed"].as_u64().unwrap();
    let (old, new) = (lines(&rotated), lines(&log));
    println!(
        "requests {requests}: {old} lines before the rotation, {new} after, {dropped} dropped"
    );
    assert_eq!(
        old + new,
        written,
        "every line written is in one of the files"
    );
    assert_eq!(failed, 0);
    assert_eq!(
        written + dropped,
        requests,
        "every request is logged or counted as dropped"
    );
}

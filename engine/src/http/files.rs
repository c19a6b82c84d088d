//! What the loader knows about a file beyond its bytes, all computed once at load, never
//! per request: its content type (the `mime_guess` table), its validators (RFC 9110 8.8:
//! a strong entity tag from its content, `Last-Modified` from its mtime) and its
//! precompressed representations (`FILE.gz` and `FILE.br` beside it, as nginx's
//! `gzip_static` and `brotli_static`; or `.gz` made at load with `--compress`).

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, Mutex, OnceLock};

use super::date::{render, DATE_LEN};

/// A content coding the responder can serve a file in (RFC 9110 8.4.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Coding {
    /// The file's own bytes.
    Identity,
    /// `FILE.gz`.
    Gzip,
    /// `FILE.br`.
    Br,
}

impl Coding {
    /// The `Content-Encoding` value (none for identity).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Br => Some("br"),
        }
    }
}

/// A representation of a file other than its own bytes: its body and its entity tag
/// (RFC 9110 8.8.3: a strong tag differs between representations of one resource).
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The encoded bytes.
    pub body: Arc<[u8]>,
    /// Their strong entity tag, quoted.
    pub etag: Box<str>,
}

/// A file's validators and its precompressed representations.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// The strong entity tag of the file's own bytes, quoted (`"1f4-9c1e..."`).
    pub etag: Box<str>,
    /// Seconds since the Unix epoch: the file's mtime, or the load time if the mtime is
    /// in the future (RFC 9110 8.8.2.1: never later than the response's `Date`).
    pub modified: u64,
    /// `modified` as an IMF-fixdate.
    pub last_modified: [u8; DATE_LEN],
    /// The gzip representation, when `FILE.gz` exists (or `--compress` made it).
    pub gzip: Option<Encoded>,
    /// The brotli representation, when `FILE.br` exists.
    pub br: Option<Encoded>,
}

impl FileInfo {
    /// The validators of `body`, modified at `mtime` (clamped to `now`).
    pub fn new(body: &[u8], mtime: u64, now: u64) -> FileInfo {
        let modified = mtime.min(now);
        FileInfo {
            etag: etag(body),
            modified,
            last_modified: render(modified),
            gzip: None,
            br: None,
        }
    }

    /// Whether any coding other than identity exists (responses then carry `Vary`).
    pub fn has_variants(&self) -> bool {
        self.gzip.is_some() || self.br.is_some()
    }

    /// The representation in `coding`, if the file has it.
    pub fn encoded(&self, coding: Coding) -> Option<&Encoded> {
        match coding {
            Coding::Identity => None,
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Br => self.br.as_ref(),
        }
    }

    /// The entity tag of the representation in `coding`.
    pub fn etag_of(&self, coding: Coding) -> &str {
        self.encoded(coding).map_or(&self.etag, |e| &e.etag)
    }
}

/// A strong entity tag from the content: the same bytes give the same tag across
/// restarts and reloads (so caches keep what did not change), different bytes a
/// different tag even when size and mtime agree. SipHash-1-3 with a fixed key: the tag is
/// public and needs no secret, only a stable, well-spread function.
pub fn etag(body: &[u8]) -> Box<str> {
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    h.write(body);
    format!("\"{:x}-{:016x}\"", body.len(), h.finish()).into_boxed_str()
}

/// The `Content-Type` for a path, from the `mime_guess` table; text types carry
/// `charset=utf-8`; unknown extensions are `application/octet-stream` (nginx's
/// `default_type`).
pub fn content_type(path: &str) -> &'static str {
    let Some(essence) = mime_guess::from_path(path).first_raw() else {
        return "application/octet-stream";
    };
    if essence.starts_with("text/") || essence == "application/javascript" {
        with_charset(essence)
    } else {
        essence
    }
}

/// `essence; charset=utf-8`, made once per distinct type (the table is finite).
fn with_charset(essence: &'static str) -> &'static str {
    static TYPES: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    let mut map = TYPES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(essence)
        .or_insert_with(|| Box::leak(format!("{essence}; charset=utf-8").into_boxed_str()))
}

/// Whether `--compress` makes a `.gz` for this type: text and the structured text types
/// (what nginx users list in `gzip_types`); images, video, archives are compressed
/// already.
pub fn compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
                | "image/x-icon"
                | "image/vnd.microsoft.icon"
                | "font/ttf"
                | "font/otf"
        )
}

/// Below this size gzip's own header and trailer eat most of the gain (nginx
/// `gzip_min_length` is 20; 256 avoids variants that save a handful of bytes).
pub const COMPRESS_MIN: usize = 256;

/// `body` gzipped at the best level (done once at load, so its cost is paid once), or
/// `None` if that saves nothing.
pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 2),
        flate2::Compression::best(),
    );
    enc.write_all(body).ok()?;
    let out = enc.finish().ok()?;
    (out.len() < body.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_table() {
        assert_eq!(content_type("/a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("/a.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("/s/a.css"), "text/css; charset=utf-8");
        assert!(content_type("/a.js").contains("javascript"));
        assert!(content_type("/a.js").ends_with("; charset=utf-8"));
        assert_eq!(content_type("/a.png"), "image/png");
        assert_eq!(content_type("/a.wasm"), "application/wasm");
        assert_eq!(content_type("/a.mp4"), "video/mp4");
        assert_eq!(content_type("/a.avif"), "image/avif");
        assert_eq!(content_type("/noext"), "application/octet-stream");
        assert_eq!(content_type("/a.unknownext"), "application/octet-stream");
        // Interned: the same pointer every time.
        assert!(std::ptr::eq(content_type("/x.css"), content_type("/y.css")));
        assert!(compressible(content_type("/a.js")));
        assert!(compressible("image/svg+xml"));
        assert!(!compressible("image/png"));
    }

    #[test]
    fn etags_follow_content_and_modified_never_passes_now() {
        assert_eq!(etag(b"abc"), etag(b"abc"));
        assert_ne!(etag(b"abc"), etag(b"abd"));
        assert!(etag(b"abc").starts_with("\"3-") && etag(b"abc").ends_with('"'));
        let f = FileInfo::new(b"x", 2_000_000_000, 1_000_000_000);
        assert_eq!(f.modified, 1_000_000_000);
        assert_eq!(&f.last_modified, b"Sun, 09 Sep 2001 01:46:40 GMT");
    }

    #[test]
    fn gzip_round_trips_and_refuses_to_grow() {
        use std::io::Read;
        let text = "hello, world. ".repeat(100);
        let z = gzip(text.as_bytes()).unwrap();
        assert!(z.len() < text.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
        assert!(gzip(b"x").is_none());
    }
}

//! What the responder serves: one body for every path (`--body`), a directory loaded
//! into memory (`--root`, see `load.rs`), a program's handler, or any of these behind a
//! `LiveSite` that a reload replaces while serving.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::files::FileInfo;

/// One thing to serve.
#[derive(Clone, Debug)]
pub struct Resource {
    /// The Content-Type header's value.
    pub content_type: &'static str,
    /// The body, shared by every response that serves it.
    pub body: Arc<[u8]>,
    /// A file's validators and precompressed representations (`None`: the body alone,
    /// served without `ETag` or `Last-Modified`).
    pub file: Option<Arc<FileInfo>>,
}

impl Resource {
    /// A body with its content type, nothing more.
    pub fn new(content_type: &'static str, body: impl Into<Arc<[u8]>>) -> Resource {
        Resource {
            content_type,
            body: body.into(),
            file: None,
        }
    }
}

/// Answers requests with the program's own content (a program that embeds the engine).
/// Called on the worker's core for every GET and HEAD, with the request target (path and
/// query); `None` answers 404. Must not block: it runs between two packets.
pub trait Handler: Send + Sync {
    /// The resource for `target` (path and query), or `None` for 404.
    fn respond(&self, target: &str) -> Option<Resource>;
}

/// What the responder serves.
#[derive(Clone)]
pub enum Site {
    /// The same body for every GET or HEAD.
    Body(Resource),
    /// Whatever the program's handler answers.
    Handler(Arc<dyn Handler>),
    /// Files by URL path ("/index.html"); "/" and directory paths map to their index.html.
    Root {
        /// Resources by URL path.
        files: HashMap<String, Resource>,
        /// Bytes of all bodies together.
        bytes: usize,
    },
    /// Whatever site the `LiveSite` holds at the moment of each request.
    Live(Arc<LiveSite>),
    /// The program's handler, with the whole request in view (method, headers, body)
    /// and the whole response in hand (status, headers, body).
    Requests(Arc<dyn super::RequestHandler>),
}

/// A site that can be replaced while it serves (a reload). Each request looks up the
/// generation current when it arrives; a response already queued keeps the bodies it
/// shares (`Arc`) until it is written, so in-flight responses finish on the old
/// generation, which is freed when the last of them is. The swap is one atomic pointer
/// store (`arc-swap`); a lookup takes no lock and allocates nothing.
///
/// ```no_run
/// use std::sync::Arc;
/// use fastpath_engine::http::{LiveSite, LoadOptions, Site};
/// use fastpath_engine::runtime::{EngineConfig, Service};
/// let dir = std::path::Path::new("/srv/www");
/// let live = Arc::new(LiveSite::new(Site::load(dir, &LoadOptions::default())?));
/// let mut config = EngineConfig::new("eth1", "192.0.2.10/24".parse().unwrap());
/// config.service = Service::Http(Arc::new(Site::Live(live.clone())));
/// // Later, from any thread (the engine keeps serving meanwhile):
/// let generation = live.replace(Site::load(dir, &LoadOptions::default())?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LiveSite {
    current: ArcSwap<Site>,
    generation: AtomicU64,
}

impl LiveSite {
    /// Serves `site` until the first swap.
    pub fn new(site: Site) -> LiveSite {
        LiveSite {
            current: ArcSwap::from_pointee(site),
            generation: AtomicU64::new(1),
        }
    }

    /// Serves `site` from the next request on. Returns the new generation's number.
    pub fn replace(&self, site: Site) -> u64 {
        self.current.store(Arc::new(site));
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The site serving now.
    pub fn current(&self) -> Arc<Site> {
        self.current.load_full()
    }

    /// 1 for the site it was made with, one more for each `replace`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Site::Body(r) => f.debug_tuple("Body").field(r).finish(),
            Site::Handler(_) => f.write_str("Handler(..)"),
            Site::Requests(_) => f.write_str("Requests(..)"),
            Site::Root { files, bytes } => f
                .debug_struct("Root")
                .field("files", &files.len())
                .field("bytes", bytes)
                .finish(),
            Site::Live(l) => f
                .debug_struct("Live")
                .field("generation", &l.generation())
                .field("site", &*l.current())
                .finish(),
        }
    }
}

/// Why a directory could not be loaded, in the engine's words (a command line maps them
/// to its flags).
#[derive(Debug)]
pub enum SiteError {
    /// The tree holds more bytes than the limit (`LoadOptions::max_bytes`): the responder
    /// serves from memory.
    TooLarge {
        /// The root directory.
        root: std::path::PathBuf,
        /// The bytes counted when the limit was passed.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
        /// The `.gz` copies made at load (`LoadOptions::compress`) were counted.
        with_copies: bool,
    },
    /// The root is not a directory, or it or a file under it could not be read.
    Read(String),
}

impl std::fmt::Display for SiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteError::TooLarge {
                root,
                bytes,
                max_bytes,
                with_copies,
            } => write!(
                f,
                "{}: {bytes} bytes{}, more than the limit of {max_bytes}; the responder \
                 serves from memory",
                root.display(),
                if *with_copies {
                    " with the .gz copies made at load"
                } else {
                    ""
                }
            ),
            SiteError::Read(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for SiteError {}

/// The longest `Location` a directory redirect writes.
pub(super) const REDIRECT_MAX: usize = 512;

/// A lookup's result.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A resource of the site.
    Found(&'a Resource),
    /// Made by a handler for this request.
    Made(Resource),
    /// A directory named without its trailing slash: 301 to this location.
    Redirect(String),
    /// No resource for this path (404).
    NotFound,
    /// The path tries to leave the root ("..") or is not a clean absolute path.
    Forbidden,
}

impl Site {
    /// The default when neither `--body` nor `--root` is given.
    pub fn hello() -> Site {
        Site::body("Hello from fastpath\n")
    }

    /// The handler that answers whole requests, if this site is one (or a live site
    /// holds one now).
    pub(super) fn request_handler(&self) -> Option<Arc<dyn super::RequestHandler>> {
        match self {
            Site::Requests(h) => Some(h.clone()),
            Site::Live(l) => l.current.load().request_handler(),
            _ => None,
        }
    }

    /// `text` as a plain-text body for every path.
    pub fn body(text: &str) -> Site {
        Site::Body(Resource::new("text/plain; charset=utf-8", text.as_bytes()))
    }

    /// The resource for a request target (its path; a query string is ignored). No
    /// allocation unless the path is percent-encoded or names a directory.
    pub fn lookup(&self, target: &str) -> Lookup<'_> {
        match self {
            Site::Handler(h) => return h.respond(target).map_or(Lookup::NotFound, Lookup::Made),
            Site::Live(l) => {
                return match l.current.load().lookup(target) {
                    Lookup::Found(r) => Lookup::Made(r.clone()),
                    Lookup::Made(r) => Lookup::Made(r),
                    Lookup::Redirect(to) => Lookup::Redirect(to),
                    Lookup::NotFound => Lookup::NotFound,
                    Lookup::Forbidden => Lookup::Forbidden,
                }
            }
            _ => {}
        }
        let raw = target.split(['?', '#']).next().unwrap_or("");
        let path = raw;
        let decoded;
        let path = if path.contains('%') {
            match clean_path(path) {
                Some(p) => {
                    decoded = p;
                    decoded.as_str()
                }
                None => return Lookup::Forbidden,
            }
        } else if is_clean(path) {
            path
        } else {
            return Lookup::Forbidden;
        };
        match self {
            Site::Body(r) => Lookup::Found(r),
            Site::Handler(_) | Site::Live(_) | Site::Requests(_) => Lookup::NotFound,
            Site::Root { files, .. } => {
                if let Some(r) = files.get(path) {
                    return Lookup::Found(r);
                }
                if path.ends_with('/') {
                    return with_index(path, "index.html", |p| files.get(p))
                        .map_or(Lookup::NotFound, Lookup::Found);
                }
                let Some(r) = with_index(path, "/index.html", |p| files.get(p)) else {
                    return Lookup::NotFound;
                };
                // A directory named without its slash: nginx answers 301 to DIR/, so that
                // the page's relative links resolve inside the directory. The query
                // string goes along. A target too long to fit a head gets the page.
                let query = &target[raw.len()..];
                let query = query.split('#').next().unwrap_or("");
                if raw.len() + query.len() < REDIRECT_MAX {
                    Lookup::Redirect(format!("{raw}/{query}"))
                } else {
                    Lookup::Found(r)
                }
            }
        }
    }
}

/// Calls `f` with `path` + `suffix`, built on the stack (no allocation for the paths a
/// site has: "/" is the most requested of all).
fn with_index<R>(path: &str, suffix: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 256];
    let n = path.len() + suffix.len();
    if n > buf.len() {
        return f(&format!("{path}{suffix}"));
    }
    buf[..path.len()].copy_from_slice(path.as_bytes());
    buf[path.len()..n].copy_from_slice(suffix.as_bytes());
    // Both halves are UTF-8, so is the whole.
    f(std::str::from_utf8(&buf[..n]).unwrap_or_default())
}

/// An absolute path with no "..", NUL or backslash.
fn is_clean(path: &str) -> bool {
    path.starts_with('/') && !path.contains(['\0', '\\']) && !path.split('/').any(|seg| seg == "..")
}

/// Percent-decodes an absolute path and refuses anything that could leave the root: "..",
/// NUL, backslashes, a relative path.
fn clean_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    is_clean(&s).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_tree_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("fastpath-site-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(dir.join("sub/a.css"), "body{}").unwrap();
        std::fs::write(dir.join("sub/index.html"), "sub").unwrap();
        let site = Site::load_dir(&dir, 1 << 20).unwrap();
        let found = |t: &str| match site.lookup(t) {
            Lookup::Found(r) => Some((r.content_type, r.body.to_vec())),
            _ => None,
        };
        assert_eq!(found("/").unwrap().1, b"<h1>hi</h1>");
        assert_eq!(
            found("/index.html?x=1").unwrap().0,
            "text/html; charset=utf-8"
        );
        assert_eq!(found("/sub/a.css").unwrap().0, "text/css; charset=utf-8");
        match site.lookup("/sub?x=1") {
            Lookup::Redirect(to) => assert_eq!(to, "/sub/?x=1"),
            other => panic!("{other:?}"),
        }
        match site.lookup("/s%75b") {
            Lookup::Redirect(to) => assert_eq!(to, "/s%75b/"),
            other => panic!("{other:?}"),
        }
        assert_eq!(found("/sub/").unwrap().1, b"sub");
        assert_eq!(found("/s%75b/a.css").unwrap().1, b"body{}");
        assert!(matches!(site.lookup("/nope"), Lookup::NotFound));
        for bad in [
            "/../etc/passwd",
            "/sub/../../x",
            "/%2e%2e/x",
            "relative",
            "/a%00b",
            "/%zz",
        ] {
            assert!(matches!(site.lookup(bad), Lookup::Forbidden), "{bad}");
        }
        assert!(Site::load_dir(&dir, 5).is_err(), "size cap");
        assert!(
            Site::load_dir(&dir.join("index.html"), 1 << 20).is_err(),
            "not a dir"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

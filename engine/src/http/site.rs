//! What the responder serves: one body for every path (`--body`), or a directory loaded
//! into memory at start (`--root`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One thing to serve.
#[derive(Clone, Debug)]
pub struct Resource {
    /// The Content-Type header's value.
    pub content_type: &'static str,
    /// The body, shared by every response that serves it.
    pub body: Arc<[u8]>,
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
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Site::Body(r) => f.debug_tuple("Body").field(r).finish(),
            Site::Handler(_) => f.write_str("Handler(..)"),
            Site::Root { files, bytes } => f
                .debug_struct("Root")
                .field("files", &files.len())
                .field("bytes", bytes)
                .finish(),
        }
    }
}

/// Why a directory could not be loaded.
#[derive(Debug)]
pub struct SiteError(pub String);

impl std::fmt::Display for SiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SiteError {}

/// A lookup's result.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A resource of the site.
    Found(&'a Resource),
    /// Made by a handler for this request.
    Made(Resource),
    /// No resource for this path (404).
    NotFound,
    /// The path tries to leave the root ("..") or is not a clean absolute path.
    Forbidden,
}

/// The Content-Type for a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

impl Site {
    /// The default when neither `--body` nor `--root` is given.
    pub fn hello() -> Site {
        Site::body("Hello from fastpath\n")
    }

    /// `text` as a plain-text body for every path.
    pub fn body(text: &str) -> Site {
        Site::Body(Resource {
            content_type: "text/plain; charset=utf-8",
            body: Arc::from(text.as_bytes()),
        })
    }

    /// Loads every regular file under `root` (following no symlinks out of it), at most
    /// `max_bytes` in total.
    pub fn load_dir(root: &Path, max_bytes: usize) -> Result<Site, SiteError> {
        let meta = std::fs::metadata(root)
            .map_err(|e| SiteError(format!("--root {}: {e}", root.display())))?;
        if !meta.is_dir() {
            return Err(SiteError(format!(
                "--root {}: not a directory",
                root.display()
            )));
        }
        let root = root
            .canonicalize()
            .map_err(|e| SiteError(format!("--root {}: {e}", root.display())))?;
        let mut files = HashMap::new();
        let mut bytes = 0usize;
        let mut stack: Vec<PathBuf> = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| SiteError(format!("reading {}: {e}", dir.display())))?;
            for entry in entries {
                let entry =
                    entry.map_err(|e| SiteError(format!("reading {}: {e}", dir.display())))?;
                let path = entry.path();
                let ft = entry
                    .file_type()
                    .map_err(|e| SiteError(format!("{}: {e}", path.display())))?;
                if ft.is_symlink() {
                    // Only links that stay inside the root are served.
                    match path.canonicalize() {
                        Ok(t) if t.starts_with(&root) && t.is_file() => {}
                        _ => continue,
                    }
                } else if ft.is_dir() {
                    stack.push(path);
                    continue;
                } else if !ft.is_file() {
                    continue;
                }
                let data = std::fs::read(&path)
                    .map_err(|e| SiteError(format!("reading {}: {e}", path.display())))?;
                bytes += data.len();
                if bytes > max_bytes {
                    return Err(SiteError(format!(
                        "--root {}: more than {max_bytes} bytes; the responder serves from memory (raise --root-max-bytes)",
                        root.display()
                    )));
                }
                let rel = path.strip_prefix(&root).expect("under the root");
                let Some(rel) = rel.to_str() else {
                    continue; // not UTF-8: no URL names it
                };
                let url = format!("/{}", rel.replace(std::path::MAIN_SEPARATOR, "/"));
                files.insert(
                    url.clone(),
                    Resource {
                        content_type: content_type(&url),
                        body: Arc::from(data),
                    },
                );
            }
        }
        Ok(Site::Root { files, bytes })
    }

    /// The resource for a request target (its path; a query string is ignored). No
    /// allocation unless the path is percent-encoded or names a directory.
    pub fn lookup(&self, target: &str) -> Lookup<'_> {
        if let Site::Handler(h) = self {
            return h.respond(target).map_or(Lookup::NotFound, Lookup::Made);
        }
        let path = target.split(['?', '#']).next().unwrap_or("");
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
            Site::Handler(_) => Lookup::NotFound,
            Site::Root { files, .. } => {
                if let Some(r) = files.get(path) {
                    return Lookup::Found(r);
                }
                let index = if path.ends_with('/') {
                    format!("{path}index.html")
                } else {
                    format!("{path}/index.html")
                };
                files
                    .get(index.as_str())
                    .map_or(Lookup::NotFound, Lookup::Found)
            }
        }
    }
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
        assert_eq!(found("/sub").unwrap().1, b"sub");
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

//! Loading a directory into memory: every regular file under the root (symlinks only if
//! they stay inside it), with its content type, validators and precompressed
//! representations (`files.rs`), all computed here once, so a request costs a lookup.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::files::{self, content_type, Encoded, FileInfo};
use super::site::{Resource, Site, SiteError};

/// How a directory is loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// The most bytes the tree may hold in memory, made `.gz` copies included.
    pub max_bytes: usize,
    /// Make a `.gz` representation of each compressible file that has none beside it
    /// (best level, once, here; never per request).
    pub compress: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_bytes: 1 << 30,
            compress: false,
        }
    }
}

/// One file read from disk.
struct Loaded {
    body: Arc<[u8]>,
    info: FileInfo,
    disk: PathBuf,
}

impl Site {
    /// Loads every regular file under `root` (following no symlinks out of it), at most
    /// `max_bytes` in total.
    pub fn load_dir(root: &Path, max_bytes: usize) -> Result<Site, SiteError> {
        Site::load(
            root,
            &LoadOptions {
                max_bytes,
                ..LoadOptions::default()
            },
        )
    }

    /// Loads `root` as `opts` say. `FILE.gz` and `FILE.br` beside `FILE` become its
    /// gzip and brotli representations (and stay files of their own too).
    pub fn load(root: &Path, opts: &LoadOptions) -> Result<Site, SiteError> {
        let (root, mut raw, mut bytes) = read_tree(root, opts.max_bytes)?;
        let too_big = |bytes: usize| {
            SiteError(format!(
                "--root {}: {bytes} bytes with the .gz copies --compress makes, more than {}; \
                 the responder serves from memory (raise --root-max-bytes, or drop --compress)",
                root.display(),
                opts.max_bytes
            ))
        };
        let sidecar = |raw: &HashMap<String, Loaded>, url: &str, ext: &str, of: &Loaded| {
            raw.get(&format!("{url}.{ext}")).map(|s| {
                if s.info.modified < of.info.modified {
                    tracing::warn!(
                        "{} is older than {}: served anyway to clients that accept it (as \
                         nginx's gzip_static does); recompress it",
                        s.disk.display(),
                        of.disk.display()
                    );
                }
                Encoded {
                    body: s.body.clone(),
                    etag: s.info.etag.clone(),
                }
            })
        };
        let mut variants: Vec<(String, Option<Encoded>, Option<Encoded>)> = Vec::new();
        for (url, f) in &raw {
            let mut gz = sidecar(&raw, url, "gz", f);
            let br = sidecar(&raw, url, "br", f);
            if gz.is_none()
                && opts.compress
                && f.body.len() >= files::COMPRESS_MIN
                && files::compressible(content_type(url))
            {
                if let Some(z) = files::gzip(&f.body) {
                    bytes += z.len();
                    if bytes > opts.max_bytes {
                        return Err(too_big(bytes));
                    }
                    gz = Some(Encoded {
                        etag: files::etag(&z),
                        body: Arc::from(z),
                    });
                }
            }
            if gz.is_some() || br.is_some() {
                variants.push((url.clone(), gz, br));
            }
        }
        for (url, gz, br) in variants {
            let f = raw.get_mut(&url).expect("listed above");
            f.info.gzip = gz;
            f.info.br = br;
        }
        let files = raw
            .into_iter()
            .map(|(url, f)| {
                let r = Resource {
                    content_type: content_type(&url),
                    body: f.body,
                    file: Some(Arc::new(f.info)),
                };
                (url, r)
            })
            .collect();
        Ok(Site::Root { files, bytes })
    }
}

/// Reads every file under `root`: (canonical root, files by URL path, total bytes).
fn read_tree(
    root: &Path,
    max_bytes: usize,
) -> Result<(PathBuf, HashMap<String, Loaded>, usize), SiteError> {
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut files = HashMap::new();
    let mut bytes = 0usize;
    let mut stack: Vec<PathBuf> = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| SiteError(format!("reading {}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| SiteError(format!("reading {}: {e}", dir.display())))?;
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
            let mtime = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(now, |d| d.as_secs());
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
            let info = FileInfo::new(&data, mtime, now);
            files.insert(
                url,
                Loaded {
                    body: Arc::from(data),
                    info,
                    disk: path,
                },
            );
        }
    }
    Ok((root, files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::files::Coding;
    use crate::http::Lookup;

    fn file<'a>(site: &'a Site, url: &str) -> &'a Resource {
        match site.lookup(url) {
            Lookup::Found(r) => r,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn sidecars_and_compress_at_load() {
        let dir = std::env::temp_dir().join(format!("fastpath-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let css = "body { color: red }\n".repeat(50);
        std::fs::write(dir.join("a.css"), &css).unwrap();
        std::fs::write(dir.join("a.css.gz"), b"not really gzip").unwrap();
        std::fs::write(dir.join("a.css.br"), b"not really br").unwrap();
        std::fs::write(dir.join("b.js"), "let x = 1;\n".repeat(100)).unwrap();
        std::fs::write(dir.join("c.png"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.join("tiny.txt"), "small").unwrap();

        let plain = Site::load_dir(&dir, 1 << 20).unwrap();
        let a = file(&plain, "/a.css").file.clone().unwrap();
        assert_eq!(&a.gzip.as_ref().unwrap().body[..], b"not really gzip");
        assert_eq!(&a.br.as_ref().unwrap().body[..], b"not really br");
        let tags = [Coding::Identity, Coding::Gzip, Coding::Br].map(|c| a.etag_of(c));
        assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);
        // The sidecar is also a file of its own, sharing its bytes.
        let gz = file(&plain, "/a.css.gz");
        assert!(Arc::ptr_eq(&gz.body, &a.gzip.as_ref().unwrap().body));
        assert!(file(&plain, "/b.js").file.as_ref().unwrap().gzip.is_none());

        let opts = LoadOptions {
            max_bytes: 1 << 20,
            compress: true,
        };
        let site = Site::load(&dir, &opts).unwrap();
        let b = file(&site, "/b.js").file.clone().unwrap();
        let z = &b.gzip.as_ref().unwrap().body;
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&z[..]), &mut back).unwrap();
        assert_eq!(back, "let x = 1;\n".repeat(100).as_bytes());
        // The sidecar on disk wins over compressing; images and tiny files get none.
        let a = file(&site, "/a.css").file.clone().unwrap();
        assert_eq!(&a.gzip.as_ref().unwrap().body[..], b"not really gzip");
        assert!(file(&site, "/c.png").file.as_ref().unwrap().gzip.is_none());
        assert!(file(&site, "/tiny.txt")
            .file
            .as_ref()
            .unwrap()
            .gzip
            .is_none());
        // The copies count against the cap, and the error says what to do.
        let total: usize = ["a.css", "a.css.gz", "a.css.br", "b.js", "c.png", "tiny.txt"]
            .iter()
            .map(|f| std::fs::metadata(dir.join(f)).unwrap().len() as usize)
            .sum();
        let e = Site::load(
            &dir,
            &LoadOptions {
                max_bytes: total,
                compress: true,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("--compress"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! A JSON API on the engine, with handlers that see the whole request:
//!
//!     sudo cargo run --release -p fastpath-engine --example api -- \
//!         --iface eth1 --ip 192.0.2.10/24 --port 8080
//!     curl http://192.0.2.10:8080/hello                       # {"hello":"world",...}
//!     curl --data-binary @file http://192.0.2.10:8080/echo -i # the file back, and
//!                                                             # X-Body-Sha256: its digest
//!
//! `POST /echo` answers the request body back (read whole, by `Content-Length` or
//! chunked, up to `--max-body`; 413 and a close beyond) with its SHA-256 in
//! `X-Body-Sha256`; `GET /hello` answers a small JSON object; `GET /panic` is a handler
//! bug on purpose: its client gets a 500, the worker counts it and keeps serving.
//! `--root DIR` serves a directory for every other path, as `fastpath serve --root`
//! does: static files are one handler among the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Parser;
use fastpath_engine::http::{LoadOptions, Request, Response, Routes, Site};
use fastpath_engine::runtime::Service;
use sha2::{Digest, Sha256};

mod common;

/// A JSON API on the engine.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Request bodies beyond this many bytes get 413 and a close.
    #[arg(long = "max-body", value_name = "N", default_value_t = 1 << 20)]
    max_body: u64,
    /// Serve this directory for the paths the API does not take.
    #[arg(long, value_name = "DIR")]
    root: Option<std::path::PathBuf>,
}

/// `POST /echo`: the body back, with its digest.
fn echo(r: &Request<'_>) -> Response {
    let digest = Sha256::digest(r.body());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let kind = r
        .header("content-type")
        .unwrap_or(b"application/octet-stream");
    Response::new(200)
        .header("Content-Type", kind)
        .header("X-Body-Sha256", hex)
        .body(r.body())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let served = Arc::new(AtomicU64::new(0));
    let hello = {
        let served = served.clone();
        move |r: &Request<'_>| {
            let n = served.fetch_add(1, Ordering::Relaxed) + 1;
            let agent = r.header("user-agent").unwrap_or_default();
            Response::json(format!(
                "{{\"hello\":\"world\",\"request\":{n},\"agent\":{}}}",
                serde_json::Value::from(String::from_utf8_lossy(agent))
            ))
        }
    };
    let mut routes = Routes::new()
        .route("POST", "/echo", echo)
        .route("GET", "/hello", hello)
        .route("GET", "/panic", |_: &Request<'_>| -> Response {
            panic!("GET /panic: a handler bug, on purpose")
        });
    if let Some(dir) = &args.root {
        routes = routes.fallback(Site::load(dir, &LoadOptions::default())?);
    }
    let mut config = args.common.config();
    (config.ports, config.app_ports) = (vec![args.common.port], Vec::new());
    config.http.max_body = args.max_body;
    config.service = Service::requests(routes);
    common::run(config, &format!("the API on port {}", args.common.port))
}

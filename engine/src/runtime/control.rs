//! The control channel: a unix socket per running engine (`/run/fastpath/IFACE.sock` by
//! default) where `fastpath stat` and `fastpath ss` ask what the engine is doing
//! and `fastpath reload` has it reload.
//!
//! Protocol (version 1): JSON lines. A request is one object per line,
//! `{"v":1,"cmd":"status"}`, `{"v":1,"cmd":"connections"}`, `{"v":1,"cmd":"metrics"}` or
//! `{"v":1,"cmd":"reload"}`; each gets one line back, `{"v":1,"ok":true,...}` or
//! `{"v":1,"ok":false,"error":"..."}`. `reload` runs the hook the embedding program gave
//! (`EngineConfig::reload`) on this client's control thread, never on a worker, and
//! answers when it is done: `"generation"` and `"message"` either way, `ok:false` with
//! the message as `"error"` when the load failed (the old content keeps serving) or no
//! hook was given.
//! A client may ask several times on one connection. An unknown field is ignored; a
//! request with another `v` is answered with an error naming the version spoken here.
//!
//! Who may ask: the socket is created mode 0600, owned by the user who started the
//! engine, and a peer whose uid (SO_PEERCRED) is not that owner's is refused. Counters
//! come from the workers' published snapshots; connection tables and gauges from the
//! workers themselves, each answering between batches (`worker::inspect`). A socket file
//! left by an engine that died is replaced; one an engine still answers on is an error.
//! The socket is removed when the engine stops.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::afxdp::peer_uid;
use crate::stats::{Counters, Published};
use crate::table::SocketTable;
use crate::worker::{Answer, InspectHandle, Query, WorkerGauges};

use super::config::ReloadHook;
use super::report::{AddrReport, QueueInfo};
use super::StartError;

/// The protocol version this engine speaks.
pub const VERSION: u64 = 1;

/// Clients served at once; one more is told the engine is busy.
const MAX_CLIENTS: usize = 8;
/// A client silent this long is dropped (`fastpath stat` asks every second).
const IDLE: Duration = Duration::from_secs(30);
/// A request line longer than this is refused.
const MAX_LINE: u64 = 64 * 1024;
/// How long a worker may take to answer one question.
const WORKER_TIMEOUT: Duration = Duration::from_secs(1);
/// A pause after a failed accept (out of file descriptors), so it is not retried hot.
const TICK: Duration = Duration::from_millis(50);

/// Where an engine on `iface` listens for control requests unless told otherwise.
pub fn default_control_path(iface: &str) -> PathBuf {
    PathBuf::from(format!("/run/fastpath/{iface}.sock"))
}

/// What the control thread (and the metrics listener) read about a running engine.
pub(crate) struct View {
    pub iface: String,
    pub addrs: Vec<AddrReport>,
    pub ports: Vec<u16>,
    pub local_ports: (u16, u16),
    pub xdp_mode: &'static str,
    pub native_refused: Option<String>,
    pub busy_poll: bool,
    pub queues: Vec<QueueInfo>,
    pub published: Vec<Arc<Published>>,
    pub inspect: Vec<InspectHandle>,
    pub table: Arc<SocketTable>,
    pub started: Instant,
    /// Seconds since the Unix epoch at start.
    pub started_unix: u64,
    pub control: Option<PathBuf>,
    pub metrics: Option<std::net::SocketAddr>,
    /// What a `reload` request runs.
    pub reload: Option<ReloadHook>,
}

impl View {
    /// Each worker's gauges (`None` for one that did not answer in time).
    pub fn gauges(&self) -> Vec<Option<WorkerGauges>> {
        // Ask every worker first, then collect: one timeout at most, not one per worker.
        let asked: Vec<_> = self.inspect.iter().map(|h| h.send(Query::Gauges)).collect();
        let deadline = Instant::now() + WORKER_TIMEOUT;
        asked
            .into_iter()
            .map(|a| match a?.recv_deadline(deadline) {
                Ok(Answer::Gauges(g)) => Some(g),
                _ => None,
            })
            .collect()
    }

    pub fn counters(&self) -> Vec<Counters> {
        self.published.iter().map(|p| p.load()).collect()
    }

    /// The `status` answer: what runs, and each queue's counters and gauges.
    pub fn status(&self) -> Value {
        let counters = self.counters();
        let gauges = self.gauges();
        let mut total = Counters::default();
        for c in &counters {
            total.add(c);
        }
        let queues: Vec<Value> = self
            .queues
            .iter()
            .zip(counters.iter().zip(&gauges))
            .map(|(q, (c, g))| {
                json!({
                    "queue": q.queue,
                    "core": q.core,
                    "afxdp_mode": q.afxdp_mode,
                    "fallback": q.fallback,
                    "counters": c,
                    "gauges": g,
                })
            })
            .collect();
        json!({
            "iface": self.iface,
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "started_unix": self.started_unix,
            "xdp": {"mode": self.xdp_mode, "native_refused": self.native_refused},
            "busy_poll": self.busy_poll,
            "addrs": self.addrs,
            "ports": self.ports,
            "local_ports": [self.local_ports.0, self.local_ports.1],
            "control": self.control,
            "metrics": self.metrics.map(|a| a.to_string()),
            "table_entries": self.table.len(),
            "queues": queues,
            "total": total,
        })
    }

    /// The `connections` answer: every worker's connections, listed by the workers.
    pub fn connections(&self) -> Value {
        let mut conns = Vec::new();
        let mut silent = Vec::new();
        for (h, q) in self.inspect.iter().zip(&self.queues) {
            match h.connections(WORKER_TIMEOUT) {
                Some(list) => conns.extend(list),
                None => silent.push(q.queue),
            }
        }
        json!({"connections": conns, "queues_not_answering": silent})
    }

    /// The `reload` answer: the hook's outcome, an error when it failed or there is none.
    pub fn reload(&self) -> Value {
        let Some(hook) = &self.reload else {
            return error(
                "nothing to reload: the program running this engine registered no reload hook",
            );
        };
        let out = hook.run();
        if out.ok {
            json!({"generation": out.generation, "message": out.message})
        } else {
            let mut e = error(&out.message);
            e["generation"] = json!(out.generation);
            e
        }
    }
}

/// The control thread and its socket; stopping it removes the socket.
pub(crate) struct Control {
    path: PathBuf,
    /// Bound, not yet served.
    listener: Option<UnixListener>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    /// Binds `path` (replacing a stale socket, refusing a live one) before the engine
    /// touches the interface; nothing is answered until [`Control::serve`]. Dropped
    /// before that, the socket is removed.
    pub fn bind(path: &Path) -> Result<Control, StartError> {
        let listener = bind(path)?;
        Ok(Control {
            path: path.to_path_buf(),
            listener: Some(listener),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        })
    }

    /// Starts answering, from `view`.
    pub fn serve(&mut self, view: Arc<View>) -> Result<(), StartError> {
        let path = self.path.clone();
        let fail = |err| StartError::Control {
            path: path.clone(),
            err,
        };
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        // The socket's owner is whoever the engine runs as: the only uid let in.
        let owner = std::fs::metadata(&self.path).map_err(fail)?.uid();
        let flag = self.stop.clone();
        let thread = std::thread::Builder::new()
            .name("fastpath-control".into())
            .spawn(move || accept_loop(listener, owner, view, &flag))
            .map_err(|err| StartError::Os {
                what: "starting the control thread",
                err,
            })?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Binds and serves at once (tests).
    #[cfg(test)]
    pub fn start(path: &Path, view: Arc<View>) -> Result<Control, StartError> {
        let mut c = Control::bind(path)?;
        c.serve(view)?;
        Ok(c)
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // The thread waits in accept(): a connection of our own gets it to look at
            // the flag. Should that fail (the socket file was removed), it is left to end
            // with the process rather than waited for.
            if UnixStream::connect(&self.path).is_ok() {
                let _ = t.join();
            }
        }
        self.listener = None;
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
            self.path = PathBuf::new();
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The socket at `path`: a stale one (nobody answers) is replaced, a live one refused.
fn bind(path: &Path) -> Result<UnixListener, StartError> {
    let fail = |err| StartError::Control {
        path: path.to_path_buf(),
        err,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(fail(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket; give another control path",
            )));
        }
        match UnixStream::connect(path) {
            Ok(_) => return Err(StartError::ControlInUse(path.to_path_buf())),
            Err(_) => {
                tracing::info!(
                    "replacing {}, left by an engine that stopped",
                    path.display()
                );
                std::fs::remove_file(path).map_err(fail)?;
            }
        }
    }
    let listener = UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    Ok(listener)
}

fn accept_loop(listener: UnixListener, owner: u32, view: Arc<View>, stop: &AtomicBool) {
    let clients = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let mut stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("control socket: {e}");
                std::thread::sleep(TICK);
                continue;
            }
        };
        match peer_uid(&stream) {
            Ok(uid) if uid == owner => {}
            Ok(uid) => {
                tracing::warn!(
                    "control socket: refused a client with uid {uid} (the engine's is {owner})"
                );
                let _ = reply(
                    &mut stream,
                    &error(&format!(
                        "refused: uid {uid} is not the engine's ({owner}); ask as that user"
                    )),
                );
                continue;
            }
            Err(e) => {
                tracing::warn!("control socket: reading the peer's credentials: {e}");
                continue;
            }
        }
        if clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            clients.fetch_sub(1, Ordering::AcqRel);
            let _ = reply(
                &mut stream,
                &error("busy: too many control clients at once"),
            );
            continue;
        }
        let (view, clients) = (view.clone(), clients.clone());
        let spawned = std::thread::Builder::new()
            .name("fastpath-ctl-client".into())
            .spawn(move || {
                let _ = serve_client(stream, &view);
                clients.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            tracing::warn!("control socket: could not start a client thread");
        }
    }
}

fn serve_client(stream: UnixStream, view: &View) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut input).take(MAX_LINE).read_line(&mut line)?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') && n as u64 == MAX_LINE {
            return reply(&mut out, &error("request line too long"));
        }
        if line.trim().is_empty() {
            continue;
        }
        reply(&mut out, &answer(view, &line))?;
    }
}

/// The answer to one request line.
pub(crate) fn answer(view: &View, line: &str) -> Value {
    let req: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return error(&format!("not a JSON request: {e}")),
    };
    match req.get("v").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(v) => {
            return error(&format!(
                "protocol version {v} is not spoken here: this engine speaks {VERSION}"
            ))
        }
        None => return error("no protocol version: send {\"v\":1,\"cmd\":...}"),
    }
    let mut body = match req.get("cmd").and_then(Value::as_str) {
        Some("status") => view.status(),
        Some("connections") => view.connections(),
        Some("metrics") => json!({"text": super::metrics::render(view)}),
        Some("reload") => view.reload(),
        Some(other) => {
            return error(&format!(
                "unknown command '{other}': status, connections, metrics or reload"
            ))
        }
        None => return error("no cmd: status, connections, metrics or reload"),
    };
    if body["ok"] == false {
        return body;
    }
    if let Value::Object(m) = &mut body {
        m.insert("v".into(), json!(VERSION));
        m.insert("ok".into(), json!(true));
    }
    body
}

fn error(text: &str) -> Value {
    json!({"v": VERSION, "ok": false, "error": text})
}

fn reply(out: &mut UnixStream, v: &Value) -> io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::afxdp::GrantedMode;

    /// An engine of one queue whose worker has gone (its questions go unanswered).
    pub(crate) fn view() -> View {
        let published = Published::new();
        published.store(&Counters {
            rx_frames: 7,
            half_open_peak: 2,
            ..Counters::default()
        });
        let (asker, _gone) = crate::worker::inspect_channel(None);
        View {
            iface: "veth\"0".into(),
            addrs: vec![AddrReport {
                cidr: "10.0.0.2/24".parse().unwrap(),
                owned: true,
            }],
            ports: vec![80],
            local_ports: (61000, 64999),
            xdp_mode: "native",
            native_refused: None,
            busy_poll: false,
            queues: vec![QueueInfo {
                queue: 0,
                core: Some(0),
                afxdp_mode: GrantedMode::Copy,
                fallback: None,
            }],
            published: vec![published],
            inspect: vec![asker],
            table: Arc::new(SocketTable::new()),
            started: Instant::now(),
            started_unix: 0,
            control: None,
            metrics: None,
            reload: None,
        }
    }

    #[test]
    fn reload_runs_the_hook_and_says_what_it_did() {
        use super::super::config::ReloadOutcome;
        use std::sync::atomic::AtomicU64;
        let mut v = view();
        let e = answer(&v, r#"{"v":1,"cmd":"reload"}"#);
        assert_eq!(e["ok"], false, "{e}");
        assert!(
            e["error"].as_str().unwrap().contains("nothing to reload"),
            "{e}"
        );
        // A hook that succeeds once, then fails.
        let calls = Arc::new(AtomicU64::new(0));
        let seen = calls.clone();
        v.reload = Some(ReloadHook::new(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            ReloadOutcome {
                ok: n == 0,
                generation: 2,
                message: if n == 0 { "3 file(s)" } else { "too large" }.into(),
            }
        }));
        let ok = answer(&v, r#"{"v":1,"cmd":"reload"}"#);
        assert_eq!(ok["ok"], true, "{ok}");
        assert_eq!(ok["v"], 1);
        assert_eq!(ok["generation"], 2);
        assert_eq!(ok["message"], "3 file(s)");
        let e = answer(&v, r#"{"v":1,"cmd":"reload"}"#);
        assert_eq!(e["ok"], false, "{e}");
        assert_eq!(e["error"], "too large");
        assert_eq!(e["generation"], 2, "the generation still serving");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn requests_are_versioned() {
        let v = view();
        let ok = answer(&v, r#"{"v":1,"cmd":"status"}"#);
        assert_eq!(ok["ok"], true, "{ok}");
        assert_eq!(ok["v"], 1);
        assert_eq!(ok["queues"][0]["counters"]["rx_frames"], 7);
        assert_eq!(ok["queues"][0]["gauges"], Value::Null, "the worker is gone");
        assert_eq!(ok["ports"][0], 80);
        let e = answer(&v, r#"{"v":2,"cmd":"status"}"#);
        assert_eq!(e["ok"], false);
        assert!(e["error"].as_str().unwrap().contains("speaks 1"), "{e}");
        assert_eq!(answer(&v, r#"{"cmd":"status"}"#)["ok"], false);
        assert_eq!(answer(&v, "status")["ok"], false);
        let e = answer(&v, r#"{"v":1,"cmd":"reboot"}"#);
        assert!(e["error"].as_str().unwrap().contains("unknown command"));
        let c = answer(&v, r#"{"v":1,"cmd":"connections"}"#);
        assert_eq!(c["queues_not_answering"][0], 0, "{c}");
    }

    #[test]
    fn the_socket_is_private_replaces_a_stale_one_and_refuses_a_live_one() {
        let dir = std::env::temp_dir().join(format!("fastpath-ctl-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("x.sock");
        // A stale socket: bound, then its listener closed.
        drop(UnixListener::bind({
            std::fs::create_dir_all(&dir).unwrap();
            &path
        }));
        assert!(path.exists());
        let mut c = Control::start(&path, Arc::new(view())).expect("stale socket replaced");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // It answers, line by line, on one connection.
        let mut s = UnixStream::connect(&path).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        for _ in 0..2 {
            s.write_all(b"{\"v\":1,\"cmd\":\"status\"}\n").unwrap();
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["iface"], "veth\"0");
        }
        // A second engine on the same path is refused while the first answers.
        match Control::start(&path, Arc::new(view())) {
            Err(StartError::ControlInUse(p)) => assert_eq!(p, path),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a live socket was taken over"),
        }
        c.stop();
        assert!(!path.exists(), "removed at stop");
        // Not a socket: left alone, refused.
        std::fs::write(&path, b"x").unwrap();
        assert!(matches!(
            Control::start(&path, Arc::new(view())),
            Err(StartError::Control { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

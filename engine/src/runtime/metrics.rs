//! Prometheus metrics: `/metrics` in the text exposition format (version 0.0.4), served by
//! a plain thread on a std listener (the kernel's stack, a management address), never by a
//! worker. Every worker counter is a `fastpath_<name>_total` counter per queue; what the
//! engine holds now (connections, frames, table entries, uptime) are gauges.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::control::View;
use super::StartError;

/// Scrapes served at once; more wait in the listen backlog.
const MAX_CLIENTS: usize = 4;
const TICK: Duration = Duration::from_millis(50);

/// Counters that are high-water marks, not event counts: exposed as gauges.
const PEAKS: &[&str] = &["half_open_peak", "rx_backlog_peak_bytes"];

/// The metrics page for `view`.
pub(crate) fn render(view: &View) -> String {
    let mut o = String::new();
    let iface = escape(&view.iface);
    let counters = view.counters();
    let gauges = view.gauges();
    let label = |q: u32| format!("iface=\"{iface}\",queue=\"{q}\"");

    let _ = writeln!(
        o,
        "# HELP fastpath_info The running engine: version, XDP attach mode.\n# TYPE fastpath_info gauge\nfastpath_info{{iface=\"{iface}\",version=\"{}\",xdp_mode=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        view.xdp_mode
    );
    let _ = writeln!(
        o,
        "# HELP fastpath_queue_info Each queue's worker: its core and AF_XDP bind mode.\n# TYPE fastpath_queue_info gauge"
    );
    for q in &view.queues {
        let core = q.core.map_or("none".to_string(), |c| c.to_string());
        let _ = writeln!(
            o,
            "fastpath_queue_info{{{},core=\"{core}\",afxdp_mode=\"{}\"}} 1",
            label(q.queue),
            q.afxdp_mode
        );
    }
    let _ = writeln!(
        o,
        "# HELP fastpath_uptime_seconds Seconds since the engine started.\n# TYPE fastpath_uptime_seconds gauge\nfastpath_uptime_seconds{{iface=\"{iface}\"}} {:.3}",
        view.started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        o,
        "# HELP fastpath_socket_table_entries Connections in the socket table shared by the workers.\n# TYPE fastpath_socket_table_entries gauge\nfastpath_socket_table_entries{{iface=\"{iface}\"}} {}",
        view.table.len()
    );

    if let Some(first) = counters.first() {
        for (i, (name, _)) in first.fields().iter().enumerate() {
            let peak = PEAKS.contains(name);
            let (metric, kind) = if peak {
                (format!("fastpath_{name}"), "gauge")
            } else {
                (format!("fastpath_{name}_total"), "counter")
            };
            let _ = writeln!(
                o,
                "# HELP {metric} The workers' {name} count (engine/src/stats.rs), per queue.\n# TYPE {metric} {kind}"
            );
            for (q, c) in view.queues.iter().zip(&counters) {
                let _ = writeln!(o, "{metric}{{{}}} {}", label(q.queue), c.fields()[i].1);
            }
        }
    }

    type Gauge = (
        &'static str,
        &'static str,
        fn(&crate::worker::WorkerGauges) -> u64,
    );
    let per_worker: [Gauge; 5] = [
        (
            "fastpath_connections",
            "Connections a worker holds, TIME_WAIT included.",
            |g| g.host.connections as u64,
        ),
        (
            "fastpath_time_wait_connections",
            "Connections a worker holds in TIME_WAIT.",
            |g| g.host.time_wait as u64,
        ),
        (
            "fastpath_timer_entries",
            "Deadlines in a worker's timer wheel.",
            |g| g.host.timer_entries as u64,
        ),
        (
            "fastpath_frames_free",
            "UMEM frames on a worker's free list.",
            |g| g.frames.free as u64,
        ),
        (
            "fastpath_frames_in_use",
            "UMEM frames a worker holds (received or being built).",
            |g| g.frames.in_use as u64,
        ),
    ];
    histogram(&mut o, view, &gauges, &label);
    for (metric, help, get) in per_worker {
        let _ = writeln!(o, "# HELP {metric} {help}\n# TYPE {metric} gauge");
        for (q, g) in view.queues.iter().zip(&gauges) {
            if let Some(g) = g {
                let _ = writeln!(o, "{metric}{{{}}} {}", label(q.queue), get(g));
            }
        }
    }
    o
}

/// Request latency per queue, as a Prometheus histogram (cumulative buckets).
fn histogram(
    o: &mut String,
    view: &View,
    gauges: &[Option<crate::worker::WorkerGauges>],
    label: &dyn Fn(u32) -> String,
) {
    use crate::host::LATENCY_BOUNDS_US;
    let m = "fastpath_http_request_duration_seconds";
    let _ = writeln!(
        o,
        "# HELP {m} From a request's head parsed to its response's last byte handed to TCP.\n# TYPE {m} histogram"
    );
    for (q, g) in view.queues.iter().zip(gauges) {
        let Some(g) = g else { continue };
        let h = &g.host.latency;
        let l = label(q.queue);
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BOUNDS_US.iter().enumerate() {
            cumulative += h.buckets[i];
            let le = *bound as f64 / 1e6;
            let _ = writeln!(o, "{m}_bucket{{{l},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(o, "{m}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(o, "{m}_sum{{{l}}} {}", h.sum_us as f64 / 1e6);
        let _ = writeln!(o, "{m}_count{{{l}}} {}", h.count);
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `--metrics` listener thread.
pub(crate) struct Metrics {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Where it listens (the port the kernel chose, for port 0).
    #[cfg_attr(not(test), allow(dead_code))]
    addr: SocketAddr,
}

impl Metrics {
    pub fn start(addr: SocketAddr, view: Arc<View>) -> Result<Metrics, StartError> {
        let fail = |err| StartError::Metrics { addr, err };
        let listener = TcpListener::bind(addr).map_err(fail)?;
        let bound = listener.local_addr().map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fastpath-metrics".into())
            .spawn(move || accept_loop(listener, view, &flag))
            .map_err(|err| StartError::Os {
                what: "starting the metrics thread",
                err,
            })?;
        Ok(Metrics {
            stop,
            thread: Some(thread),
            addr: bound,
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, view: Arc<View>, stop: &AtomicBool) {
    let busy = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if busy.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                    busy.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
                let (view, busy) = (view.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("fastpath-scrape".into())
                    .spawn(move || {
                        let _ = scrape(stream, &view);
                        busy.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    tracing::warn!("metrics: could not start a thread for a scrape");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(TICK),
            Err(e) => {
                tracing::warn!("metrics listener: {e}");
                std::thread::sleep(TICK);
            }
        }
    }
}

/// One HTTP exchange: `GET /metrics` gets the page, anything else a 404; then close.
fn scrape(stream: TcpStream, view: &View) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let mut request = String::new();
    input.read_line(&mut request)?;
    // The rest of the head, unread, would make close() send a RST before our answer.
    let mut line = String::new();
    while input.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body, kind) = if request.starts_with("GET ") && path == "/metrics" {
        (
            "200 OK",
            render(view),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    } else {
        (
            "404 Not Found",
            "only /metrics is served here\n".to_string(),
            "text/plain",
        )
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

#[cfg(test)]
mod page_tests {
    #[test]
    fn counters_are_totals_per_queue_and_peaks_are_gauges() {
        let page = super::render(&super::super::control::tests::view());
        assert!(page.contains("# TYPE fastpath_rx_frames_total counter\n"));
        assert!(page.contains("fastpath_rx_frames_total{iface=\"veth\\\"0\",queue=\"0\"} 7\n"));
        assert!(page.contains("# TYPE fastpath_half_open_peak gauge\n"));
        assert!(page.contains("fastpath_half_open_peak{iface=\"veth\\\"0\",queue=\"0\"} 2\n"));
        assert!(page.contains(
            "fastpath_queue_info{iface=\"veth\\\"0\",queue=\"0\",core=\"0\",afxdp_mode=\"copy\"} 1"
        ));
        // Every sample line names a metric declared above it.
        for line in page.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(page.contains(&format!("# TYPE {name} ")), "{line}");
        }
    }

    #[test]
    fn get_metrics_is_served_and_anything_else_is_404() {
        use std::io::{Read, Write};
        use std::sync::Arc;
        let view = Arc::new(super::super::control::tests::view());
        let mut m = super::Metrics::start("127.0.0.1:0".parse().unwrap(), view).unwrap();
        let get = |path: &str| {
            let mut s = std::net::TcpStream::connect(m.addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let page = get("/metrics");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(page.contains("\r\n\r\n# HELP fastpath_info "), "{page}");
        let (head, body) = page.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(get("/").starts_with("HTTP/1.1 404 Not Found\r\n"));
        m.stop();
    }
}

//! The `fastpath` command line. Flags named in the project's issues are a public contract:
//! add freely, never rename or drop one without keeping the old spelling working.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::lists::{IdList, Selection};

#[derive(Parser, Debug)]
#[command(
    name = "fastpath",
    version,
    about = "Kernel-bypass packet I/O engine: AF_XDP, our own XDP steering program, a sans-IO TCP/IP stack",
    long_about = "fastpath attaches to NIC queues through AF_XDP. Its XDP program hands the engine \
only its own traffic (its addresses and ports) and passes everything else to the kernel, so SSH \
and the host keep working on the same NIC.\n\nStart with `fastpath demo` (no interface needed: it \
builds a veth pair in two network namespaces and removes it afterwards). Needs root (or \
CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_SYS_ADMIN)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Attach to an interface's queues and serve: ARP and ICMP echo for an owned address,
    /// TCP for the engine's ports.
    Serve(Box<ServeArgs>),
    /// The embedded default: a veth pair in two fresh namespaces, the engine on one end, a
    /// real client on the other; prints what it measured and removes everything it made.
    Demo(DemoArgs),
    /// HTTP load through the engine (kernel bypass on the client side too): N connections
    /// to a URL for S seconds; prints requests/s, throughput, latency percentiles and
    /// errors by kind.
    Load(Box<LoadArgs>),
    /// Bench-only: send every TCP frame for the engine straight back, nothing else, and
    /// report frames per second: the ceiling of the AF_XDP path on this machine. Run one
    /// at each end of a link; one of them starts the bouncing with --inject.
    Reflect(Box<ReflectArgs>),
    /// What a running engine is (interface, queues, cores, AF_XDP and XDP modes,
    /// addresses, ports, uptime) and its counters per queue, refreshed every second.
    Stat(crate::stat::StatArgs),
    /// A running engine's connections, as `ss -tin` shows the kernel's: state, queues,
    /// cwnd, RTT, RTO, retransmissions, bytes, rates, what limits the sender; with ss's
    /// filters (`state established`, `dport = :80`, `dst 10.0.0.0/8`).
    Ss(crate::ss::SsArgs),
    /// Asks a running `serve --root DIR` to read its tree again and waits for the answer:
    /// the new generation and its files, or why the load failed (the old tree keeps
    /// serving). Exits non-zero on failure, or when the engine serves no --root.
    Reload(crate::reload::ReloadArgs),
    /// Checks what decides whether the engine will run well on IF, one line each (OK,
    /// WARN, FAIL) with the fix: driver, zero-copy, queues, RSS, IRQ affinity, memlock,
    /// huge pages, busy-poll knobs, a veth peer's TX checksum offload and qdisc, an XDP
    /// program already attached, the kernel's AF_XDP features. Changes nothing without
    /// --fix.
    Doctor(crate::doctor::DoctorArgs),
}

/// An IPv4 address with its prefix length, as `10.0.0.2/24` (the engine's type).
pub use fastpath_engine::runtime::Cidr;
/// An address of either family with its prefix length (the engine's type).
pub use fastpath_engine::runtime::{Cidr6, IpCidr};

/// What `--ip` and `--gateway` give, for the commands that take them.
pub trait Addresses {
    /// Every --ip, in order.
    fn ips(&self) -> &[IpCidr];
    /// Every --gateway, in order.
    fn gateway_list(&self) -> &[IpAddr];

    /// The first IPv4 --ip (the engine's main address: --self-load's default target).
    fn ipv4(&self) -> anyhow::Result<Cidr> {
        self.ips()
            .iter()
            .find_map(|c| match c {
                IpCidr::V4(c) => Some(*c),
                IpCidr::V6(_) => None,
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "give an IPv4 --ip too (e.g. --ip 192.0.2.10/24): the engine needs one IPv4 address; IPv6 addresses are served beside it"
                )
            })
    }

    /// Every IPv4 --ip, in order.
    fn ipv4_all(&self) -> Vec<Cidr> {
        let v4 = |c: &IpCidr| match c {
            IpCidr::V4(c) => Some(*c),
            IpCidr::V6(_) => None,
        };
        self.ips().iter().filter_map(v4).collect()
    }

    /// Every IPv6 --ip, in order.
    fn ipv6_all(&self) -> Vec<Cidr6> {
        let v6 = |c: &IpCidr| match c {
            IpCidr::V6(c) => Some(*c),
            IpCidr::V4(_) => None,
        };
        self.ips().iter().filter_map(v6).collect()
    }

    /// The --gateway of each family (an error for two of one family).
    fn gateways(&self) -> anyhow::Result<(Option<Ipv4Addr>, Option<std::net::Ipv6Addr>)> {
        let (mut v4, mut v6) = (None, None);
        for g in self.gateway_list() {
            let dup = match g {
                IpAddr::V4(a) => v4.replace(*a).is_some(),
                IpAddr::V6(a) => v6.replace(*a).is_some(),
            };
            if dup {
                anyhow::bail!("--gateway given twice for one family: give at most one IPv4 and one IPv6 next hop");
            }
        }
        Ok((v4, v6))
    }
}

impl Addresses for ServeArgs {
    fn ips(&self) -> &[IpCidr] {
        &self.ip
    }
    fn gateway_list(&self) -> &[IpAddr] {
        &self.gateway
    }
}

impl Addresses for LoadArgs {
    fn ips(&self) -> &[IpCidr] {
        &self.ip
    }
    fn gateway_list(&self) -> &[IpAddr] {
        &self.gateway
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Network interface to attach to (e.g. eth1). Its queues are taken over only for the
    /// engine's own traffic.
    #[arg(long, value_name = "IF")]
    pub iface: String,

    /// Which of the interface's queues to attach to: `all`, one (`3`) or a list (`0-3`,
    /// `0,2`). One worker per queue.
    #[arg(long, value_name = "LIST|all", default_value = "all")]
    pub queues: Selection,

    /// The engine's address and prefix, IPv4 or IPv6; repeat for several
    /// (`--ip 192.0.2.10/24 --ip 2001:db8::10/64`; at least one IPv4). HTTP is served on
    /// every address, both families (`curl -6 -g http://[2001:db8::10]/`). If the kernel
    /// already has it on IF the engine shares it (the kernel keeps ARP/neighbour discovery
    /// and ICMP, the engine takes its TCP ports); otherwise the engine owns it and answers
    /// ARP or neighbour discovery and ICMP echo itself. An owned IPv6 address is used once
    /// duplicate address detection (1 s) found no other node with it; a duplicate stops
    /// the start with an error.
    #[arg(long, value_name = "ADDR/PREFIX", required = true)]
    pub ip: Vec<IpCidr>,

    /// Next hop for destinations outside the --ip prefixes: one per family at most
    /// (`--gateway 192.0.2.1 --gateway 2001:db8::1`).
    #[arg(long, value_name = "ADDR")]
    pub gateway: Vec<IpAddr>,

    /// TCP port to serve (repeat for several).
    #[arg(long = "port", value_name = "P", default_value = "80")]
    pub ports: Vec<u16>,

    /// AF_XDP bind mode: `auto` tries zero-copy and falls back to copy (saying why),
    /// `zerocopy` fails where the driver lacks it, `copy` forces copy mode.
    #[arg(long, value_name = "auto|zerocopy|copy", default_value = "auto")]
    pub mode: fastpath_engine::afxdp::BindMode,

    /// XDP attach mode: `auto` tries native (driver) mode, then generic (skb) mode.
    #[arg(
        long = "xdp-mode",
        value_name = "auto|native|generic",
        default_value = "auto"
    )]
    pub xdp_mode: fastpath_xdp::XdpMode,

    /// Replace an XDP program already attached to IF (by default the engine refuses and
    /// names it).
    #[arg(long)]
    pub force: bool,

    /// CPUs to pin the workers to, one per queue in order (default: one core per queue,
    /// starting at the queue's own number modulo the CPU count).
    #[arg(long, value_name = "LIST")]
    pub cores: Option<IdList>,

    /// Spin instead of sleeping when idle, with socket busy polling: lowest latency, one
    /// full core per worker.
    #[arg(long = "busy-poll")]
    pub busy_poll: bool,

    /// Write every frame the engine receives and sends to FILE (pcap; tcpdump cannot see
    /// AF_XDP traffic).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Seconds between one-line stats reports (0: none).
    #[arg(long = "stats-interval", value_name = "S", default_value_t = 5)]
    pub stats_interval: u64,

    /// Stop by itself after S seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,

    /// First and last local port the engine may use for connections it opens (steered to
    /// the engine by the XDP program), as LO-HI.
    #[arg(
        long = "local-ports",
        value_name = "LO-HI",
        default_value = "61000-64999"
    )]
    pub local_ports: PortRange,

    /// AF_XDP frames per queue (UMEM size = frames x 4096 bytes), a power of two. The
    /// default holds a burst of about 8,000 frames while the worker catches up; raise it
    /// (with --rx-ring and --fill-ring) if the stats line shows kernel drops.
    #[arg(long, value_name = "N", default_value_t = fastpath_engine::runtime::DEFAULT_FRAMES)]
    pub frames: u32,

    /// AF_XDP RX ring entries per queue, a power of two up to --frames (default: half of
    /// --frames). Frames arriving while it is full are dropped by the kernel and counted
    /// as "kernel drops (ring full)".
    #[arg(
        long = "rx-ring",
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub rx_ring: u32,

    /// AF_XDP fill ring entries per queue, a power of two up to --frames (default: half of
    /// --frames): frames lent to the kernel to receive into.
    #[arg(
        long = "fill-ring",
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub fill_ring: u32,

    /// Bytes of received frames each worker may hold in memory when its RX ring backs
    /// up (a flash crowd, a mass close): frames are copied out of the ring so the kernel
    /// can go on receiving instead of dropping, and answered in arrival order. Memory is
    /// taken only during a burst (a small segment costs its size, not a 4 KiB frame) and
    /// given back after it. 0 turns it off (the ring alone holds a burst).
    #[arg(
        long = "rx-backlog",
        value_name = "BYTES",
        default_value_t = fastpath_engine::runtime::DEFAULT_RX_BACKLOG
    )]
    pub rx_backlog: usize,

    /// The body to answer every GET with (default: a short hello). Exclusive with --root.
    #[arg(long, value_name = "TEXT", conflicts_with = "root")]
    pub body: Option<String>,

    /// Serve the files under DIR, loaded into memory at start: content types by extension
    /// (the mime_guess table), index.html for directories, 404 otherwise, paths that
    /// leave DIR refused. ETag and Last-Modified with 304 for conditional requests, byte
    /// ranges (206, 416), FILE.gz and FILE.br beside FILE sent to clients that accept
    /// them. SIGHUP loads DIR again and swaps it in without dropping a connection (a tree
    /// that fails to load leaves the old one serving, and the log says why).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Largest total size --root may load, in bytes (the .gz copies --compress makes
    /// included).
    #[arg(long = "root-max-bytes", value_name = "N", default_value_t = 1 << 30)]
    pub root_max_bytes: usize,

    /// With --root: make a gzip copy of every text file (HTML, CSS, JavaScript, JSON,
    /// SVG, ...) of 256 bytes or more that has no FILE.gz beside it, once at load at the
    /// best level, and serve it to clients that accept gzip (nginx: gzip_static with
    /// the .gz files made beforehand). FILE.gz and FILE.br found beside FILE are served
    /// with or without this flag.
    #[arg(long, requires = "root")]
    pub compress: bool,

    /// Write a line per answered request to FILE (appended; created if missing), in
    /// nginx's `combined` format by default. Written by a thread of its own: a worker
    /// never waits for the disk; if the writer falls behind, lines are dropped and
    /// counted (stats lines, summary, --report-json), never the requests. SIGUSR1
    /// reopens FILE (after logrotate renamed it; `copytruncate` is not needed).
    #[arg(long = "access-log", value_name = "FILE")]
    pub access_log: Option<PathBuf>,

    /// --access-log line format: `combined` (nginx's default) or `json` (one object per
    /// line: time, remote_addr, request, method, uri, protocol, status,
    /// body_bytes_sent, http_referer, http_user_agent).
    #[arg(
        long = "access-log-format",
        value_name = "combined|json",
        default_value = "combined",
        requires = "access_log"
    )]
    pub access_log_format: AccessLogFormat,

    /// `Cache-Control` value on every 200, 206 and 304 answer (e.g. "public,
    /// max-age=3600"; nginx: `expires` or `add_header Cache-Control`). Default: none.
    #[arg(long = "cache-control", value_name = "VALUE", value_parser = cache_control)]
    pub cache_control: Option<String>,

    /// Connections each worker holds at most, not counting TIME_WAIT; SYNs beyond are reset.
    #[arg(long = "max-conns", value_name = "N", default_value_t = 16384)]
    pub max_conns: usize,

    /// TIME_WAIT entries each worker keeps at most (Linux: tcp_max_tw_buckets); beyond,
    /// a closing connection skips TIME_WAIT (counted), as Linux does.
    #[arg(long = "max-time-wait", value_name = "N", default_value_t = 262144)]
    pub max_time_wait: usize,

    /// Seconds a client has to send a whole request head (slowloris defence); the first
    /// request counts from the connection's start. Then 408 and close.
    #[arg(long = "header-timeout", value_name = "S", default_value_t = 60.0)]
    pub header_timeout: f64,

    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long = "keepalive-timeout", value_name = "S", default_value_t = 75.0)]
    pub keepalive_timeout: f64,

    /// Seconds a response may wait for the client to take any of it (its TCP window shut,
    /// nothing read) before the connection is reset (nginx send_timeout).
    #[arg(long = "send-timeout", value_name = "S", default_value_t = 60.0)]
    pub send_timeout: f64,

    /// Largest request body accepted (413 beyond), in bytes; bodies are read and discarded.
    #[arg(long = "max-body", value_name = "N", default_value_t = 1 << 20)]
    pub max_body: u64,

    /// On SIGINT/SIGTERM: seconds in-flight responses may take to finish before exit.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub grace: f64,

    /// Seconds a closed connection stays in TIME_WAIT (2MSL; Linux: 60).
    #[arg(long = "time-wait", value_name = "S", default_value_t = 60.0)]
    pub time_wait: f64,

    /// Retransmissions of unacknowledged data, or zero-window probes in a row that get no
    /// answer, before a connection is given up (Linux tcp_retries2: 15, about 15 minutes;
    /// 5 gives up after about 6 s on a LAN). A peer that answers the probes may keep its
    /// window closed as long as it likes.
    #[arg(long = "tcp-retries", value_name = "N", default_value_t = 15)]
    pub tcp_retries: u32,

    /// Congestion control: `cubic` (Linux's default), `newreno`, or `bbr` (version 1, as
    /// Linux's tcp_bbr: a model of the path's bandwidth and RTT sets the window, so random
    /// loss does not cut it; the engine does not pace, see docs/tcp.md). When measuring
    /// against the kernel, use what `sysctl net.ipv4.tcp_congestion_control` says.
    #[arg(long = "cc", value_name = "ALG", default_value = "cubic")]
    pub cc: fastpath_engine::tcp::cc::Algorithm,

    /// Explicit Congestion Notification (RFC 3168), as Linux's tcp_ecn: `server`
    /// accepts it when a peer's SYN asks (Linux's default), `on` also asks for it on
    /// connections the engine opens, `off` never uses it.
    #[arg(long, value_name = "MODE", default_value = "server")]
    pub ecn: fastpath_engine::tcp::Ecn,

    /// Half-open connections per port before SYN cookies take over.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub backlog: usize,

    /// Segments each worker's loopback inbox holds (traffic between the engine's own
    /// addresses, in memory); a full inbox drops like a congested link and TCP resends.
    #[arg(long = "loopback-inbox", value_name = "N", default_value_t = 4096)]
    pub loopback_inbox: usize,

    /// Run the load generator inside the engine against its own address (or
    /// --load-target) over the loopback fast path, print its report, and exit: the
    /// stack's speed without the NIC.
    #[arg(long = "self-load")]
    pub self_load: bool,

    /// --self-load: connections in all (spread over the workers).
    #[arg(long = "load-connections", value_name = "N", default_value_t = 64)]
    pub load_connections: usize,

    /// --self-load: seconds to run.
    #[arg(long = "load-duration", value_name = "S", default_value_t = 5.0)]
    pub load_duration: f64,

    /// --self-load: requests outstanding per connection.
    #[arg(long = "load-pipeline", value_name = "D", default_value_t = 1)]
    pub load_pipeline: usize,

    /// --self-load: request path.
    #[arg(long = "load-path", value_name = "PATH", default_value = "/")]
    pub load_path: String,

    /// --self-load: address to load (default: the first IPv4 --ip; any own address of
    /// either family, any 127.x.y.z or ::1 works too).
    #[arg(long = "load-target", value_name = "ADDR")]
    pub load_target: Option<IpAddr>,

    /// --self-load: one request per connection (`Connection: close`).
    #[arg(long = "load-close")]
    pub load_close: bool,

    /// --self-load: requests per second in all, open loop (default: closed loop).
    #[arg(long = "load-rate", value_name = "R")]
    pub load_rate: Option<f64>,

    /// At exit, write the engine's report to FILE as JSON (with --self-load, the load's
    /// report beside it).
    #[arg(long = "report-json", value_name = "FILE")]
    pub report_json: Option<PathBuf>,

    /// The control socket `fastpath stat`, `ss` and `reload` ask (mode 0600, only this
    /// user may connect; removed at exit). Default: /run/fastpath/IF.sock.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics, from the kernel's stack (give
    /// a management address, e.g. 127.0.0.1:9100), never from a worker.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Once attached and bound, run the worker threads as NAME (as nginx's `user`) with no
    /// capability; detaching at exit stays with the privileged main thread.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ReflectArgs {
    /// Network interface to attach to.
    #[arg(long, value_name = "IF")]
    pub iface: String,

    /// This end's address (owned: the kernel must not have it). Frames to its port 9 are
    /// reflected.
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub ip: Cidr,

    /// Frames to send at start to the other end (which must be reflecting too).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub inject: usize,

    /// With --inject: the other end's address.
    #[arg(long = "to-ip", value_name = "ADDR", requires = "to_mac")]
    pub to_ip: Option<Ipv4Addr>,

    /// With --inject: the other end's MAC address (aa:bb:cc:dd:ee:ff).
    #[arg(long = "to-mac", value_name = "MAC", requires = "to_ip")]
    pub to_mac: Option<String>,

    /// Seconds to run.
    #[arg(long, short = 'd', value_name = "S", default_value_t = 5.0)]
    pub duration: f64,

    /// Which of the interface's queues to attach to.
    #[arg(long, value_name = "LIST|all", default_value = "all")]
    pub queues: Selection,

    /// CPUs to pin the workers to, one per queue.
    #[arg(long, value_name = "LIST")]
    pub cores: Option<IdList>,

    /// AF_XDP bind mode: auto, zerocopy or copy.
    #[arg(long, value_name = "auto|zerocopy|copy", default_value = "auto")]
    pub mode: fastpath_engine::afxdp::BindMode,

    /// Spin instead of sleeping when idle.
    #[arg(long = "busy-poll")]
    pub busy_poll: bool,
}

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Network interface to attach to: the load leaves through its queues (AF_XDP).
    #[arg(long, value_name = "IF")]
    pub iface: String,

    /// The engine's address and prefix on IF, IPv4 or IPv6; repeat for both (`--ip
    /// 192.0.2.20/24 --ip 2001:db8::20/64`; at least one IPv4, and an IPv6 one to load an
    /// IPv6 URL). Give addresses the kernel does not have: the engine then answers and
    /// sends ARP (neighbour discovery) itself; a shared address's replies go to the
    /// kernel, and the engine could not resolve the server.
    #[arg(long, value_name = "ADDR/PREFIX", required = true)]
    pub ip: Vec<IpCidr>,

    /// Next hop for a server outside the --ip prefixes: one per family at most.
    #[arg(long, value_name = "ADDR")]
    pub gateway: Vec<IpAddr>,

    /// What to request: `http://ADDR[:PORT]/PATH`, ADDR an IPv4 address or an IPv6 one in
    /// brackets (`http://[2001:db8::10]:80/`); no DNS.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Connections in all (spread over the workers).
    #[arg(long, short = 'c', value_name = "N", default_value_t = 64)]
    pub connections: usize,

    /// Seconds to run.
    #[arg(long, short = 'd', value_name = "S", default_value_t = 10.0)]
    pub duration: f64,

    /// Requests outstanding per connection (HTTP pipelining).
    #[arg(long, value_name = "D", default_value_t = 1)]
    pub pipeline: usize,

    /// Requests per second in all, open loop: latency counts from each request's
    /// scheduled time (default: closed loop, as fast as the server answers).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,

    /// One request per connection (`Connection: close`), a new connection each time.
    #[arg(long)]
    pub close: bool,

    /// Seconds a request may wait for its response before it counts as timed out.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,

    /// Which of the interface's queues to attach to (`all`, `3`, `0-3`).
    #[arg(long, value_name = "LIST|all", default_value = "all")]
    pub queues: Selection,

    /// CPUs to pin the workers to, one per queue.
    #[arg(long, value_name = "LIST")]
    pub cores: Option<IdList>,

    /// AF_XDP bind mode: auto, zerocopy or copy.
    #[arg(long, value_name = "auto|zerocopy|copy", default_value = "auto")]
    pub mode: fastpath_engine::afxdp::BindMode,

    /// XDP attach mode: auto, native or generic.
    #[arg(
        long = "xdp-mode",
        value_name = "auto|native|generic",
        default_value = "auto"
    )]
    pub xdp_mode: fastpath_xdp::XdpMode,

    /// Replace an XDP program already attached to IF.
    #[arg(long)]
    pub force: bool,

    /// Local ports for the connections (steered to the engine), as LO-HI.
    #[arg(
        long = "local-ports",
        value_name = "LO-HI",
        default_value = "61000-64999"
    )]
    pub local_ports: PortRange,

    /// Spin instead of sleeping when idle.
    #[arg(long = "busy-poll")]
    pub busy_poll: bool,

    /// Congestion control: `cubic` (Linux's default), `newreno`, or `bbr` (version 1, as
    /// Linux's tcp_bbr: a model of the path's bandwidth and RTT sets the window, so random
    /// loss does not cut it; the engine does not pace, see docs/tcp.md). When measuring
    /// against the kernel, use what `sysctl net.ipv4.tcp_congestion_control` says.
    #[arg(long = "cc", value_name = "ALG", default_value = "cubic")]
    pub cc: fastpath_engine::tcp::cc::Algorithm,

    /// Explicit Congestion Notification (RFC 3168) on the load's connections: `on` asks
    /// for it in each SYN, `server` and `off` do not (the engine only opens connections
    /// here, so `server` means none).
    #[arg(long, value_name = "MODE", default_value = "server")]
    pub ecn: fastpath_engine::tcp::Ecn,

    /// At exit, write the load's report and the engine's to FILE as JSON.
    #[arg(long = "report-json", value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

/// `--access-log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLogFormat {
    Combined,
    Json,
}

/// A `Cache-Control` value: printable ASCII on one line, short enough for a head.
fn cache_control(v: &str) -> Result<String, String> {
    let max = fastpath_engine::http::CACHE_CONTROL_MAX;
    if v.trim().is_empty() {
        return Err("give a value, e.g. \"public, max-age=3600\"".into());
    }
    if v.len() > max {
        return Err(format!("{} bytes: at most {max}", v.len()));
    }
    if !v
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Err("printable ASCII only (no line breaks or control characters)".into());
    }
    Ok(v.trim().to_string())
}

/// An inclusive port range, `LO-HI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<PortRange, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("'{s}' is not a range: write LO-HI, e.g. 61000-64999"))?;
        let lo: u16 = a.parse().map_err(|_| format!("'{a}' is not a port"))?;
        let hi: u16 = b.parse().map_err(|_| format!("'{b}' is not a port"))?;
        if lo == 0 || lo > hi {
            return Err(format!("'{s}': need 1 <= LO <= HI"));
        }
        Ok(PortRange { lo, hi })
    }
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Seconds of HTTP load to run, half over IPv4 and half over IPv6 (after an ARP check,
    /// 100 pings and 20 ping -6).
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub duration: f64,

    /// AF_XDP bind mode for the engine end (veth supports copy mode only; `auto` says so).
    #[arg(long, value_name = "auto|zerocopy|copy", default_value = "auto")]
    pub mode: fastpath_engine::afxdp::BindMode,

    /// HTTP load generator: `wrk` (64 connections), `builtin` (8 keep-alive connections,
    /// no install needed), or `auto` (wrk when installed).
    #[arg(long, value_name = "auto|wrk|builtin", default_value = "auto")]
    pub client: DemoClient,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoClient {
    Auto,
    Wrk,
    Builtin,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cidr_and_ranges() {
        let c: Cidr = "10.1.2.3/24".parse().unwrap();
        assert_eq!((c.addr, c.prefix), (Ipv4Addr::new(10, 1, 2, 3), 24));
        let r: PortRange = "100-200".parse().unwrap();
        assert_eq!((r.lo, r.hi), (100, 200));
        assert!("200-100".parse::<PortRange>().is_err());
    }

    #[test]
    fn cache_control_values_are_checked() {
        let parse = |v: &str| {
            Cli::try_parse_from([
                "fastpath",
                "serve",
                "--iface",
                "x",
                "--ip",
                "10.0.0.2/24",
                "--cache-control",
                v,
            ])
        };
        let Command::Serve(s) = parse("public, max-age=60").unwrap().command else {
            panic!()
        };
        assert_eq!(s.cache_control.as_deref(), Some("public, max-age=60"));
        for bad in ["", "a\r\nSet-Cookie: x", &"x".repeat(300)] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let compress_alone = Cli::try_parse_from([
            "fastpath",
            "serve",
            "--iface",
            "x",
            "--ip",
            "10.0.0.2/24",
            "--compress",
        ]);
        assert!(compress_alone.is_err(), "--compress needs --root");
    }

    #[test]
    fn ip_repeats_in_either_family_and_gateway_per_family() {
        let parse = |extra: &[&str]| {
            let mut a = vec!["fastpath", "serve", "--iface", "x"];
            a.extend_from_slice(extra);
            match Cli::try_parse_from(a).map(|c| c.command) {
                Ok(Command::Serve(s)) => Ok(s),
                Ok(_) => panic!(),
                Err(e) => Err(e.to_string()),
            }
        };
        let s = parse(&[
            "--ip",
            "192.0.2.10/24",
            "--ip",
            "2001:db8::10/64",
            "--gateway",
            "2001:db8::1",
            "--gateway",
            "192.0.2.1",
        ])
        .unwrap();
        assert_eq!(s.ipv4().unwrap().to_string(), "192.0.2.10/24");
        let v6: Vec<String> = s.ipv6_all().iter().map(|c| c.to_string()).collect();
        assert_eq!(v6, ["2001:db8::10/64"]);
        let (g4, g6) = s.gateways().unwrap();
        assert_eq!(
            (g4.unwrap().to_string(), g6.unwrap().to_string()),
            ("192.0.2.1".into(), "2001:db8::1".into())
        );
        let c = crate::serve::engine_config(&s).unwrap();
        assert_eq!((c.addrs.len(), c.addrs6.len()), (1, 1));
        assert!(c.gateway.is_some() && c.gateway6.is_some());
        // Two gateways of one family; IPv6 only (one IPv4 is needed); bad text.
        let s = parse(&[
            "--ip",
            "10.0.0.2/24",
            "--gateway",
            "10.0.0.1",
            "--gateway",
            "10.0.0.9",
        ])
        .unwrap();
        assert!(s.gateways().unwrap_err().to_string().contains("twice"));
        let s = parse(&["--ip", "2001:db8::10/64"]).unwrap();
        assert!(crate::serve::engine_config(&s)
            .unwrap_err()
            .to_string()
            .contains("IPv4 --ip"));
        assert!(parse(&["--ip", "2001:db8::10"])
            .unwrap_err()
            .contains("no prefix"));
        assert!(parse(&["--ip", "fe80::1/64"])
            .unwrap_err()
            .contains("link-local"));
        assert!(parse(&[]).is_err(), "--ip is required");
    }

    #[test]
    fn serve_defaults() {
        let cli = Cli::try_parse_from([
            "fastpath",
            "serve",
            "--iface",
            "veth0",
            "--ip",
            "10.0.0.2/24",
        ])
        .unwrap();
        let Command::Serve(s) = cli.command else {
            panic!()
        };
        assert_eq!(s.ports, vec![80]);
        assert_eq!(s.queues, Selection::All);
        assert!(!s.busy_poll && !s.force);
        let cli = Cli::try_parse_from([
            "fastpath",
            "serve",
            "--iface",
            "x",
            "--ip",
            "10.0.0.2/24",
            "--port",
            "80",
            "--port",
            "8080",
            "--queues",
            "3",
        ])
        .unwrap();
        let Command::Serve(s) = cli.command else {
            panic!()
        };
        assert_eq!(s.ports, vec![80, 8080]);
        assert_eq!(s.queues, "3".parse().unwrap());
    }
}

//! What an engine is started with: one value, built by a program or by the command line,
//! never parsed from one.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::afxdp::BindMode;
use crate::app::App;
use crate::http::{Handler, HttpConfig, RequestHandler, Site};
use crate::tcp::TcpConfig;
use crate::worker::FrameHandler;

pub use fastpath_xdp::XdpMode;

/// An IPv4 address with its prefix length, as `10.0.0.2/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length of its subnet (0-32).
    pub prefix: u8,
}

impl Cidr {
    /// `addr/prefix`.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Cidr {
        Cidr { addr, prefix }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| {
            format!("'{s}' has no prefix length: write ADDR/PREFIX, e.g. 10.0.0.2/24")
        })?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("'{p}' is not a prefix length (0-32)"))?;
        if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
            return Err(format!("{addr} cannot be an interface address"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv6 address with its prefix length, as `2001:db8::10/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Cidr6 {
    /// The address.
    pub addr: Ipv6Addr,
    /// The length of its on-link prefix (0-128).
    pub prefix: u8,
}

impl FromStr for Cidr6 {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr6, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| {
            format!("'{s}' has no prefix length: write ADDR/PREFIX, e.g. 2001:db8::10/64")
        })?;
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IPv6 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 128)
            .ok_or_else(|| format!("'{p}' is not a prefix length (0-128)"))?;
        if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() {
            return Err(format!("{addr} cannot be an interface address"));
        }
        if crate::wire::ipv6::is_link_local(addr) {
            return Err(format!(
                "{addr} is link-local: the kernel keeps link-local traffic; give a global or unique local address"
            ));
        }
        Ok(Cidr6 { addr, prefix })
    }
}

impl fmt::Display for Cidr6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An address of either family with its prefix length, as the command line gives it
/// (`--ip 192.0.2.10/24 --ip 2001:db8::10/64`). Serialized as its address and prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum IpCidr {
    /// IPv4.
    V4(Cidr),
    /// IPv6.
    V6(Cidr6),
}

impl FromStr for IpCidr {
    type Err = String;
    fn from_str(s: &str) -> Result<IpCidr, String> {
        if s.split('/').next().is_some_and(|a| a.contains(':')) {
            s.parse().map(IpCidr::V6)
        } else {
            s.parse().map(IpCidr::V4)
        }
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpCidr::V4(c) => c.fmt(f),
            IpCidr::V6(c) => c.fmt(f),
        }
    }
}

/// Which of the interface's receive queues to attach to; one worker each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Queues {
    /// Every queue the interface has.
    #[default]
    All,
    /// These queues, in this order (the order `EngineConfig::cores` follows).
    Only(Vec<u32>),
}

/// Frames per queue by default: 16,384 x 4 KiB = 64 MiB of UMEM, RX and fill rings of
/// 8,192. A burst of 10,000 requests arriving at once (one on each of 10k idle
/// connections) overflowed the 2,048-entry RX ring of 4,096 frames on veth.
pub const DEFAULT_FRAMES: u32 = 16384;

/// How the AF_XDP sockets are opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// Zero-copy, copy, or zero-copy falling back to copy.
    pub mode: BindMode,
    /// Frames per queue (the UMEM is `frames` x 4 KiB): a power of two, 64 or more.
    pub frames: u32,
    /// RX ring entries per queue: a power of two up to `frames`; 0 for half the frames.
    pub rx_ring: u32,
    /// Fill ring entries per queue: a power of two up to `frames`; 0 for half the frames.
    pub fill_ring: u32,
    /// Bytes of received frames each worker may move out of a backed-up RX ring into
    /// memory (the RX backlog); 0 turns it off.
    pub rx_backlog: usize,
    /// Spin with socket busy polling instead of sleeping when idle (one full core each).
    pub busy_poll: bool,
}

/// How the steering program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpConfig {
    /// Native (driver) mode, generic (skb) mode, or native falling back to generic.
    pub mode: XdpMode,
    /// Replace an XDP program already attached to the interface (refused otherwise).
    pub force: bool,
}

/// What the workers serve.
#[derive(Clone, Debug)]
pub enum Service {
    /// The HTTP/1.1 responder on `EngineConfig::ports`, answering from the site: one body,
    /// a directory in memory, or the program's own [`Handler`].
    Http(Arc<Site>),
    /// No listener: the engine is a client only (its application opens connections).
    None,
    /// A program's own frame path in place of the stack (bench tools, such as `fastpath
    /// reflect`): every frame for our addresses and the handler's port goes to it, nothing
    /// else runs.
    Frames(Arc<dyn FrameHandler>),
}

impl Service {
    /// The HTTP responder answering with `handler`.
    pub fn handler(handler: impl Handler + 'static) -> Service {
        Service::Http(Arc::new(Site::Handler(Arc::new(handler))))
    }

    /// The HTTP responder answering whole requests with `handler` (method, headers,
    /// body; any status, headers and body back). See [`RequestHandler`].
    pub fn requests(handler: impl RequestHandler + 'static) -> Service {
        Service::Http(Arc::new(Site::Requests(Arc::new(handler))))
    }
}

type MakeApp = dyn Fn(usize, usize) -> Option<Box<dyn App>> + Send + Sync;

/// Builds the application each worker runs beside the service (the engine as a client),
/// given (worker index, worker count); `None` for a worker that runs none.
#[derive(Clone)]
pub struct AppFactory(Arc<MakeApp>);

impl AppFactory {
    /// An application factory from `make(worker index, worker count)`.
    pub fn new(
        make: impl Fn(usize, usize) -> Option<Box<dyn App>> + Send + Sync + 'static,
    ) -> AppFactory {
        AppFactory(Arc::new(make))
    }

    pub(crate) fn make(&self, worker: usize, workers: usize) -> Option<Box<dyn App>> {
        (self.0)(worker, workers)
    }
}

impl fmt::Debug for AppFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppFactory(..)")
    }
}

type Reload = dyn Fn() -> ReloadOutcome + Send + Sync;

/// What the embedding program does when asked to reload through the control channel
/// (`fastpath reload`): re-read whatever it serves and swap it in. The hook runs on the
/// control channel's thread for the asking client, never on a worker, and may take its
/// time (the client waits for the answer); the engine itself reloads nothing.
#[derive(Clone)]
pub struct ReloadHook(Arc<Reload>);

impl ReloadHook {
    /// A reload hook from `reload`, called once per `reload` request.
    pub fn new(reload: impl Fn() -> ReloadOutcome + Send + Sync + 'static) -> ReloadHook {
        ReloadHook(Arc::new(reload))
    }

    /// Runs the hook.
    pub fn run(&self) -> ReloadOutcome {
        (self.0)()
    }
}

impl fmt::Debug for ReloadHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReloadHook(..)")
    }
}

/// What a reload did, as the control channel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Whether the new content was loaded and now serves.
    pub ok: bool,
    /// The generation serving after the attempt: the new one, or after a failure the
    /// one that still serves.
    pub generation: u64,
    /// What was loaded, or why loading failed, in the embedding program's words.
    pub message: String,
}

/// Everything `Engine::start` needs. `EngineConfig::new` gives the defaults `fastpath
/// serve` documents; change fields from there.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The interface to attach to, in the calling thread's network namespace.
    pub iface: String,
    /// Which receive queues to attach to (default: all).
    pub queues: Queues,
    /// The CPU of each queue's worker, in the order of the queues (default: the queue's
    /// number modulo the CPU count).
    pub cores: Option<Vec<usize>>,
    /// The engine's addresses. One the kernel lacks on the interface is owned (the engine
    /// answers ARP and ICMP echo for it); one the kernel has is shared (the kernel keeps
    /// ARP, ICMP and other ports; the engine takes its TCP ports).
    pub addrs: Vec<Cidr>,
    /// Next hop for destinations outside the addresses' prefixes.
    pub gateway: Option<Ipv4Addr>,
    /// The engine's IPv6 addresses, owned or shared as for IPv4 (an owned one is used
    /// once duplicate address detection found it unique; `Engine::start` waits for that).
    pub addrs6: Vec<Cidr6>,
    /// Next hop for IPv6 destinations outside the IPv6 prefixes.
    pub gateway6: Option<Ipv6Addr>,
    /// Duplicate address detection for owned IPv6 addresses (RFC 4862 5.4; default one
    /// probe, 1 s; 0 transmits turns it off).
    pub dad: super::DadConfig,
    /// TCP ports the HTTP responder listens on, on every address.
    pub ports: Vec<u16>,
    /// Local ports (inclusive) for connections the engine opens; steered to the engine.
    pub local_ports: (u16, u16),
    /// TCP ports the applications (`apps`) may listen on (`Net::listen`), on every
    /// address: steered to the engine from the start, refused by nobody until an
    /// application listens (a SYN before that gets a RST). None by default.
    pub app_ports: Vec<u16>,
    /// How the AF_XDP sockets are opened.
    pub afxdp: AfXdpConfig,
    /// How the steering program is attached.
    pub xdp: XdpConfig,
    /// Every connection's TCP settings.
    pub tcp: TcpConfig,
    /// Every session's HTTP settings.
    pub http: HttpConfig,
    /// Connections each worker holds at most, TIME_WAIT not counted; SYNs beyond get a RST.
    pub max_conns: usize,
    /// TIME_WAIT entries each worker keeps at most; beyond, a closing connection skips
    /// TIME_WAIT (counted), as Linux does.
    pub max_time_wait: usize,
    /// Half-open connections per port before SYN cookies.
    pub backlog: usize,
    /// Segments each worker's loopback inbox holds (traffic between our own addresses).
    pub loopback_inbox: usize,
    /// Write every frame received and sent to this pcap file.
    pub pcap: Option<PathBuf>,
    /// What the workers serve.
    pub service: Service,
    /// An application in each worker, beside the service.
    pub apps: Option<AppFactory>,
    /// The control socket `fastpath stat`, `ss` and `reload` ask (`None`: no control
    /// channel). Default: `/run/fastpath/IFACE.sock`.
    pub control: Option<PathBuf>,
    /// Serve Prometheus metrics at `http://ADDR:PORT/metrics` from the kernel's stack.
    pub metrics: Option<std::net::SocketAddr>,
    /// Run the worker threads as this user, with no capability, once everything
    /// privileged is done (see `RunAs`).
    pub user: Option<super::RunAs>,
    /// What the control channel's `reload` request runs (`None`: the request is answered
    /// with an error saying there is nothing to reload).
    pub reload: Option<ReloadHook>,
}

impl EngineConfig {
    /// The engine on `iface` with one address, serving the default hello over HTTP on
    /// port 80 from every queue.
    pub fn new(iface: &str, addr: Cidr) -> EngineConfig {
        EngineConfig {
            iface: iface.to_string(),
            queues: Queues::All,
            cores: None,
            addrs: vec![addr],
            gateway: None,
            addrs6: Vec::new(),
            gateway6: None,
            dad: super::DadConfig::default(),
            ports: vec![80],
            local_ports: (61000, 64999),
            app_ports: Vec::new(),
            afxdp: AfXdpConfig {
                mode: BindMode::Auto,
                frames: DEFAULT_FRAMES,
                rx_ring: 0,
                fill_ring: 0,
                rx_backlog: crate::worker::DEFAULT_RX_BACKLOG,
                busy_poll: false,
            },
            xdp: XdpConfig {
                mode: XdpMode::Auto,
                force: false,
            },
            tcp: TcpConfig::default(),
            http: HttpConfig::default(),
            max_conns: 16_384,
            max_time_wait: 262_144,
            backlog: 1024,
            loopback_inbox: 4096,
            pcap: None,
            service: Service::Http(Arc::new(Site::hello())),
            apps: None,
            control: Some(super::control::default_control_path(iface)),
            metrics: None,
            user: None,
            reload: None,
        }
    }

    /// The ports the responder listens on (none unless it serves HTTP).
    pub(crate) fn listen_ports(&self) -> &[u16] {
        match self.service {
            Service::Http(_) => &self.ports,
            Service::None | Service::Frames(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_report_is_its_address_prefix_and_ownership_for_either_family() {
        let r = |c: &str| {
            serde_json::to_value(crate::runtime::AddrReport {
                cidr: c.parse().unwrap(),
                owned: true,
            })
            .unwrap()
        };
        assert_eq!(
            r("2001:db8::10/64"),
            serde_json::json!({"addr": "2001:db8::10", "prefix": 64, "owned": true})
        );
        assert_eq!(
            r("10.0.0.2/24"),
            serde_json::json!({"addr": "10.0.0.2", "prefix": 24, "owned": true})
        );
    }

    #[test]
    fn cidrs_parse_and_print_back() {
        let c: Cidr = "10.1.2.3/24".parse().unwrap();
        assert_eq!((c.addr, c.prefix), (Ipv4Addr::new(10, 1, 2, 3), 24));
        assert_eq!(c.to_string(), "10.1.2.3/24");
        assert!("10.1.2.3"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("no prefix"));
        assert!("10.1.2.3/33".parse::<Cidr>().is_err());
        assert!("224.0.0.1/4".parse::<Cidr>().is_err());
    }

    #[test]
    fn addresses_of_either_family_parse() {
        let v6: IpCidr = "2001:db8::10/64".parse().unwrap();
        assert_eq!(
            v6,
            IpCidr::V6(Cidr6 {
                addr: "2001:db8::10".parse().unwrap(),
                prefix: 64
            })
        );
        assert_eq!(v6.to_string(), "2001:db8::10/64");
        let v4: IpCidr = "192.0.2.10/24".parse().unwrap();
        assert_eq!(v4, IpCidr::V4(Cidr::new(Ipv4Addr::new(192, 0, 2, 10), 24)));
        for (bad, says) in [
            ("2001:db8::10", "no prefix"),
            ("2001:db8::10/129", "prefix length"),
            ("2001:db8::zz/64", "not an IPv6 address"),
            ("ff02::1/64", "cannot be"),
            ("::1/128", "cannot be"),
            ("fe80::1/64", "link-local"),
            ("10.0.0.300/24", "not an IPv4 address"),
        ] {
            let e = bad.parse::<IpCidr>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn only_http_listens() {
        let mut c = EngineConfig::new("x", "10.0.0.2/24".parse().unwrap());
        assert_eq!(c.listen_ports(), &[80]);
        c.service = Service::None;
        assert!(c.listen_ports().is_empty());
    }
}

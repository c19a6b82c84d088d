//! fastpath engine: frames from a NIC queue through AF_XDP into a sans-IO TCP/IP stack.
//!
//! The one way in is [`runtime`]: an [`runtime::EngineConfig`] goes to
//! [`runtime::Engine::start`], which returns a running engine with live counters; stopping
//! it returns a [`runtime::Report`] (data). [`testing`] runs the same workers over in-memory
//! links in virtual time, without root.
//!
//! The modules below are listed in layer order, bottom up: each imports only modules above
//! it in this list.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod time; // explicit monotonic time, passed into every protocol layer (no clock reads inside)
pub mod wire; // checked views over bytes: ethernet (+802.1Q), arp, ipv4, ipv6, icmp(v6)/ndp, tcp
pub mod frame; // the Ethernet and IPv4 headers of every frame the engine sends, in one place
pub mod timer; // per-worker hierarchical timer wheel: O(1) schedule and cancel
pub mod stats; // per-worker counters, published off the hot path
pub mod icmp_out; // how ICMP leaves, as Linux: error rate limits (per peer, in all), IPv4 IDs
pub(crate) mod heap; // freed heap back to the kernel after a burst (malloc_trim, once a second)
pub mod tcp; // sans-IO TCP: segments and `now` in, segments and the next deadline out
pub(crate) mod neighbor; // ARP and NDP neighbour cache, next-hop resolution, duplicate address detection
pub mod http; // the HTTP/1.1 responder, sans-IO: requests from a Conn, responses into it
pub mod table; // the socket table shared by workers: 4-tuple -> (worker, slot)
pub mod iface; // below TCP: our addresses, ARP/NDP and ICMP(v6) echo answers, RSTs, drops by reason
pub mod host; // a worker's TCP host: listeners, its connections, their HTTP sessions, timers
pub mod app; // applications on a worker, any TCP protocol: listen, accept, connect, send, recv, close
#[allow(unsafe_code)]
pub mod afxdp; // the only module allowed `unsafe`: UMEM, the four rings, socket bind, wakeups
pub(crate) mod io; // the device seam: one queue's frame I/O (AF_XDP, or an in-memory link)
pub(crate) mod pcap; // capture of what the engine receives and sends (tcpdump cannot see it)
pub(crate) mod worker; // the run-to-completion loop over one device, on one core
pub mod testing; // whole engines over in-memory links in virtual time (tests, examples)
#[cfg(feature = "runtime")]
pub mod runtime; // EngineConfig -> Engine::start -> Running (stats, stop) -> Report (data)
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzz; // entry points for fuzz/ and the corpus replay test (feature `fuzz`)

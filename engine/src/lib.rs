//! fastpath engine: frames from a NIC queue through AF_XDP into a sans-IO TCP/IP stack.
//!
//! Read the modules top to bottom to see the architecture:
#![deny(unsafe_code)]

pub mod time; // explicit monotonic time, passed into every protocol layer (no clock reads inside)
pub mod wire; // checked views over bytes: ethernet (+802.1Q), arp, ipv4, icmp, tcp, checksums
pub mod timer; // per-worker hierarchical timer wheel: O(1) schedule and cancel
pub mod tcp; // sans-IO TCP: segments and `now` in, segments and the next deadline out
pub mod stats; // per-worker counters, published off the hot path
pub mod heap; // returning freed heap to the kernel after a burst (malloc_trim, once a second at most)
pub mod neighbor; // ARP neighbour cache and next-hop resolution with bounded queueing (sans-IO)
pub mod http; // the HTTP/1.1 responder, sans-IO: requests from a Conn, responses into it
pub mod table; // the socket table shared by workers: 4-tuple -> (worker, slot)
pub mod load; // an HTTP load generator that runs inside a worker (`fastpath load`, `--self-load`)
pub mod app; // what runs inside a worker: a client API (connect, send, recv, close, events)
pub mod host; // a worker's TCP host: listeners, its connections, their HTTP sessions, a timer wheel
pub mod iface; // below TCP: our addresses, ARP and ICMP echo answers, RSTs, drops by reason
pub mod io; // the device seam: one queue's frame I/O (AF_XDP, or an in-memory link for tests)
pub mod pcap; // --pcap: what the engine receives and sends, since tcpdump cannot see it
#[doc(hidden)]
pub mod fuzz; // entry points for fuzz/ and the corpus replay test
pub mod worker; // the run-to-completion loop: one AF_XDP socket, one core
pub mod testing; // whole engines over in-memory links in virtual time (tests, examples)
#[cfg(feature = "runtime")]
pub mod runtime; // EngineConfig -> Engine::start -> Running (stats, stop) -> Report (data)
#[allow(unsafe_code)]
pub mod afxdp; // the only module allowed `unsafe`: UMEM, the four rings, socket bind, wakeups

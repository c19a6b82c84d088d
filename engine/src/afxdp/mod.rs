//! AF_XDP: the only module of the engine allowed `unsafe`.
//!
//! An [`Xsk`] owns one AF_XDP socket bound to one (interface, queue), its UMEM (the frame
//! memory shared with the kernel) and the four rings: fill and RX for receiving,
//! TX and completion for sending. Frames are owned [`Frame`] handles; every frame is in
//! exactly one place at any time and [`Xsk::accounting`] counts them. A frame carries the
//! id of the UMEM that made it, and every other socket refuses it (`umem.rs`).

mod config;
mod cred;
mod error;
mod ethtool;
mod mmap;
mod netdev;
mod ring;
mod sys;
mod umem;
mod waker;
mod xsk;

pub use config::{BindMode, BusyPoll, FrameAccounting, GrantedMode, XdpStatistics, XskConfig};
pub use cred::{drop_thread_privileges, peer_uid};
pub use error::XskError;
pub use ethtool::{driver_name, rx_queue_count};
pub use netdev::{ifindex, ipv4_addresses, ipv6_addresses, mac_address};
pub use waker::Waker;
pub use xsk::{Frame, Xsk};

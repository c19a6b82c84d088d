//! How one AF_XDP socket is opened, and what it reports: the bind mode asked for and the
//! one granted, busy polling, ring sizes, where its frames are, the kernel's drop counters.
//! Plain data, no `unsafe`: the socket itself is `xsk.rs`.

use std::fmt;
use std::str::FromStr;

use super::error::XskError;

/// How to bind: zero-copy, copy, or zero-copy falling back to copy.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum BindMode {
    /// Ask for zero-copy, fall back to copy mode and say why.
    #[default]
    Auto,
    /// Zero-copy or fail (naming the driver).
    ZeroCopy,
    /// Copy mode: works on every driver with XDP.
    Copy,
}

impl FromStr for BindMode {
    type Err = String;
    fn from_str(s: &str) -> Result<BindMode, String> {
        match s {
            "auto" => Ok(BindMode::Auto),
            "zerocopy" | "zero-copy" | "zc" => Ok(BindMode::ZeroCopy),
            "copy" => Ok(BindMode::Copy),
            _ => Err(format!(
                "'{s}' is not a bind mode: use auto, zerocopy or copy"
            )),
        }
    }
}

impl fmt::Display for BindMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BindMode::Auto => "auto",
            BindMode::ZeroCopy => "zerocopy",
            BindMode::Copy => "copy",
        })
    }
}

/// The mode the kernel granted, read back with XDP_OPTIONS (never assumed).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum GrantedMode {
    /// The driver moves frames in the UMEM itself.
    #[serde(rename = "zero-copy")]
    ZeroCopy,
    /// The kernel copies frames between the driver and the UMEM.
    #[serde(rename = "copy")]
    Copy,
}

impl fmt::Display for GrantedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantedMode::ZeroCopy => "zero-copy",
            GrantedMode::Copy => "copy",
        })
    }
}

/// Socket busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BusyPoll {
    /// SO_BUSY_POLL: microseconds to busy-poll the device for.
    pub usecs: u32,
    /// SO_BUSY_POLL_BUDGET: packets per busy poll.
    pub budget: u32,
}

/// How to open one AF_XDP socket.
#[derive(Clone, Debug)]
pub struct XskConfig {
    /// The interface.
    pub ifname: String,
    /// Its receive queue.
    pub queue: u32,
    /// Bytes per frame: 2048 or 4096.
    pub frame_size: u32,
    /// Frames in the UMEM. Up to three quarters wait in the fill ring; a quarter stays
    /// free for transmit.
    pub frame_count: u32,
    /// Entries in the RX ring (0: half the frames). A burst longer than this that the
    /// worker cannot drain in time is dropped by the kernel (counted in XDP_STATISTICS as
    /// rx_ring_full).
    pub rx_ring: u32,
    /// Entries in the fill ring (0: half the frames). Frames the kernel can receive into
    /// before the worker refills it (rx_fill_ring_empty_descs counts the misses).
    pub fill_ring: u32,
    /// Zero-copy, copy, or zero-copy falling back to copy.
    pub mode: BindMode,
    /// Socket busy polling, if wanted.
    pub busy_poll: Option<BusyPoll>,
    /// Try 2 MiB huge pages for the UMEM (falls back to normal pages).
    pub hugepages: bool,
}

impl XskConfig {
    /// The defaults for queue `queue` of `ifname`.
    pub fn new(ifname: &str, queue: u32) -> XskConfig {
        XskConfig {
            ifname: ifname.to_string(),
            queue,
            frame_size: 4096,
            frame_count: 4096,
            rx_ring: 0,
            fill_ring: 0,
            mode: BindMode::Auto,
            busy_poll: None,
            hugepages: true,
        }
    }

    /// TX and completion ring entries: half the frames.
    pub(super) fn ring_size(&self) -> u32 {
        self.frame_count / 2
    }

    /// RX ring entries, as configured or half the frames.
    pub fn rx_ring_size(&self) -> u32 {
        if self.rx_ring == 0 {
            self.frame_count / 2
        } else {
            self.rx_ring
        }
    }

    /// Fill ring entries, as configured or half the frames.
    pub fn fill_ring_size(&self) -> u32 {
        if self.fill_ring == 0 {
            self.frame_count / 2
        } else {
            self.fill_ring
        }
    }

    pub(super) fn validate(&self) -> Result<(), XskError> {
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err(XskError::Config(format!(
                "frame size {} (use 2048 or 4096)",
                self.frame_size
            )));
        }
        if !self.frame_count.is_power_of_two() || !(64..=1 << 20).contains(&self.frame_count) {
            return Err(XskError::Config(format!(
                "frame count {} (use a power of two from 64 to 1048576)",
                self.frame_count
            )));
        }
        for (what, n) in [
            ("RX ring", self.rx_ring_size()),
            ("fill ring", self.fill_ring_size()),
        ] {
            if !n.is_power_of_two() || !(64..=self.frame_count).contains(&n) {
                return Err(XskError::Config(format!(
                    "{what} size {n} (use a power of two from 64 to the frame count, {})",
                    self.frame_count
                )));
            }
        }
        Ok(())
    }
}

/// Where the UMEM's frames are. `free + kernel_rx + in_use + kernel_tx == total`, always.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FrameAccounting {
    /// On the free list, ready for the fill ring or for transmit.
    pub free: u32,
    /// Given to the kernel for receiving: in the fill ring or the RX ring.
    pub kernel_rx: u32,
    /// Handed to the caller (received or allocated) and not yet returned.
    pub in_use: u32,
    /// Given to the kernel for sending: in the TX ring or the completion ring.
    pub kernel_tx: u32,
    /// Frames in the UMEM.
    pub total: u32,
}

impl FrameAccounting {
    /// Every frame is accounted for exactly once.
    pub fn balanced(&self) -> bool {
        self.free + self.kernel_rx + self.in_use + self.kernel_tx == self.total
    }
}

/// The kernel's per-socket drop counters (XDP_STATISTICS).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct XdpStatistics {
    /// Frames dropped for any other reason.
    pub rx_dropped: u64,
    /// Bad RX descriptors.
    pub rx_invalid_descs: u64,
    /// Bad TX descriptors.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the TX ring was empty when the driver looked.
    pub tx_ring_empty_descs: u64,
}

//! Kernel ABI for AF_XDP in one place, mirroring
//! <https://github.com/torvalds/linux/blob/master/include/uapi/linux/if_xdp.h> and the
//! ethtool ioctl structs of include/uapi/linux/ethtool.h. Sizes are asserted at compile
//! time so a mismatch fails the build rather than corrupting memory.

use core::mem::size_of;

pub use libc::{
    sockaddr_xdp, xdp_desc, xdp_mmap_offsets, xdp_options, xdp_ring_offset, xdp_statistics,
    xdp_umem_reg, SOL_XDP, XDP_COPY, XDP_MMAP_OFFSETS, XDP_OPTIONS, XDP_OPTIONS_ZEROCOPY,
    XDP_PGOFF_RX_RING, XDP_PGOFF_TX_RING, XDP_RING_NEED_WAKEUP, XDP_RX_RING, XDP_STATISTICS,
    XDP_TX_RING, XDP_UMEM_COMPLETION_RING, XDP_UMEM_FILL_RING, XDP_UMEM_PGOFF_COMPLETION_RING,
    XDP_UMEM_PGOFF_FILL_RING, XDP_UMEM_REG, XDP_USE_NEED_WAKEUP, XDP_ZEROCOPY,
};

pub const AF_XDP: libc::c_int = 44;

// include/uapi/asm-generic/socket.h (x86, arm64, riscv; not mips/sparc/parisc/alpha).
pub const SO_BUSY_POLL: libc::c_int = 46;
pub const SO_PREFER_BUSY_POLL: libc::c_int = 69;
pub const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

// include/uapi/asm-generic/mman-common.h, include/uapi/linux/mman.h
pub const MAP_HUGE_SHIFT: libc::c_int = 26;
pub const MAP_HUGE_2MB: libc::c_int = 21 << MAP_HUGE_SHIFT;

// include/uapi/linux/sockios.h, ethtool.h
pub const SIOCETHTOOL: libc::c_ulong = 0x8946;
pub const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
pub const ETHTOOL_GCHANNELS: u32 = 0x0000_003c;

/// `struct ethtool_drvinfo`.
#[repr(C)]
pub struct EthtoolDrvinfo {
    pub cmd: u32,
    pub driver: [u8; 32],
    pub version: [u8; 32],
    pub fw_version: [u8; 32],
    pub bus_info: [u8; 32],
    pub erom_version: [u8; 32],
    pub reserved2: [u8; 12],
    pub n_priv_flags: u32,
    pub n_stats: u32,
    pub testinfo_len: u32,
    pub eedump_len: u32,
    pub regdump_len: u32,
}

/// `struct ethtool_channels`.
#[repr(C)]
#[derive(Default)]
pub struct EthtoolChannels {
    pub cmd: u32,
    pub max_rx: u32,
    pub max_tx: u32,
    pub max_other: u32,
    pub max_combined: u32,
    pub rx_count: u32,
    pub tx_count: u32,
    pub other_count: u32,
    pub combined_count: u32,
}

/// `struct ifreq` with the `ifr_data` member of its union (what SIOCETHTOOL reads).
#[repr(C)]
pub struct IfreqData {
    pub name: [u8; libc::IF_NAMESIZE],
    pub data: *mut libc::c_void,
    pub _pad: [u8; 16],
}

const _: () = assert!(size_of::<sockaddr_xdp>() == 16);
const _: () = assert!(size_of::<xdp_ring_offset>() == 32);
const _: () = assert!(size_of::<xdp_mmap_offsets>() == 128);
const _: () = assert!(size_of::<xdp_umem_reg>() == 32);
const _: () = assert!(size_of::<xdp_statistics>() == 48);
const _: () = assert!(size_of::<xdp_options>() == 4);
const _: () = assert!(size_of::<xdp_desc>() == 16);
const _: () = assert!(size_of::<EthtoolDrvinfo>() == 196);
const _: () = assert!(size_of::<EthtoolChannels>() == 36);
const _: () = assert!(size_of::<IfreqData>() == 40);

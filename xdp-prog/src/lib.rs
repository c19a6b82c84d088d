//! fastpath's XDP steering program and its loader.
//!
//! `src/bpf/steer.bpf.c` decides, for every frame on an attached interface, whether it is
//! the engine's (redirect to the AF_XDP socket of its queue) or the kernel's (`XDP_PASS`).
//! This crate loads it, fills its maps from a [`SteerConfig`], attaches it without ever
//! replacing someone else's program, registers the engine's sockets and reads its
//! counters. [`Steering`] detaches on drop; [`DetachHandle`] detaches from any thread (a
//! signal handler, a panic hook), since an attachment outlives the process that made it.

mod attach;
mod counters;
mod error;
mod maps;

pub use attach::{AttachedMode, DetachHandle, XdpMode};
pub use counters::{Counter, Counters};
pub use error::XdpError;
pub use maps::{AddrMode, SteerConfig};

use std::os::fd::RawFd;

use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder};

/// The compiled program, embedded at build time (see build.rs).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/steer.bpf.o"));

/// Whether this steering program hands the engine IPv6 for its addresses (neighbour
/// discovery, ICMPv6, TCP). While false, the engine refuses IPv6 addresses at start rather
/// than run with addresses no frame reaches.
pub const STEERS_IPV6: bool = true;

/// The program's name as the kernel reports it (`bpftool prog`, `ip -d link`).
pub const PROGRAM_NAME: &str = "fastpath_steer";

/// The loaded steering program and its maps; attached to at most one interface.
pub struct Steering {
    obj: Object,
    attached: Option<DetachHandle>,
}

impl Steering {
    /// Loads the program into the kernel and fills its maps from `cfg`.
    pub fn load(cfg: &SteerConfig) -> Result<Steering, XdpError> {
        cfg.validate()?;
        let open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(|e| XdpError::Load(format!("{e}")))?;
        let obj = open.load().map_err(XdpError::from_load)?;
        let steering = Steering {
            obj,
            attached: None,
        };
        maps::fill(&steering, cfg)?;
        Ok(steering)
    }

    pub(crate) fn map(&self, name: &str) -> libbpf_rs::Map<'_> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .unwrap_or_else(|| panic!("map {name} is defined in steer.bpf.c"))
    }

    fn program(&self) -> libbpf_rs::Program<'_> {
        self.obj
            .progs()
            .find(|p| p.name() == PROGRAM_NAME)
            .expect("program fastpath_steer is defined in steer.bpf.c")
    }

    /// Runs the program once on `frame` with `BPF_PROG_TEST_RUN` (queue 0) and returns the
    /// XDP action it chose (`XDP_PASS` = 2, `XDP_REDIRECT` = 4, ...). Counters are updated
    /// as for a real frame.
    pub fn test_run(&self, frame: &[u8]) -> Result<u32, XdpError> {
        let input = libbpf_rs::ProgramInput {
            data_in: Some(frame),
            ..Default::default()
        };
        let out = self
            .obj
            .progs_mut()
            .find(|p| p.name() == PROGRAM_NAME)
            .expect("program fastpath_steer is defined in steer.bpf.c")
            .test_run(input)
            .map_err(|e| XdpError::Load(format!("BPF_PROG_TEST_RUN: {e}")))?;
        Ok(out.return_value)
    }

    /// Registers an AF_XDP socket at `slot` of the XSKMAP (see the slot formula above).
    pub fn register_socket(&self, slot: u32, xsk_fd: RawFd) -> Result<(), XdpError> {
        let fd = u32::try_from(xsk_fd).map_err(|_| XdpError::Map(format!("bad fd {xsk_fd}")))?;
        self.map("xsks")
            .update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| XdpError::Map(format!("registering socket at slot {slot}: {e}")))
    }

    /// Removes the socket at `slot` (frames for it fall back to the kernel).
    pub fn unregister_socket(&self, slot: u32) -> Result<(), XdpError> {
        self.map("xsks")
            .delete(&slot.to_ne_bytes())
            .map_err(|e| XdpError::Map(format!("removing socket at slot {slot}: {e}")))
    }

    /// Counters summed over CPUs.
    pub fn counters(&self) -> Result<Counters, XdpError> {
        counters::read(&self.map("counters"))
    }

    /// Attaches to `ifindex`. Refuses, naming it, when another program is attached, unless
    /// `force`. `XdpMode::Auto` tries native mode, then generic mode.
    pub fn attach(
        &mut self,
        ifindex: u32,
        mode: XdpMode,
        force: bool,
    ) -> Result<AttachedMode, XdpError> {
        if self.attached.is_some() {
            return Err(XdpError::AlreadyAttached);
        }
        let handle = attach::attach(&self.program(), ifindex, mode, force)?;
        let granted = handle.mode();
        self.attached = Some(handle);
        Ok(granted)
    }

    /// A handle that detaches this program from its interface from anywhere.
    pub fn detach_handle(&self) -> Option<DetachHandle> {
        self.attached.clone()
    }

    /// Detaches if attached. Idempotent; only removes the program if it is still ours.
    pub fn detach(&mut self) -> Result<(), XdpError> {
        match self.attached.take() {
            Some(h) => h.detach(),
            None => Ok(()),
        }
    }
}

impl Drop for Steering {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            tracing::error!("detaching the XDP program: {e}");
        }
    }
}

//! Attaching without trampling: query first, refuse a foreign program unless forced, try
//! native mode before generic, and detach only what is still ours.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::str::FromStr;
use std::sync::Arc;

use libbpf_rs::query::ProgInfoIter;
use libbpf_rs::{Xdp, XdpFlags};

use crate::XdpError;

/// What the user asked for (`--xdp-mode`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum XdpMode {
    /// Native (driver) mode, falling back to generic (skb) mode with the reason logged.
    #[default]
    Auto,
    /// Native mode only: fail where the driver has no XDP support.
    Native,
    /// Generic mode: works on any interface, slower (the frame is already an skb).
    Generic,
}

impl FromStr for XdpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<XdpMode, String> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "native" | "drv" | "driver" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => Err(format!(
                "'{s}' is not an XDP mode: use auto, native or generic"
            )),
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        })
    }
}

/// The mode the kernel granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachedMode {
    Native,
    /// Generic mode; with `Auto`, the reason native mode was refused.
    Generic {
        native_refused: Option<String>,
    },
}

impl fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachedMode::Native => f.write_str("native"),
            AttachedMode::Generic {
                native_refused: None,
            } => f.write_str("generic"),
            AttachedMode::Generic {
                native_refused: Some(why),
            } => write!(f, "generic (native refused: {why})"),
        }
    }
}

impl AttachedMode {
    fn flags(&self) -> XdpFlags {
        match self {
            AttachedMode::Native => XdpFlags::DRV_MODE,
            AttachedMode::Generic { .. } => XdpFlags::SKB_MODE,
        }
    }
}

/// Detaches our program from its interface. `Clone + Send`: a signal-handling thread or a
/// panic hook can hold one. Detaching twice, or after someone replaced the program, is a
/// no-op.
#[derive(Clone, Debug)]
pub struct DetachHandle {
    ifindex: u32,
    ifname: String,
    mode: AttachedMode,
    prog_id: u32,
    prog_fd: Arc<OwnedFd>,
}

impl DetachHandle {
    pub fn mode(&self) -> AttachedMode {
        self.mode.clone()
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The kernel's id of our program (as `ip -d link` and `bpftool prog` show it).
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    pub fn detach(&self) -> Result<(), XdpError> {
        let xdp = Xdp::new(self.prog_fd.as_fd());
        let current = match xdp.query(self.ifindex as i32, XdpFlags::NONE) {
            Ok(q) => q.prog_id,
            // The interface is gone, and the attachment with it.
            Err(_) => return Ok(()),
        };
        if current != self.prog_id {
            return Ok(());
        }
        xdp.detach(self.ifindex as i32, self.mode.flags())
            .map_err(|e| XdpError::Detach {
                ifname: self.ifname.clone(),
                reason: e.to_string(),
            })
    }
}

pub(crate) fn attach(
    prog: &libbpf_rs::Program<'_>,
    ifindex: u32,
    mode: XdpMode,
    force: bool,
) -> Result<DetachHandle, XdpError> {
    let ifname = ifname(ifindex).ok_or(XdpError::NoInterface(ifindex))?;
    let xdp = Xdp::new(prog.as_fd());
    let existing = xdp
        .query(ifindex as i32, XdpFlags::NONE)
        .map_err(|e| XdpError::Attach {
            ifname: ifname.clone(),
            mode: "any",
            reason: format!("querying the interface: {e}"),
        })?;
    if existing.prog_id != 0 {
        if !force {
            return Err(XdpError::Occupied {
                ifname,
                id: existing.prog_id,
                name: program_name(existing.prog_id),
            });
        }
        // Native and generic programs cannot coexist: remove the old one in its own mode.
        let old_mode = if existing.skb_prog_id != 0 {
            XdpFlags::SKB_MODE
        } else {
            XdpFlags::DRV_MODE
        };
        tracing::warn!(
            "forced: replacing XDP program {} ('{}') on {ifname}",
            existing.prog_id,
            program_name(existing.prog_id)
        );
        xdp.detach(ifindex as i32, old_mode)
            .map_err(|e| XdpError::Attach {
                ifname: ifname.clone(),
                mode: "any",
                reason: format!("removing the old program: {e}"),
            })?;
    }

    // UPDATE_IF_NOEXIST: never replace a program attached between our query and now.
    let try_mode =
        |flags: XdpFlags| xdp.attach(ifindex as i32, flags | XdpFlags::UPDATE_IF_NOEXIST);
    let granted = match mode {
        XdpMode::Native => {
            try_mode(XdpFlags::DRV_MODE).map_err(|e| XdpError::Attach {
                ifname: ifname.clone(),
                mode: "native",
                reason: format!("{e} (the driver may lack native XDP: try generic mode)"),
            })?;
            AttachedMode::Native
        }
        XdpMode::Generic => {
            try_mode(XdpFlags::SKB_MODE).map_err(|e| XdpError::Attach {
                ifname: ifname.clone(),
                mode: "generic",
                reason: e.to_string(),
            })?;
            AttachedMode::Generic {
                native_refused: None,
            }
        }
        XdpMode::Auto => match try_mode(XdpFlags::DRV_MODE) {
            Ok(()) => AttachedMode::Native,
            Err(native) => {
                try_mode(XdpFlags::SKB_MODE).map_err(|e| XdpError::Attach {
                    ifname: ifname.clone(),
                    mode: "native or generic",
                    reason: format!("native: {native}; generic: {e}"),
                })?;
                AttachedMode::Generic {
                    native_refused: Some(native.to_string()),
                }
            }
        },
    };
    let prog_id = xdp
        .query(ifindex as i32, XdpFlags::NONE)
        .map(|q| q.prog_id)
        .unwrap_or(0);
    let prog_fd = prog
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| XdpError::Attach {
            ifname: ifname.clone(),
            mode: "any",
            reason: format!("duplicating the program fd: {e}"),
        })?;
    Ok(DetachHandle {
        ifindex,
        ifname,
        mode: granted,
        prog_id,
        prog_fd: Arc::new(prog_fd),
    })
}

/// The name of a loaded program, or "unknown" when it cannot be read.
fn program_name(id: u32) -> String {
    ProgInfoIter::default()
        .find(|p| p.id == id)
        .map(|p| p.name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Interface name of an index, in the calling thread's network namespace.
fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: `buf` is IF_NAMESIZE bytes, the size if_indextoname writes at most (with NUL).
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for m in [XdpMode::Auto, XdpMode::Native, XdpMode::Generic] {
            assert_eq!(m.to_string().parse::<XdpMode>().unwrap(), m);
        }
        assert!("fast"
            .parse::<XdpMode>()
            .unwrap_err()
            .contains("auto, native or generic"));
    }
}

//! Errors of the loader. Each message says what is wrong and what to do about it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum XdpError {
    #[error("loading the XDP program failed: {0}")]
    Load(String),
    #[error(
        "not allowed to load BPF programs ({0}): run as root, or grant CAP_BPF, CAP_NET_ADMIN \
         and CAP_PERFMON"
    )]
    Permission(String),
    #[error("configuring the XDP program's maps failed: {0}")]
    Map(String),
    #[error("invalid steering configuration: {0}")]
    Config(String),
    #[error(
        "interface {ifname} already has XDP program {id} ('{name}') attached; fastpath will not \
         replace another program. If nothing else uses it (e.g. a fastpath that was killed), \
         detach it with `ip link set dev {ifname} xdp off`, or attach with force to replace it"
    )]
    Occupied {
        ifname: String,
        id: u32,
        name: String,
    },
    #[error("attaching the XDP program to {ifname} in {mode} mode failed: {reason}")]
    Attach {
        ifname: String,
        mode: &'static str,
        reason: String,
    },
    #[error("interface index {0} does not exist (was the interface removed?)")]
    NoInterface(u32),
    #[error("this Steering is already attached; load another one for a second interface")]
    AlreadyAttached,
    #[error("detaching the XDP program from {ifname} failed: {reason}")]
    Detach { ifname: String, reason: String },
}

impl XdpError {
    pub(crate) fn from_load(e: libbpf_rs::Error) -> XdpError {
        let text = format!("{e}");
        if matches!(e.kind(), libbpf_rs::ErrorKind::PermissionDenied)
            || text.contains("EPERM")
            || text.contains("Operation not permitted")
        {
            XdpError::Permission(text)
        } else {
            XdpError::Load(text)
        }
    }
}

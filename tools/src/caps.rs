//! Checks at start that the process may do what the engine needs, so the user gets one
//! clear line instead of an EPERM from deep inside setup.

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The effective capability set, from /proc/self/status.
fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// `Err` with the missing capabilities named, when AF_XDP and XDP cannot work.
pub fn check() -> anyhow::Result<()> {
    let Some(eff) = effective() else {
        return Ok(()); // cannot tell: let the kernel say
    };
    let has = |c: u32| eff & (1u64 << c) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !has(CAP_NET_RAW) {
        missing.push("CAP_NET_RAW");
    }
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "missing {}: run as root (sudo fastpath ...) or grant them with \
             `setcap cap_net_admin,cap_net_raw,cap_bpf,cap_sys_admin+ep $(which fastpath)`",
            missing.join(", ")
        )
    }
}

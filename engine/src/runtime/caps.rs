//! Whether the process may do what the engine needs, checked before anything is set up,
//! so a user gets one clear error instead of an EPERM from deep inside.

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

/// The capabilities AF_XDP and XDP need that the process lacks (empty when it cannot
/// tell: the kernel will say).
pub fn missing_capabilities() -> Vec<&'static str> {
    let Some(eff) = effective() else {
        return Vec::new();
    };
    missing_from(eff)
}

fn missing_from(eff: u64) -> Vec<&'static str> {
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
    missing
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_what_is_missing() {
        assert_eq!(
            super::missing_from(0),
            ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF"]
        );
        let root = u64::MAX >> 23;
        assert!(super::missing_from(root).is_empty());
        // CAP_SYS_ADMIN stands in for CAP_BPF on older kernels.
        let sys_admin = (1 << 12) | (1 << 13) | (1 << 21);
        assert!(super::missing_from(sys_admin).is_empty());
    }
}

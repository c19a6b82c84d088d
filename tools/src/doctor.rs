//! `fastpath doctor --iface IF`: what decides whether the engine will run well on this
//! machine and interface, one line each, OK, WARN or FAIL, with the fix. It reads only;
//! with `--fix` it applies the fixes it printed that are a setting it can write (huge
//! pages, the veth peer's TX checksum offload and queue, the busy-poll knobs) and nothing
//! else.
//! Exits 0 unless a check FAILs.

use std::path::Path;
use std::process::Command;

use anyhow::bail;

#[derive(clap::Args, Debug, Clone)]
pub struct DoctorArgs {
    /// The interface the engine would attach to.
    #[arg(long, value_name = "IF")]
    pub iface: String,

    /// Apply the printed fixes that are a setting (never anything not printed).
    #[arg(long)]
    pub fix: bool,

    /// Frames per queue the engine would use (`serve --frames`), for the memory checks.
    #[arg(long, value_name = "N", default_value_t = fastpath_engine::runtime::DEFAULT_FRAMES as u64)]
    pub frames: u64,

    /// Check for `serve --busy-poll` (interrupt deferral then matters).
    #[arg(long = "busy-poll")]
    pub busy_poll: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// A fix `--fix` can apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Apply {
    /// Write this value to this file (a sysctl or a sysfs knob).
    Write(String, String),
    /// Run this command.
    Run(Vec<String>),
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Check {
    pub level: Level,
    pub what: String,
    /// What to do about it, for people.
    pub fix: Option<String>,
    pub apply: Option<Apply>,
}

fn ok(what: impl Into<String>) -> Check {
    Check {
        level: Level::Ok,
        what: what.into(),
        fix: None,
        apply: None,
    }
}

fn warn(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level: Level::Warn,
        what: what.into(),
        fix: Some(fix.into()),
        apply: None,
    }
}

fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level: Level::Fail,
        ..warn(what, fix)
    }
}

impl Check {
    fn applying(mut self, a: Apply) -> Check {
        self.apply = Some(a);
        self
    }
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn run(argv: &[&str]) -> Option<String> {
    let out = Command::new(argv[0]).args(&argv[1..]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Drivers with AF_XDP zero-copy in mainline Linux (drivers/net/ethernet/*: those that
/// implement `ndo_xsk_wakeup`), as of 6.x.
const ZEROCOPY_DRIVERS: &[&str] = &[
    "i40e",
    "ice",
    "ixgbe",
    "igc",
    "igb",
    "mlx5_core",
    "stmmac",
    "ena",
    "gve",
    "idpf",
    "bnxt_en",
    "virtio_net",
    "tsnep",
    "fec",
    "dpaa2-eth",
    "octeontx2-nicpf",
    "mana",
];
/// Drivers without native XDP: the engine falls back to generic (skb) mode.
const NO_NATIVE_XDP: &[&str] = &["e1000", "e1000e", "r8169", "bridge", "dummy", "bonding"];

/// Every check, in the order printed.
pub fn checks(args: &DoctorArgs) -> Vec<Check> {
    let iface = args.iface.as_str();
    let mut out = Vec::new();
    out.push(capabilities());
    out.extend(kernel());
    if fastpath_engine::afxdp::ifindex(iface).is_none() {
        out.push(fail(
            format!("interface {iface}: not in this network namespace"),
            "give an interface `ip link` lists (the engine attaches in its own namespace)",
        ));
        return out;
    }
    let driver = fastpath_engine::afxdp::driver_name(iface).unwrap_or_else(|_| "unknown".into());
    out.push(driver_check(iface, &driver));
    let queues = fastpath_engine::afxdp::rx_queue_count(iface).unwrap_or(1);
    out.extend(queue_checks(iface, queues));
    out.push(irq_affinity(iface, queues));
    out.extend(memory(args.frames, queues));
    out.extend(busy_poll(iface, args.busy_poll));
    if driver == "veth" {
        out.push(veth_peer_checksum(iface));
        out.push(veth_peer_queue(iface));
    }
    out.push(xdp_attached(iface));
    out
}

fn capabilities() -> Check {
    let missing = fastpath_engine::runtime::missing_capabilities();
    if missing.is_empty() {
        ok("privileges: CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF held")
    } else {
        fail(
            format!("privileges: missing {}", missing.join(", ")),
            "run as root, or `setcap cap_net_admin,cap_net_raw,cap_bpf,cap_sys_admin+ep $(which fastpath)`",
        )
    }
}

/// (major, minor) of the running kernel.
fn kernel_version() -> Option<(u32, u32)> {
    let r = read("/proc/sys/kernel/osrelease")?;
    let mut it = r.split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn kernel() -> Vec<Check> {
    let Some(v) = kernel_version() else {
        return vec![warn(
            "kernel: version unreadable",
            "check /proc/sys/kernel/osrelease",
        )];
    };
    let at_least = |a: u32, b: u32| v >= (a, b);
    let text = format!("{}.{}", v.0, v.1);
    if !at_least(5, 4) {
        return vec![fail(
            format!("kernel {text}: AF_XDP without need_wakeup (5.4+) and shared UMEM fixes"),
            "run a 5.10 or newer kernel (6.1+ recommended)",
        )];
    }
    let mut lacks = Vec::new();
    if !at_least(6, 6) {
        lacks.push("multi-buffer AF_XDP (6.6)");
    }
    if !at_least(6, 8) {
        lacks.push("AF_XDP TX metadata (6.8)");
    }
    if lacks.is_empty() {
        vec![ok(format!(
            "kernel {text}: AF_XDP need_wakeup, multi-buffer and TX metadata"
        ))]
    } else {
        vec![warn(
            format!(
                "kernel {text}: AF_XDP need_wakeup; lacks {}",
                lacks.join(", ")
            ),
            "a 6.8 or newer kernel has them all (the engine runs without them)",
        )]
    }
}

fn driver_check(iface: &str, driver: &str) -> Check {
    if driver == "veth" {
        return warn(
            format!("driver veth on {iface}: native XDP yes; AF_XDP copy mode only (no zero-copy on veth)"),
            "fine for tests; for speed use a NIC whose driver has zero-copy (i40e, ice, mlx5_core, ...)",
        );
    }
    let native = !NO_NATIVE_XDP.contains(&driver);
    let zc = ZEROCOPY_DRIVERS.contains(&driver);
    let what = format!(
        "driver {driver} on {iface}: native XDP {}; AF_XDP {}",
        if native { "yes" } else { "no (generic mode)" },
        if zc {
            "zero-copy"
        } else {
            "copy mode only (no zero-copy in this driver)"
        }
    );
    if native && zc {
        ok(what)
    } else {
        warn(
            what,
            "the engine runs, slower; a NIC with zero-copy (i40e, ice, mlx5_core, ...) is faster",
        )
    }
}

fn queue_checks(iface: &str, queues: u32) -> Vec<Check> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let mut out = Vec::new();
    if queues == 1 && cpus > 1 {
        out.push(warn(
            format!("queues: {iface} has 1 combined queue: one worker, one core of {cpus}"),
            format!("`ethtool -L {iface} combined {cpus}` where the driver allows"),
        ));
    } else {
        out.push(ok(format!(
            "queues: {queues} on {iface}, {cpus} CPUs: one worker per queue"
        )));
    }
    let features = run(&["ethtool", "-k", iface]).unwrap_or_default();
    let feature = |name: &str| {
        features
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .map(str::to_string)
    };
    let ntuple = feature("ntuple-filters").unwrap_or_else(|| "unknown".into());
    let rss = run(&["ethtool", "-x", iface]).is_some();
    let what = format!(
        "RSS indirection table {}; ntuple filters {ntuple}",
        if rss { "readable" } else { "not offered" }
    );
    if queues > 1 && !rss {
        out.push(warn(
            what,
            format!("spread flows over the queues: `ethtool -X {iface} equal {queues}`"),
        ));
    } else {
        out.push(ok(what));
    }
    out
}

/// The IRQs of `iface`'s queues and the CPUs each may run on, against the core each
/// queue's worker gets by default (queue number modulo the CPU count).
fn irq_affinity(iface: &str, queues: u32) -> Check {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let table = read("/proc/interrupts").unwrap_or_default();
    let irqs: Vec<(String, String)> = table
        .lines()
        .filter(|l| l.contains(iface))
        .filter_map(|l| {
            let irq = l.split(':').next()?.trim().to_string();
            let name = l.split_whitespace().last()?.to_string();
            Some((irq, name))
        })
        .collect();
    if irqs.is_empty() {
        return ok(format!(
            "IRQs: none named {iface} (a virtual device, or IRQs named by the bus): nothing to pin"
        ));
    }
    let mut off = Vec::new();
    for (i, (irq, name)) in irqs.iter().enumerate().take(queues as usize) {
        let list = read(format!("/proc/irq/{irq}/smp_affinity_list")).unwrap_or_default();
        let core = i % cpus;
        if list != core.to_string() {
            off.push(format!(
                "{name} (IRQ {irq}) on CPUs {list}, its worker on {core}"
            ));
        }
    }
    if off.is_empty() {
        ok(format!(
            "IRQs: each queue's IRQ on its worker's core ({} checked)",
            irqs.len()
        ))
    } else {
        warn(
            format!("IRQs: {}", off.join("; ")),
            "pin each queue's IRQ to its worker's core: `echo CORE > /proc/irq/IRQ/smp_affinity_list` (stop irqbalance), or give --cores to match",
        )
    }
}

fn memory(frames: u64, queues: u32) -> Vec<Check> {
    let mut out = Vec::new();
    let need = frames * 4096 * queues as u64;
    let limits = read("/proc/self/limits").unwrap_or_default();
    let memlock = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))
        .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let root = fastpath_engine::runtime::missing_capabilities().is_empty()
        && read("/proc/self/status").is_some_and(|s| {
            s.lines()
                .find(|l| l.starts_with("CapEff:"))
                .and_then(|l| u64::from_str_radix(l[7..].trim(), 16).ok())
                .is_some_and(|c| c & (1 << 14) != 0) // CAP_IPC_LOCK
        });
    let enough = memlock == "unlimited" || memlock.parse::<u64>().is_ok_and(|m| m >= need);
    if enough || root {
        out.push(ok(format!(
            "memlock: {memlock}{} for {} MiB of UMEM",
            if root && !enough {
                " (CAP_IPC_LOCK held: not charged)"
            } else {
                ""
            },
            need >> 20
        )));
    } else {
        out.push(warn(
            format!("memlock: {memlock} bytes, the UMEM needs {need}"),
            "`ulimit -l unlimited` (systemd: LimitMEMLOCK=infinity)",
        ));
    }
    let meminfo = read("/proc/meminfo").unwrap_or_default();
    let field = |k: &str| {
        meminfo
            .lines()
            .find_map(|l| {
                l.strip_prefix(k)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    let free = field("HugePages_Free:");
    let want = need.div_ceil(2 << 20);
    if free >= want {
        out.push(ok(format!(
            "huge pages: {free} free, the UMEM needs {want}"
        )));
    } else {
        let total = field("HugePages_Total:") + (want - free);
        out.push(
            warn(
                format!("huge pages: {free} free, the UMEM would use {want} (it falls back to 4 KiB pages)"),
                format!("`sysctl vm.nr_hugepages={total}`"),
            )
            .applying(Apply::Write("/proc/sys/vm/nr_hugepages".into(), total.to_string())),
        );
    }
    out
}

fn busy_poll(iface: &str, busy: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let poll = read("/proc/sys/net/core/busy_poll").unwrap_or_else(|| "?".into());
    let read_ = read("/proc/sys/net/core/busy_read").unwrap_or_else(|| "?".into());
    out.push(ok(format!(
        "busy-poll sysctls: net.core.busy_poll {poll}, busy_read {read_} (--busy-poll sets its sockets' own)"
    )));
    let dir = format!("/sys/class/net/{iface}");
    let defer = read(format!("{dir}/napi_defer_hard_irqs"));
    let gro = read(format!("{dir}/gro_flush_timeout"));
    match (defer.as_deref(), gro.as_deref()) {
        (Some("0"), _) | (_, Some("0")) if !busy => out.push(ok(format!(
            "napi_defer_hard_irqs {}, gro_flush_timeout {} on {iface}: interrupt-driven (check with --busy-poll for busy polling)",
            defer.as_deref().unwrap_or("?"),
            gro.as_deref().unwrap_or("?")
        ))),
        (Some("0"), _) | (_, Some("0")) => out.push(
            warn(
                format!(
                    "napi_defer_hard_irqs {}, gro_flush_timeout {} on {iface}: with --busy-poll, interrupts still fire",
                    defer.as_deref().unwrap_or("?"),
                    gro.as_deref().unwrap_or("?")
                ),
                format!("for --busy-poll: `echo 2 > {dir}/napi_defer_hard_irqs; echo 200000 > {dir}/gro_flush_timeout`"),
            )
            .applying(Apply::Run(vec![
                "sh".into(),
                "-c".into(),
                format!("echo 2 > {dir}/napi_defer_hard_irqs && echo 200000 > {dir}/gro_flush_timeout"),
            ])),
        ),
        (Some(d), Some(g)) => out.push(ok(format!(
            "napi_defer_hard_irqs {d}, gro_flush_timeout {g} on {iface}"
        ))),
        _ => out.push(ok(format!(
            "napi_defer_hard_irqs/gro_flush_timeout: not offered by {iface}"
        ))),
    }
    out
}

/// The other end of a veth, when it is in this namespace; else the peer's ifindex.
fn veth_peer(iface: &str) -> Result<String, String> {
    let peer_index = read(format!("/sys/class/net/{iface}/iflink"));
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| read(e.path().join("ifindex")) == peer_index && e.file_name() != iface)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .ok_or_else(|| peer_index.unwrap_or_else(|| "?".into()))
}

/// A veth's peer hands over frames with a partial checksum (CHECKSUM_PARTIAL) unless its
/// TX checksum offload is off; the engine sees them as corrupt.
fn veth_peer_checksum(iface: &str) -> Check {
    let setting = "TX checksum offload (tx-checksumming)";
    let peer = match veth_peer(iface) {
        Ok(peer) => peer,
        Err(index) => {
            return warn(
                format!("veth peer of {iface} (ifindex {index}) is in another namespace: its {setting} cannot be read from here"),
                "turn it off where the peer is: `ip netns exec NS ethtool -K PEER tx off` (frames with partial checksums are dropped as malformed)",
            )
        }
    };
    let features = run(&["ethtool", "-k", &peer]).unwrap_or_default();
    let on = features.lines().any(|l| l.trim() == "tx-checksumming: on");
    if on {
        warn(
            format!("veth peer {peer}: {setting} is on: its frames carry partial checksums the engine drops"),
            format!("`ethtool -K {peer} tx off`"),
        )
        .applying(Apply::Run(vec![
            "ethtool".into(),
            "-K".into(),
            peer.clone(),
            "tx".into(),
            "off".into(),
        ]))
    } else {
        ok(format!("veth peer {peer}: {setting} off"))
    }
}

/// What happens to the peer's sends when the engine falls behind: with the engine's XDP
/// program attached, a veth hands frames over through a 256-entry ring, and a peer
/// without a qdisc (a veth's default) drops what finds it full inside its own kernel,
/// where neither the engine nor its counters see it; the peer's TCP retries each such
/// send on a 500 ms timer and aborts the connection after 15 tries. With a qdisc the
/// veth stops the queue at a full ring and the frame waits (Linux 6.16 and later).
fn veth_peer_queue(iface: &str) -> Check {
    match veth_peer(iface) {
        Ok(peer) => {
            let qdiscs = run(&["tc", "-j", "qdisc", "show", "dev", &peer]).unwrap_or_default();
            peer_queue_check(&peer, &qdiscs)
        }
        Err(index) => warn(
            format!("veth peer of {iface} (ifindex {index}) is in another namespace: whether it queues cannot be read from here (without a qdisc, {PEER_DROPS})"),
            format!("where the peer is: `ip netns exec NS tc qdisc add dev PEER root {PEER_QDISC}` (unless `tc qdisc show dev PEER` names one other than noqueue)"),
        ),
    }
}

/// The qdisc `doctor --fix` (and `fastpath demo`) gives a veth peer that has none.
pub const PEER_QDISC: &str = "pfifo limit 100000";

/// What a veth peer without a qdisc does when the engine falls behind.
const PEER_DROPS: &str = "its sends that find the engine side's 256-entry XDP ring full are dropped in its own kernel (its tx_dropped), uncounted by the engine";

/// The check on a peer's root qdisc, from `tc -j qdisc show dev PEER`.
fn peer_queue_check(peer: &str, tc_json: &str) -> Check {
    let v: serde_json::Value = serde_json::from_str(tc_json).unwrap_or_default();
    let root = v
        .as_array()
        .into_iter()
        .flatten()
        .find(|q| q["root"].as_bool() == Some(true));
    match root.and_then(|q| q["kind"].as_str()) {
        Some("noqueue") | None => warn(
            format!("veth peer {peer}: no qdisc: {PEER_DROPS}"),
            format!("`tc qdisc add dev {peer} root {PEER_QDISC}` (the veth then stops the queue at a full ring and the frame waits)"),
        )
        .applying(Apply::Run(
            ["tc", "qdisc", "add", "dev", peer, "root"]
                .into_iter()
                .chain(PEER_QDISC.split(' '))
                .map(String::from)
                .collect(),
        )),
        Some(kind) => ok(format!("veth peer {peer}: qdisc {kind} queues its sends when the engine falls behind")),
    }
}

fn xdp_attached(iface: &str) -> Check {
    let text = run(&["ip", "-d", "-j", "link", "show", "dev", iface]).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let xdp = &v[0]["xdp"];
    let prog = if xdp["prog"].is_object() {
        xdp["prog"].clone()
    } else {
        xdp["attached"][0]["prog"].clone()
    };
    match prog["id"].as_u64() {
        None => ok(format!("XDP: no program attached to {iface}")),
        Some(id) => {
            let name = prog["name"].as_str().unwrap_or("?");
            if name == "fastpath_steer" {
                warn(
                    format!("XDP: fastpath's program (id {id}) is attached to {iface}: an engine runs there"),
                    format!("one engine per interface; if none runs (it was killed), `ip link set dev {iface} xdp off`"),
                )
            } else {
                fail(
                    format!("XDP: another program, {name} (id {id}), is attached to {iface}"),
                    format!("detach it (`ip link set dev {iface} xdp off`) or let `fastpath serve --force` replace it"),
                )
            }
        }
    }
}

pub fn render(checks: &[Check]) -> String {
    let mut o = String::new();
    for c in checks {
        let tag = match c.level {
            Level::Ok => "OK  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        o.push_str(&format!("{tag} {}\n", c.what));
        if let Some(f) = &c.fix {
            o.push_str(&format!("     fix: {f}\n"));
        }
    }
    o
}

fn apply(a: &Apply) -> anyhow::Result<()> {
    match a {
        Apply::Write(path, value) => std::fs::write(path, value)
            .map_err(|e| anyhow::anyhow!("writing {value} to {path}: {e}")),
        Apply::Run(argv) => {
            let s = Command::new(&argv[0]).args(&argv[1..]).status()?;
            if !s.success() {
                bail!("{} failed ({s})", argv.join(" "));
            }
            Ok(())
        }
    }
}

pub fn main(args: &DoctorArgs) -> anyhow::Result<()> {
    let checks = checks(args);
    print!("{}", render(&checks));
    if args.fix {
        for c in checks.iter().filter(|c| c.level != Level::Ok) {
            if let Some(a) = &c.apply {
                match apply(a) {
                    Ok(()) => println!("fixed: {}", c.fix.as_deref().unwrap_or("")),
                    Err(e) => println!("not fixed: {e}"),
                }
            }
        }
    }
    let fails = checks.iter().filter(|c| c.level == Level::Fail).count();
    let warns = checks.iter().filter(|c| c.level == Level::Warn).count();
    println!("{fails} failure(s), {warns} warning(s)");
    if fails > 0 {
        bail!("{fails} check(s) failed: the engine would not run well (or at all) here");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_is_copy_mode_only_and_zero_copy_drivers_are_ok() {
        let c = driver_check("v0", "veth");
        assert_eq!(c.level, Level::Warn);
        assert!(c.what.contains("copy mode only"), "{}", c.what);
        assert_eq!(driver_check("eth1", "ice").level, Level::Ok);
        let e = driver_check("eth1", "e1000");
        assert_eq!(e.level, Level::Warn);
        assert!(e.what.contains("generic mode") && e.what.contains("copy mode only"));
    }

    #[test]
    fn a_veth_peer_without_a_qdisc_is_warned_and_fixed_with_one() {
        let none = peer_queue_check(
            "p0",
            r#"[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]"#,
        );
        assert_eq!(none.level, Level::Warn);
        assert!(none.what.contains("no qdisc"), "{}", none.what);
        assert_eq!(
            none.apply,
            Some(Apply::Run(
                "tc qdisc add dev p0 root pfifo limit 100000"
                    .split(' ')
                    .map(String::from)
                    .collect()
            ))
        );
        // Unreadable output is not taken for a queue.
        assert_eq!(peer_queue_check("p0", "").level, Level::Warn);
        let fifo = peer_queue_check(
            "p0",
            r#"[{"kind":"pfifo","handle":"8001:","root":true,"refcnt":2,"options":{"limit":100000}}]"#,
        );
        assert_eq!(fifo.level, Level::Ok);
        assert!(fifo.what.contains("qdisc pfifo"), "{}", fifo.what);
    }

    #[test]
    fn a_missing_interface_fails() {
        let args = DoctorArgs {
            iface: "fp-no-such-if".into(),
            fix: false,
            frames: 4096,
            busy_poll: false,
        };
        let c = checks(&args);
        let last = c.last().unwrap();
        assert_eq!(last.level, Level::Fail);
        assert!(render(&c).contains("FAIL interface fp-no-such-if: not in this network namespace"));
    }

    #[test]
    fn fixes_write_settings_and_run_commands() {
        let path = std::env::temp_dir().join(format!("fastpath-doctor-{}", std::process::id()));
        let p = path.to_string_lossy().into_owned();
        apply(&Apply::Write(p.clone(), "8".into())).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "8");
        std::fs::remove_file(&path).unwrap();
        assert!(apply(&Apply::Run(vec!["true".into()])).is_ok());
        assert!(apply(&Apply::Run(vec!["false".into()])).is_err());
    }

    #[test]
    fn interrupt_deferral_matters_only_for_busy_polling() {
        // lo offers both knobs at 0 on a stock kernel.
        let quiet = busy_poll("lo", false);
        assert!(quiet
            .iter()
            .all(|c| c.level == Level::Ok && c.apply.is_none()));
        let busy = busy_poll("lo", true);
        if std::fs::read_to_string("/sys/class/net/lo/napi_defer_hard_irqs")
            .is_ok_and(|v| v.trim() == "0")
        {
            assert!(busy
                .iter()
                .any(|c| c.level == Level::Warn && c.apply.is_some()));
        }
    }
}

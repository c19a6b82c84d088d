//! The program's per-CPU counters (`enum fp_counter` in steer.h), summed over CPUs.

use libbpf_rs::{MapCore, MapFlags};

use crate::XdpError;

macro_rules! counter_enum {
    ($($variant:ident = $name:literal,)*) => {
        /// One counter of the program, in the order of `enum fp_counter`.
        #[derive(Copy, Clone, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Counter { $($variant,)* }

        impl Counter {
            pub const ALL: &'static [Counter] = &[$(Counter::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Counter::$variant => $name,)* }
            }
        }
    };
}

counter_enum! {
    Pass = "passed",
    Redirect = "redirected",
    NoSocket = "no_socket",
    RuleArp = "rule_arp",
    RuleIcmp = "rule_icmp",
    RuleTcpOwned = "rule_tcp_owned",
    RuleTcpPort = "rule_tcp_port",
    RuleTcpRange = "rule_tcp_range",
    RuleFragment = "rule_fragment",
    BadEth = "malformed_eth",
    BadVlan = "malformed_vlan",
    BadArp = "malformed_arp",
    BadIp = "malformed_ip",
    BadIhl = "malformed_ihl",
    BadL4 = "malformed_l4",
    BadTcpDoff = "malformed_tcp_doff",
    RuleOwnedOther = "rule_owned_other",
    RuleNdp = "rule_ndp",
    RuleIcmp6 = "rule_icmp6",
    BadIp6 = "malformed_ip6",
    BadIp6Ext = "malformed_ip6_ext",
    Ip6ExtLimit = "ip6_ext_limit",
    Ip6ExtOther = "ip6_ext_other",
}

/// FP_C_MAX in steer.h.
const COUNT: usize = 23;
const _: () = assert!(Counter::ALL.len() == COUNT);

/// A snapshot of every counter, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters([u64; COUNT]);

impl Counters {
    pub fn get(&self, c: Counter) -> u64 {
        self.0[c as usize]
    }

    /// Frames dropped as malformed, over all reasons.
    pub fn malformed(&self) -> u64 {
        Counter::ALL
            .iter()
            .filter(|c| c.name().starts_with("malformed"))
            .map(|&c| self.get(c))
            .sum()
    }

    /// `(name, value)` for every counter, for reports.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Counter::ALL.iter().map(move |&c| (c.name(), self.get(c)))
    }

    /// Difference from an earlier snapshot.
    pub fn since(&self, earlier: &Counters) -> Counters {
        let mut d = [0u64; COUNT];
        for (i, v) in d.iter_mut().enumerate() {
            *v = self.0[i].wrapping_sub(earlier.0[i]);
        }
        Counters(d)
    }
}

pub(crate) fn read(map: &libbpf_rs::Map<'_>) -> Result<Counters, XdpError> {
    let mut out = [0u64; COUNT];
    for (i, slot) in out.iter_mut().enumerate() {
        let per_cpu = map
            .lookup_percpu(&(i as u32).to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| XdpError::Map(format!("reading counters: {e}")))?
            .unwrap_or_default();
        *slot = per_cpu
            .iter()
            .filter_map(|v| v.get(..8).and_then(|b| b.try_into().ok()))
            .map(u64::from_ne_bytes)
            .sum();
    }
    Ok(Counters(out))
}

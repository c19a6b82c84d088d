//! `fastpath ss`: a running engine's connections, as `ss -tin` shows the kernel's, each
//! worker listing its own between batches. Filters as `ss` spells them: `state
//! established`, `exclude time-wait`, `dport = :80`, `sport >= :1024`, `dst 10.0.0.0/8`,
//! `src 10.0.0.2:80`, `dst [2001:db8::/32]:443`; several are ANDed (`and` may be written between them).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::control::{Client, Target};

#[derive(clap::Args, Debug, Clone)]
pub struct SsArgs {
    #[command(flatten)]
    pub target: Target,

    /// The connections as a JSON array (every field the engine reports).
    #[arg(long)]
    pub json: bool,

    /// Filters: `state NAME`, `exclude NAME`, `dport OP :PORT`, `sport OP :PORT`, `dst
    /// ADDR[/LEN][:PORT]`, `src ADDR[/LEN][:PORT]` (IPv6: `[ADDR[/LEN]]:PORT`). NAME is an ss state (established,
    /// syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close-wait, last-ack,
    /// closing) or a group (all, connected, synchronized); OP one of = != < <= > >= (or
    /// eq ne lt le gt ge).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

const STATES: &[&str] = &[
    "established",
    "syn-sent",
    "syn-recv",
    "fin-wait-1",
    "fin-wait-2",
    "time-wait",
    "close-wait",
    "last-ack",
    "closing",
    "closed",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, a: u16, b: u16) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// `dst`/`src`'s argument: a prefix of either family (`None`: any address, `*`) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Prefix {
    net: Option<IpAddr>,
    len: u8,
    port: Option<u16>,
}

impl Prefix {
    fn matches(&self, a: SocketAddr) -> bool {
        // Both families as the top bits of 128, so one mask serves.
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
            IpAddr::V6(v) => u128::from(v),
        };
        let net_ok = match self.net {
            None => true,
            Some(net) if net.is_ipv4() != a.is_ipv4() => false,
            Some(net) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                bits(net) & mask == bits(a.ip()) & mask
            }
        };
        net_ok && self.port.is_none_or(|p| p == a.port())
    }
}

/// What a connection must satisfy to be listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// States shown (empty: every state).
    states: Vec<&'static str>,
    excluded: Vec<&'static str>,
    dport: Vec<(Op, u16)>,
    sport: Vec<(Op, u16)>,
    dst: Vec<Prefix>,
    src: Vec<Prefix>,
}

fn state_names(name: &str) -> anyhow::Result<Vec<&'static str>> {
    Ok(match name {
        "all" => STATES.to_vec(),
        "connected" => STATES[..9]
            .iter()
            .copied()
            .filter(|s| *s != "time-wait")
            .collect(),
        "synchronized" => STATES[..9]
            .iter()
            .copied()
            .filter(|s| *s != "time-wait" && *s != "syn-sent")
            .collect(),
        "estab" => vec!["established"],
        n => match STATES.iter().find(|s| **s == n) {
            Some(s) => vec![*s],
            None => bail!(
                "unknown state '{n}': one of {}, or all, connected, synchronized",
                STATES.join(", ")
            ),
        },
    })
}

fn op(s: &str) -> Option<Op> {
    Some(match s {
        "=" | "==" | "eq" => Op::Eq,
        "!=" | "ne" | "neq" => Op::Ne,
        "<" | "lt" => Op::Lt,
        "<=" | "le" => Op::Le,
        ">" | "gt" => Op::Gt,
        ">=" | "ge" => Op::Ge,
        _ => return None,
    })
}

fn port(s: &str) -> anyhow::Result<u16> {
    s.trim_start_matches(':')
        .parse()
        .with_context(|| format!("'{s}' is not a port: write :PORT, e.g. :80"))
}

/// `ADDR[/LEN][:PORT]`, IPv6 as ss writes it: `[ADDR[/LEN]][:PORT]` (or bare, no port).
fn prefix(s: &str) -> anyhow::Result<Prefix> {
    let (addr, port) = if let Some(inner) = s.strip_prefix('[') {
        let (a, rest) = inner
            .split_once(']')
            .with_context(|| format!("'{s}': no closing ']'"))?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(self::port(p)?),
            None if rest.is_empty() => None,
            None => bail!("'{s}': write [ADDR]:PORT"),
        };
        (a, port)
    } else if s.matches(':').count() > 1 {
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((a, p)) => (a, Some(self::port(p)?)),
            None => (s, None),
        }
    };
    let (ip, len) = match addr.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (addr, None),
    };
    if ip == "*" || ip.is_empty() {
        return Ok(Prefix {
            net: None,
            len: 0,
            port,
        });
    }
    let net: IpAddr = ip
        .parse()
        .with_context(|| format!("'{ip}' is not an IPv4 or IPv6 address"))?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .with_context(|| format!("'{l}' is not a prefix length (0-{max})"))?,
        None => max,
    };
    Ok(Prefix {
        net: Some(net),
        len,
        port,
    })
}

impl Filter {
    pub fn parse(words: &[String]) -> anyhow::Result<Filter> {
        let mut f = Filter::default();
        let mut it = words.iter().map(String::as_str).peekable();
        while let Some(w) = it.next() {
            let mut arg = |what: &str| {
                it.next()
                    .with_context(|| format!("'{w}' needs {what}"))
                    .map(str::to_string)
            };
            match w {
                "and" | "&&" => {}
                "state" => f.states.extend(state_names(&arg("a state name")?)?),
                "exclude" => f.excluded.extend(state_names(&arg("a state name")?)?),
                "dport" | "sport" => {
                    let first = arg("OP :PORT")?;
                    let (o, p) = match op(&first) {
                        Some(o) => (o, port(&arg(":PORT")?)?),
                        None => (Op::Eq, port(&first)?),
                    };
                    if w == "dport" {
                        f.dport.push((o, p));
                    } else {
                        f.sport.push((o, p));
                    }
                }
                "dst" => f.dst.push(prefix(&arg("ADDR[/LEN][:PORT]")?)?),
                "src" => f.src.push(prefix(&arg("ADDR[/LEN][:PORT]")?)?),
                "or" | "||" | "(" | ")" | "not" | "!" => {
                    bail!("'{w}': filters here are ANDed only (no or, not, parentheses)")
                }
                other => bail!("unknown filter '{other}': state, exclude, dport, sport, dst, src"),
            }
        }
        Ok(f)
    }

    /// `c` is a connection as the engine lists it.
    pub fn matches(&self, c: &Value) -> bool {
        let state = c["state"].as_str().unwrap_or("");
        let addr = |k: &str| c[k].as_str().and_then(|s| s.parse::<SocketAddr>().ok());
        let (Some(local), Some(remote)) = (addr("local"), addr("remote")) else {
            return false;
        };
        (self.states.is_empty() || self.states.contains(&state))
            && !self.excluded.contains(&state)
            && self.dport.iter().all(|(o, p)| o.holds(remote.port(), *p))
            && self.sport.iter().all(|(o, p)| o.holds(local.port(), *p))
            && self.dst.iter().all(|p| p.matches(remote))
            && self.src.iter().all(|p| p.matches(local))
    }
}

pub fn main(args: &SsArgs) -> anyhow::Result<()> {
    let filter = Filter::parse(&args.filter)?;
    let mut client = Client::connect(&args.target)?;
    let answer = client.ask("connections")?;
    let conns: Vec<&Value> = answer["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| filter.matches(c))
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&conns)?);
    } else {
        print!("{}", render(&conns));
    }
    if let Some(q) = answer["queues_not_answering"]
        .as_array()
        .filter(|q| !q.is_empty())
    {
        eprintln!(
            "fastpath ss: the workers of queue(s) {} did not answer: their connections are missing",
            q.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    Ok(())
}

fn ss_state(s: &str) -> String {
    match s {
        "established" => "ESTAB".into(),
        "closed" => "UNCONN".into(),
        s => s.to_uppercase(),
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn ms(us: &Value) -> String {
    format!("{}", n(us) as f64 / 1000.0)
}

fn rate(bps: u64) -> String {
    match bps {
        b if b >= 1_000_000_000 => format!("{:.1}Gbps", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1}Mbps", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1}Kbps", b as f64 / 1e3),
        b => format!("{b}bps"),
    }
}

/// As `ss -tin` prints: a line per connection, then its TCP details indented.
pub fn render(conns: &[&Value]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<11} {:>7} {:>7} {:>21} {:>21}  Queue",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    for c in conns {
        let _ = writeln!(
            o,
            "{:<11} {:>7} {:>7} {:>21} {:>21}  q{} {}",
            ss_state(c["state"].as_str().unwrap_or("?")),
            n(&c["recv_q"]),
            n(&c["send_q"]),
            c["local"].as_str().unwrap_or("?"),
            c["remote"].as_str().unwrap_or("?"),
            n(&c["worker"]),
            c["role"].as_str().unwrap_or("")
        );
        let mss = n(&c["mss"]).max(1);
        let mut d = String::new();
        if c["sack"] == true {
            d.push_str(" sack");
        }
        if c["timestamps"] == true {
            d.push_str(" ts");
        }
        if c["ecn"] == true {
            d.push_str(" ecn");
        }
        if let Some(w) = c["wscale"].as_array() {
            let _ = write!(d, " wscale:{},{}", w[1], w[0]);
        }
        let _ = write!(d, " rto:{}", ms(&c["rto_us"]));
        if c["backoff"].as_u64().is_some_and(|b| b > 0) {
            let _ = write!(d, " backoff:{}", c["backoff"]);
        }
        if !c["srtt_us"].is_null() {
            let _ = write!(d, " rtt:{}/{}", ms(&c["srtt_us"]), ms(&c["rttvar_us"]));
        }
        let _ = write!(d, " mss:{mss} cwnd:{}", n(&c["cwnd"]) / mss);
        if let Some(s) = c["ssthresh"].as_u64() {
            let _ = write!(d, " ssthresh:{}", s / mss);
        }
        let _ = write!(
            d,
            " bytes_sent:{} bytes_acked:{} bytes_received:{} segs_out:{} segs_in:{}",
            n(&c["bytes_sent"]),
            n(&c["bytes_acked"]),
            n(&c["bytes_received"]),
            n(&c["segs_out"]),
            n(&c["segs_in"])
        );
        if let Some(s) = c["send_rate_bps"].as_u64() {
            let _ = write!(d, " send {}", rate(s));
        }
        let _ = write!(
            d,
            " delivery_rate {} retrans:{}/{} unacked:{} unsent:{} snd_wnd:{} rcv_wnd:{} ca:{} limited:{} age:{}s",
            rate(n(&c["delivery_rate_bps"])),
            n(&c["retrans"]),
            n(&c["rto_expiries"]),
            n(&c["in_flight"]),
            n(&c["unsent"]),
            n(&c["snd_wnd"]),
            n(&c["rcv_wnd"]),
            c["ca_state"].as_str().unwrap_or("?"),
            c["limited_by"].as_str().unwrap_or("?"),
            n(&c["age_ms"]) as f64 / 1000.0
        );
        let _ = writeln!(o, "\t{}", d.trim_start());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn conn(state: &str, local: &str, remote: &str) -> Value {
        json!({"state": state, "local": local, "remote": remote, "worker": 0, "role": "server",
               "recv_q": 0, "send_q": 10, "mss": 1448, "cwnd": 14480, "ssthresh": null,
               "srtt_us": 1500, "rttvar_us": 750, "rto_us": 201000, "wscale": [7, 9],
               "sack": true, "timestamps": true, "ecn": false, "limited_by": "app",
               "ca_state": "open", "delivery_rate_bps": 2_500_000, "send_rate_bps": 77_000_000})
    }

    #[test]
    fn filters_as_ss_spells_them() {
        let a = conn("established", "10.0.0.2:80", "10.0.0.1:40000");
        let b = conn("time-wait", "10.0.0.2:80", "192.168.1.5:40001");
        let c = conn("established", "10.0.0.2:8080", "10.9.9.9:50000");
        let m = |f: &str, v: &Value| Filter::parse(&words(f)).unwrap().matches(v);
        assert!(m("state established", &a) && !m("state established", &b));
        assert!(m("", &b) && m("state all", &b));
        assert!(!m("state connected", &b) && m("state connected", &a));
        assert!(m("exclude time-wait", &a) && !m("exclude time-wait", &b));
        assert!(m("sport = :80", &a) && !m("sport = :80", &c) && m("sport :8080", &c));
        assert!(m("dport = :40000", &a) && m("dport > :45000", &c) && !m("dport gt :45000", &a));
        assert!(m("dst 10.0.0.0/8", &a) && !m("dst 10.0.0.0/8", &b) && m("dst 10.9.9.9", &c));
        assert!(m("dst 10.0.0.1:40000", &a) && !m("dst 10.0.0.1:1", &a));
        assert!(m(
            "src 10.0.0.2/32 and sport = :80 and state established",
            &a
        ));
        assert!(!m("src 10.0.0.2 and sport = :80 and state established", &c));
        // IPv6, as ss writes it; a prefix of one family never matches the other.
        let d = conn("established", "[2001:db8::10]:80", "[2001:db8::1]:40000");
        assert!(m("dst 2001:db8::/32", &d) && !m("dst 2001:db9::/32", &d));
        assert!(m("dst [2001:db8::1]:40000", &d) && !m("dst [2001:db8::1]:1", &d));
        assert!(m("src [2001:db8::10/128]:80", &d) && m("dst *:40000", &d));
        assert!(!m("dst 10.0.0.0/8", &d) && !m("dst 2001:db8::/32", &a));
        assert!(m("dst 0.0.0.0/0", &a) && !m("dst 0.0.0.0/0", &d));
        for bad in [
            "dst 2001:db8::/129",
            "dst [2001:db8::1",
            "state nosuch",
            "dport = 80x",
            "dst 300.1.1.1",
            "or",
            "dport",
            "frob",
        ] {
            assert!(Filter::parse(&words(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn rendered_as_ss_does() {
        let a = conn("established", "10.0.0.2:80", "10.0.0.1:40000");
        let text = render(&[&a]);
        let mut lines = text.lines().skip(1);
        let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            head[..5],
            ["ESTAB", "0", "10", "10.0.0.2:80", "10.0.0.1:40000"]
        );
        let detail = lines.next().unwrap();
        for want in [
            "sack ts wscale:9,7 rto:201 rtt:1.5/0.75 mss:1448 cwnd:10 bytes_sent:",
            "send 77.0Mbps delivery_rate 2.5Mbps",
            "limited:app",
        ] {
            assert!(detail.contains(want), "{want} in {detail}");
        }
    }

    #[test]
    fn options_may_follow_the_filter() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "fastpath",
            "ss",
            "--iface",
            "eth1",
            "state",
            "established",
            "dport",
            "=",
            ":80",
            "--json",
        ])
        .unwrap();
        let crate::cli::Command::Ss(a) = cli.command else {
            panic!("ss")
        };
        assert!(a.json);
        assert_eq!(a.filter, words("state established dport = :80"));
        assert!(Filter::parse(&a.filter).is_ok());
    }
}

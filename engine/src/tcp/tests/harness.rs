//! A packetdrill-style script runner. Each line is a time and an event:
//!
//! ```text
//! 0.000 < S seq 0 win 65535 <mss 1460,sackOK,TS 100 0,wscale 7>   inbound segment
//! 0.000 > S. seq 0 ack 1 <mss 1460,sackOK,TS * 100,wscale 2>      expected outbound
//! 0.050 > none                                                    nothing until then
//! 0.100 app send 2000 | app recv 1000 | app close | app release | app abort | app connect
//! 0.100 state ESTABLISHED | closed Reset
//! ```
//!
//! Flags: S F R P . (ACK). Inbound `seq`/`ack` are relative to the peer's and our initial
//! sequence numbers; outbound likewise. `len N` is payload length (bytes follow a fixed
//! pattern that the harness checks end to end). `<...>` lists options; given on an
//! expected segment, they must match exactly (`*` matches any value). `win` on an
//! expected segment is the raw field. Strict: a segment the script did not expect fails.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::tcp::{Conn, FourTuple, SeqNum, State, TcpConfig};
use crate::time::Instant;
use crate::wire::tcp::{Flags, SackBlock, TcpOptions, TcpRepr};

/// Our ISS and the peer's, near the wrap point to exercise modular arithmetic.
pub const ISS: u32 = 0xffff_f000;
pub const PEER_ISS: u32 = 0xffff_ff00;

const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);

fn pattern(stream_offset: u64) -> u8 {
    (stream_offset.wrapping_mul(31).wrapping_add(7) % 251) as u8
}

#[derive(Debug, Default, Clone)]
struct SegSpec {
    flags: Flags,
    seq: Option<u32>,
    ack: Option<u32>,
    win: Option<u16>,
    len: usize,
    /// None: options not checked (outbound) / none sent (inbound).
    opts: Option<Vec<OptSpec>>,
    /// IP ECN field: sent with (inbound) / checked (outbound) when given.
    ecn: Option<u8>,
}

#[derive(Debug, Clone, PartialEq)]
enum OptSpec {
    Mss(u16),
    Wscale(u8),
    SackOk,
    /// TS val ecr; None = any.
    Ts(Option<u32>, Option<u32>),
    /// Relative SACK blocks.
    Sack(Vec<(u32, u32)>),
}

#[derive(Debug, Clone)]
enum Event {
    In(SegSpec),
    Out(SegSpec),
    NoOut,
    Send(usize),
    Recv(usize),
    Close,
    Release,
    Abort,
    Connect,
    State(State),
    Closed(String),
    PathMtu(u16, u32),
}

struct Line {
    at: Instant,
    event: Event,
    text: String,
}

fn parse_num(s: &str) -> Option<u32> {
    if s == "*" {
        None
    } else {
        Some(s.parse().unwrap_or_else(|_| panic!("bad number '{s}'")))
    }
}

fn parse_opts(s: &str) -> Vec<OptSpec> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let w: Vec<&str> = part.split_whitespace().collect();
        match w[0] {
            "mss" => v.push(OptSpec::Mss(w[1].parse().unwrap())),
            "wscale" => v.push(OptSpec::Wscale(w[1].parse().unwrap())),
            "sackOK" => v.push(OptSpec::SackOk),
            "nop" => {}
            "TS" => v.push(OptSpec::Ts(parse_num(w[1]), parse_num(w[2]))),
            "sack" => v.push(OptSpec::Sack(
                w[1..]
                    .iter()
                    .map(|b| {
                        let (l, r) = b.split_once(':').unwrap();
                        (l.parse().unwrap(), r.parse().unwrap())
                    })
                    .collect(),
            )),
            o => panic!("unknown option '{o}'"),
        }
    }
    v
}

fn parse_seg(words: &[&str], rest: Option<&str>) -> SegSpec {
    let mut s = SegSpec::default();
    for c in words[0].chars() {
        s.flags |= match c {
            'S' => Flags::SYN,
            'F' => Flags::FIN,
            'R' => Flags::RST,
            'P' => Flags::PSH,
            '.' => Flags::ACK,
            'E' => Flags::ECE,
            'W' => Flags::CWR,
            _ => panic!("bad flag '{c}'"),
        };
    }
    let mut i = 1;
    while i < words.len() {
        // The IP header's ECN field: inbound it is sent with, outbound it is checked
        // (only where the line names one).
        let ecn = match words[i] {
            "notect" => Some(crate::wire::ipv4::ECN_NOT_ECT),
            "ect0" => Some(crate::wire::ipv4::ECN_ECT0),
            "ce" => Some(crate::wire::ipv4::ECN_CE),
            _ => None,
        };
        if ecn.is_some() {
            s.ecn = ecn;
            i += 1;
            continue;
        }
        let v = words[i + 1];
        match words[i] {
            "seq" => s.seq = Some(v.parse().unwrap()),
            "ack" => s.ack = Some(v.parse().unwrap()),
            "win" => s.win = Some(v.parse().unwrap()),
            "len" => s.len = v.parse().unwrap(),
            w => panic!("bad field '{w}'"),
        }
        i += 2;
    }
    s.opts = rest.map(parse_opts);
    s
}

/// Parses one script line whose options (if any) were split off already.
fn parse_line(text: &str, head: &str, opts: Option<&str>) -> Line {
    let words: Vec<&str> = head.split_whitespace().collect();
    let secs: f64 = words[0]
        .parse()
        .unwrap_or_else(|_| panic!("bad time in '{text}'"));
    let at = Instant::from_micros((secs * 1e6).round() as u64);
    let event = match words[1] {
        ">" if words.get(2) == Some(&"none") => Event::NoOut,
        "<" => Event::In(parse_seg(&words[2..], opts)),
        ">" => Event::Out(parse_seg(&words[2..], opts)),
        "app" => match words[2] {
            "send" => Event::Send(words[3].parse().unwrap()),
            "recv" => Event::Recv(words[3].parse().unwrap()),
            "close" => Event::Close,
            "release" => Event::Release,
            "abort" => Event::Abort,
            "connect" => Event::Connect,
            a => panic!("bad app action '{a}'"),
        },
        "state" => Event::State(match words[2] {
            "SYN_SENT" => State::SynSent,
            "SYN_RECEIVED" => State::SynReceived,
            "ESTABLISHED" => State::Established,
            "FIN_WAIT_1" => State::FinWait1,
            "FIN_WAIT_2" => State::FinWait2,
            "CLOSING" => State::Closing,
            "TIME_WAIT" => State::TimeWait,
            "CLOSE_WAIT" => State::CloseWait,
            "LAST_ACK" => State::LastAck,
            "CLOSED" => State::Closed,
            s => panic!("bad state '{s}'"),
        }),
        "closed" => Event::Closed(words[2].to_string()),
        // `icmp mtu N seq S`: fragmentation needed for our segment at relative seq S.
        "icmp" => Event::PathMtu(words[3].parse().unwrap(), words[5].parse().unwrap()),
        w => panic!("bad event '{w}' in '{text}'"),
    };
    Line {
        at,
        event,
        text: text.to_string(),
    }
}

/// Splits the options off a line: they open at the last `<` followed by a non-space (the
/// direction token `<` is followed by a space).
fn split_line(text: &str) -> (String, Option<String>) {
    // Options begin at the last '<' that is followed by a non-space character.
    if let Some(pos) = text.rfind('<') {
        if text[pos + 1..]
            .chars()
            .next()
            .is_some_and(|c| !c.is_whitespace())
        {
            return (
                text[..pos].to_string(),
                Some(text[pos + 1..].trim_end_matches('>').to_string()),
            );
        }
    }
    (text.to_string(), None)
}

/// Runs a script against a fresh connection. Panics with the failing line on mismatch.
pub fn run(cfg: &TcpConfig, script: &str) -> Conn {
    let mut lines = Vec::new();
    for raw in script.lines() {
        let text = raw.split("//").next().unwrap().trim();
        if text.is_empty() {
            continue;
        }
        let (head, opts) = split_line(text);
        lines.push(parse_line(text, &head, opts.as_deref()));
    }
    let mut h = Harness::new(*cfg);
    for l in &lines {
        h.line(l);
    }
    h.step_to(lines.last().map_or(Instant::ZERO, |l| l.at));
    if let Some((at, seg, _)) = h.queue.first() {
        panic!(
            "unexpected segment at {:?} after the script ended: {}",
            at,
            h.describe(seg)
        );
    }
    h.conn.expect("script made no connection")
}

struct Harness {
    cfg: TcpConfig,
    conn: Option<Conn>,
    now: Instant,
    /// Emitted, not yet matched: (time, header, payload).
    queue: Vec<(Instant, TcpRepr, Vec<u8>)>,
    /// Stream offsets: bytes the app sent / the peer sent so far.
    app_sent: u64,
    app_read: u64,
    buf: Vec<u8>,
    /// Our latest TSval: an inbound `TS v *` echoes it, as a real peer would.
    last_tsval: u32,
}

impl Harness {
    fn new(cfg: TcpConfig) -> Harness {
        Harness {
            cfg,
            conn: None,
            now: Instant::ZERO,
            queue: Vec::new(),
            app_sent: 0,
            app_read: 0,
            buf: vec![0; 65536],
            last_tsval: 0,
        }
    }

    fn tuple() -> FourTuple {
        FourTuple {
            local: LOCAL,
            remote: REMOTE,
        }
    }

    fn describe(&self, r: &TcpRepr) -> String {
        format!(
            "{:?} seq {} ack {} win {} opts {:?}",
            r.flags,
            r.seq.0.wrapping_sub(ISS),
            r.ack.0.wrapping_sub(PEER_ISS),
            r.window,
            r.options
        )
    }

    /// Drains everything the connection wants to send at `now` into the queue.
    fn drain(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        for _ in 0..1000 {
            match c.poll_transmit(self.now, &mut self.buf) {
                Some((r, n)) => {
                    if let Some((v, _)) = r.options.timestamps {
                        self.last_tsval = v;
                    }
                    self.queue.push((self.now, r, self.buf[..n].to_vec()))
                }
                None => break,
            }
        }
        if let Err(e) = c.check_invariants() {
            panic!("invariant broken at {:?}: {e}", self.now);
        }
    }

    /// Advances time to `t`, firing every deadline on the way.
    fn step_to(&mut self, t: Instant) {
        assert!(t >= self.now, "script goes back in time");
        loop {
            self.drain();
            let next = self.conn.as_ref().and_then(|c| c.poll_at());
            match next {
                Some(d) if d <= t => {
                    self.now = self.now.max(d);
                    self.conn.as_mut().unwrap().on_timeout(self.now);
                    if next == self.conn.as_ref().and_then(|c| c.poll_at()) && self.queue.is_empty()
                    {
                        // A deadline that does nothing must not loop forever.
                        let before = self.queue.len();
                        self.drain();
                        if self.queue.len() == before {
                            panic!("deadline {d:?} fired and stayed armed without effect");
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = t;
        self.drain();
    }

    fn expect_queue_empty(&self, l: &Line) {
        if let Some((at, seg, _)) = self.queue.first() {
            panic!(
                "line '{}': unexpected segment at {:?}: {}",
                l.text,
                at,
                self.describe(seg)
            );
        }
    }

    fn line(&mut self, l: &Line) {
        match &l.event {
            Event::Out(spec) => {
                self.step_to(l.at);
                if self.queue.is_empty() {
                    panic!("line '{}': no segment sent by {:?}", l.text, l.at);
                }
                let (at, seg, payload) = self.queue.remove(0);
                self.check_out(l, spec, at, &seg, &payload);
            }
            Event::NoOut => {
                self.step_to(l.at);
                self.expect_queue_empty(l);
            }
            Event::State(_) | Event::Closed(_) => {
                // Assertions about the present: time passes, queued output stays queued.
                self.step_to(l.at);
                self.act(l);
            }
            _ => {
                self.step_to(l.at);
                self.expect_queue_empty(l);
                self.act(l);
                self.drain();
            }
        }
    }

    fn act(&mut self, l: &Line) {
        let now = self.now;
        match &l.event {
            Event::In(spec) => {
                let seg = self.inbound(spec);
                let payload: Vec<u8> = (0..spec.len)
                    .map(|i| pattern((spec.seq.unwrap_or(0) as u64).wrapping_sub(1) + i as u64))
                    .collect();
                match self.conn.as_mut() {
                    Some(c) => {
                        c.on_segment(now, &seg, &payload);
                        if std::env::var_os("TCP_DEBUG").is_some() {
                            eprintln!("{:?} after '{}': {}", now, l.text, c.debug_recovery());
                        }
                    }
                    None => {
                        assert!(
                            seg.flags.syn() && !seg.flags.ack(),
                            "line '{}': no connection yet",
                            l.text
                        );
                        self.conn = Some(Conn::accept(
                            &self.cfg,
                            Self::tuple(),
                            &seg,
                            SeqNum(ISS),
                            now,
                        ));
                    }
                }
            }
            Event::Send(n) => {
                let data: Vec<u8> = (0..*n).map(|i| pattern(self.app_sent + i as u64)).collect();
                let c = self.conn.as_mut().expect("no connection");
                let took = c.send(&data);
                assert_eq!(took, *n, "line '{}': send buffer took {took}", l.text);
                self.app_sent += took as u64;
            }
            Event::Recv(n) => {
                let c = self.conn.as_mut().expect("no connection");
                let mut out = vec![0u8; *n];
                let got = c.recv(&mut out);
                assert_eq!(got, *n, "line '{}': only {got} readable", l.text);
                for (i, b) in out.iter().enumerate() {
                    assert_eq!(
                        *b,
                        pattern(self.app_read + i as u64),
                        "line '{}': byte {i} corrupted",
                        l.text
                    );
                }
                self.app_read += got as u64;
            }
            Event::Close => self.conn.as_mut().expect("no connection").close(),
            Event::PathMtu(mtu, seq) => {
                let c = self.conn.as_mut().expect("no connection");
                c.on_path_mtu(SeqNum(ISS.wrapping_add(*seq)), *mtu);
            }
            Event::Release => self.conn.as_mut().expect("no connection").release(),
            Event::Abort => self.conn.as_mut().expect("no connection").abort(),
            Event::Connect => {
                self.conn = Some(Conn::connect(&self.cfg, Self::tuple(), SeqNum(ISS), now));
            }
            Event::State(s) => {
                let got = self.conn.as_ref().expect("no connection").state();
                assert_eq!(got, *s, "line '{}'", l.text);
            }
            Event::Closed(why) => {
                let c = self.conn.as_ref().expect("no connection");
                assert_eq!(c.state(), State::Closed, "line '{}'", l.text);
                assert_eq!(
                    format!("{:?}", c.close_reason().unwrap()),
                    *why,
                    "line '{}'",
                    l.text
                );
            }
            Event::Out(_) | Event::NoOut => unreachable!(),
        }
    }

    fn inbound(&self, spec: &SegSpec) -> TcpRepr {
        let mut o = TcpOptions::default();
        for opt in spec.opts.iter().flatten() {
            match opt {
                OptSpec::Mss(m) => o.mss = Some(*m),
                OptSpec::Wscale(w) => o.window_scale = Some(*w),
                OptSpec::SackOk => o.sack_permitted = true,
                OptSpec::Ts(v, e) => {
                    o.timestamps = Some((v.unwrap_or(0), e.unwrap_or(self.last_tsval)))
                }
                OptSpec::Sack(blocks) => {
                    for (i, (l, r)) in blocks.iter().enumerate() {
                        o.sack[i] = SackBlock {
                            left: SeqNum(ISS.wrapping_add(*l)),
                            right: SeqNum(ISS.wrapping_add(*r)),
                        };
                    }
                    o.sack_len = blocks.len() as u8;
                }
            }
        }
        TcpRepr {
            src_port: REMOTE.port(),
            dst_port: LOCAL.port(),
            seq: SeqNum(PEER_ISS.wrapping_add(spec.seq.unwrap_or(0))),
            ack: SeqNum(ISS.wrapping_add(spec.ack.unwrap_or(0))),
            flags: spec.flags,
            window: spec.win.unwrap_or(65535),
            urgent: 0,
            options: o,
            ecn: spec.ecn.unwrap_or(crate::wire::ipv4::ECN_NOT_ECT),
        }
    }

    fn check_out(&self, l: &Line, spec: &SegSpec, at: Instant, seg: &TcpRepr, payload: &[u8]) {
        let fail = |what: String| -> ! {
            panic!(
                "line '{}': {what}\n  got at {:?}: {} len {}",
                l.text,
                at,
                self.describe(seg),
                payload.len()
            )
        };
        let dt = at.total_micros().abs_diff(l.at.total_micros());
        if dt > 500 {
            fail(format!("sent at {at:?}, expected at {:?}", l.at));
        }
        if seg.flags != spec.flags {
            fail(format!("flags {:?}, expected {:?}", seg.flags, spec.flags));
        }
        if let Some(s) = spec.seq {
            if seg.seq.0.wrapping_sub(ISS) != s {
                fail(format!("seq, expected {s}"));
            }
        }
        if let Some(a) = spec.ack {
            if seg.ack.0.wrapping_sub(PEER_ISS) != a {
                fail(format!("ack, expected {a}"));
            }
        }
        if let Some(w) = spec.win {
            if seg.window != w {
                fail(format!("window {}, expected {w}", seg.window));
            }
        }
        if let Some(e) = spec.ecn {
            if seg.ecn != e {
                fail(format!("IP ECN field {}, expected {e}", seg.ecn));
            }
        }
        if payload.len() != spec.len {
            fail(format!(
                "payload {} bytes, expected {}",
                payload.len(),
                spec.len
            ));
        }
        // Payload bytes follow the app's pattern at their stream offset (seq - ISS - 1).
        let off = seg.seq.0.wrapping_sub(ISS).wrapping_sub(1) as u64;
        for (i, b) in payload.iter().enumerate() {
            if *b != pattern(off + i as u64) {
                fail(format!("payload byte {i} is not the application's"));
            }
        }
        if let Some(opts) = &spec.opts {
            let o = &seg.options;
            let mut want = TcpOptions::default();
            for opt in opts {
                match opt {
                    OptSpec::Mss(m) => want.mss = Some(*m),
                    OptSpec::Wscale(w) => want.window_scale = Some(*w),
                    OptSpec::SackOk => want.sack_permitted = true,
                    OptSpec::Ts(v, e) => {
                        let (gv, ge) = o.timestamps.unwrap_or_else(|| fail("no timestamps".into()));
                        want.timestamps = Some((v.unwrap_or(gv), e.unwrap_or(ge)));
                    }
                    OptSpec::Sack(blocks) => {
                        for (i, (l, r)) in blocks.iter().enumerate() {
                            want.sack[i] = SackBlock {
                                left: SeqNum(PEER_ISS.wrapping_add(*l)),
                                right: SeqNum(PEER_ISS.wrapping_add(*r)),
                            };
                        }
                        want.sack_len = blocks.len() as u8;
                    }
                }
            }
            if *o != want {
                fail(format!("options {o:?}, expected {want:?}"));
            }
        }
    }
}

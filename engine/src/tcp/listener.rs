//! Passive open (RFC 9293 3.10.7.2): a listener answers SYNs, keeps at most `backlog`
//! half-open connections, and past that answers with SYN cookies (RFC 4987 3.6) so a SYN
//! flood costs no memory; an ACK carrying a valid cookie creates the connection.

use std::net::SocketAddr;

use super::cookie::{CookieJar, CookieOptions};
use super::isn::IsnGenerator;
use super::secrets::Secrets;
use super::{Conn, SeqNum, TcpConfig, Tuple, IPV6_EXTRA_HEADER};
use crate::time::Instant;
use crate::wire::tcp::{Flags, TcpOptions, TcpRepr};

/// What to do with a SYN for this listener.
#[derive(Debug)]
pub enum SynVerdict {
    /// A new half-open connection (it sends its SYN-ACK at its first `poll_transmit`).
    Accept(Box<Conn>),
    /// Backlog full: send this stateless SYN-ACK carrying a cookie.
    Cookie(TcpRepr),
    /// Not a SYN a listener acts on (it also carries RST or FIN): drop it silently
    /// (RFC 9293 3.10.7.2: a RST is ignored in LISTEN; Linux drops SYN+FIN).
    Ignore,
}

crate::stats::counter_set! {
    /// What a listener counted.
    pub struct ListenerStats {
        /// SYNs received.
        syns,
        /// SYN-ACKs sent with a cookie (backlog full).
        cookies_sent,
        /// ACKs whose cookie checked out (connections made from a cookie).
        cookies_accepted,
        /// ACKs whose cookie did not check out.
        cookies_rejected,
        /// SYNs that also carried RST, FIN or ACK.
        ignored,
    }
}

/// A passive open on one local address and port: answers SYNs, with SYN cookies when its
/// backlog of half-open connections is full.
#[derive(Debug)]
pub struct Listener {
    local: SocketAddr,
    cfg: TcpConfig,
    backlog: usize,
    half_open: usize,
    isn: IsnGenerator,
    cookies: CookieJar,
    /// What the listener counted.
    pub stats: ListenerStats,
}

impl Listener {
    /// `secrets` key the listener's ISNs and its SYN cookies (each its own key).
    pub fn new(
        local: impl Into<SocketAddr>,
        cfg: TcpConfig,
        backlog: usize,
        secrets: &Secrets,
    ) -> Listener {
        Listener {
            local: local.into(),
            cfg,
            backlog,
            half_open: 0,
            isn: IsnGenerator::new(secrets.listener_isn()),
            cookies: CookieJar::new(secrets.syn_cookie()),
            stats: ListenerStats::default(),
        }
    }

    /// The address and port listened on.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The 4-tuple of a segment from `remote`; `None` from the other family.
    fn tuple(&self, remote: impl Into<SocketAddr>) -> Option<Tuple> {
        Tuple::new(self.local, remote.into())
    }

    /// The MSS this listener announces: MTU - 40 over IPv4, MTU - 60 over IPv6.
    fn our_mss(&self) -> u16 {
        if self.local.is_ipv6() {
            self.cfg.mss.saturating_sub(IPV6_EXTRA_HEADER).max(64)
        } else {
            self.cfg.mss
        }
    }

    /// Half-open connections counted against the backlog.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// A half-open connection finished its handshake or died: it no longer counts.
    pub fn half_open_done(&mut self) {
        self.half_open = self.half_open.saturating_sub(1);
    }

    /// A SYN (without ACK) for this listener from `remote`.
    pub fn on_syn(
        &mut self,
        now: Instant,
        remote: impl Into<SocketAddr>,
        syn: &TcpRepr,
    ) -> SynVerdict {
        self.stats.syns += 1;
        let tuple = self.tuple(remote);
        let Some(tuple) = tuple.filter(|_| {
            !(syn.flags.rst() || syn.flags.fin() || syn.flags.ack() || !syn.flags.syn())
        }) else {
            self.stats.ignored += 1;
            return SynVerdict::Ignore;
        };
        if self.half_open < self.backlog {
            self.half_open += 1;
            let iss = match &tuple {
                Tuple::V4(t) => self.isn.isn(t, now),
                Tuple::V6(t) => self.isn.isn(t, now),
            };
            return SynVerdict::Accept(Box::new(Conn::accept(&self.cfg, tuple, syn, iss, now)));
        }
        self.stats.cookies_sent += 1;
        SynVerdict::Cookie(self.cookie_syn_ack(now, &tuple, syn))
    }

    fn cookie_syn_ack(&self, now: Instant, tuple: &Tuple, syn: &TcpRepr) -> TcpRepr {
        let o = &syn.options;
        let mss = self.our_mss();
        let peer_mss = o.mss.unwrap_or(536).min(mss);
        let iss = match tuple {
            Tuple::V4(t) => self.cookies.encode(t, syn.seq, peer_mss, now),
            Tuple::V6(t) => self.cookies.encode(t, syn.seq, peer_mss, now),
        };
        let mut opts = TcpOptions {
            mss: Some(mss),
            ..TcpOptions::default()
        };
        // Window scale and SACK survive only inside the timestamp (Linux does the same).
        if let (true, Some((val, _))) = (self.cfg.timestamps, o.timestamps) {
            let ws = (self.cfg.window_scaling && o.window_scale.is_some())
                .then(|| self.cfg.window_shift());
            let sack = self.cfg.sack && o.sack_permitted;
            let ts = CookieJar::encode_ts(crate::tcp::conn::ts_clock(iss, now), ws, sack);
            opts.timestamps = Some((ts, val));
            opts.window_scale = ws;
            opts.sack_permitted = sack;
        }
        TcpRepr {
            src_port: tuple.local_port(),
            dst_port: tuple.remote_port(),
            seq: iss,
            ack: syn.seq + 1,
            flags: Flags::SYN | Flags::ACK,
            window: self.cfg.syn_window(opts.timestamps.is_some()),
            urgent: 0,
            options: opts,
            ecn: 0,
        }
    }

    fn decode_cookie(
        &self,
        tuple: &Tuple,
        ack: SeqNum,
        seq: SeqNum,
        ecr: Option<u32>,
        now: Instant,
    ) -> Option<CookieOptions> {
        match tuple {
            Tuple::V4(t) => self.cookies.decode(t, ack, seq, ecr, now),
            Tuple::V6(t) => self.cookies.decode(t, ack, seq, ecr, now),
        }
    }

    /// An ACK (no SYN, no RST) for this listener that matched no connection: if it
    /// carries a valid cookie, the connection it completes; otherwise `None` (the caller
    /// answers with a reset).
    pub fn on_ack(
        &mut self,
        now: Instant,
        remote: impl Into<SocketAddr>,
        seg: &TcpRepr,
        payload: &[u8],
    ) -> Option<Conn> {
        let tuple = self.tuple(remote)?;
        let ecr = seg.options.timestamps.map(|(_, ecr)| ecr);
        match self.decode_cookie(&tuple, seg.ack, seg.seq, ecr, now) {
            Some(opts) => {
                self.stats.cookies_accepted += 1;
                let mut c = Conn::from_cookie(&self.cfg, tuple, seg, opts, now);
                if !payload.is_empty() || seg.flags.fin() {
                    c.on_segment(now, seg, payload);
                }
                Some(c)
            }
            None => {
                self.stats.cookies_rejected += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::State;
    use crate::wire::tcp::TcpOptions;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);

    fn peer(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port)
    }

    fn syn(port: u16, seq: u32, ts: u32) -> TcpRepr {
        TcpRepr {
            src_port: port,
            dst_port: 80,
            seq: SeqNum(seq),
            flags: Flags::SYN,
            window: 64240,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((ts, 0)),
                ..TcpOptions::default()
            },
            ..TcpRepr::default()
        }
    }

    #[test]
    fn syn_with_rst_fin_or_ack_is_ignored() {
        // RFC 9293 3.10.7.2: a RST is ignored in LISTEN; Linux drops SYN+FIN too.
        let mut l = Listener::new(
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            TcpConfig::default(),
            4,
            &Secrets::from_master([1; 32]),
        );
        let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 4000);
        for extra in [Flags::RST, Flags::FIN, Flags::ACK] {
            let syn = TcpRepr {
                src_port: 4000,
                dst_port: 80,
                flags: Flags::SYN | extra,
                ..TcpRepr::default()
            };
            assert!(matches!(
                l.on_syn(Instant::ZERO, remote, &syn),
                SynVerdict::Ignore
            ));
        }
        assert_eq!((l.stats.ignored, l.half_open()), (3, 0));
        let syn = TcpRepr {
            src_port: 4000,
            dst_port: 80,
            flags: Flags::SYN,
            ..TcpRepr::default()
        };
        assert!(matches!(
            l.on_syn(Instant::ZERO, remote, &syn),
            SynVerdict::Accept(_)
        ));
    }

    #[test]
    fn backlog_then_syn_cookies_round_trip_with_options_intact() {
        // RFC 4987 3.6: past the backlog, SYNs get cookies; the ACK recreates the
        // connection with MSS, window scale, SACK and timestamps intact.
        let mut l = Listener::new(
            LOCAL,
            TcpConfig::default(),
            1,
            &Secrets::from_master([9; 32]),
        );
        let now = Instant::from_secs(100);
        assert!(matches!(
            l.on_syn(now, peer(1000), &syn(1000, 5, 1)),
            SynVerdict::Accept(_)
        ));
        assert_eq!(l.half_open(), 1);
        let SynVerdict::Cookie(sa) = l.on_syn(now, peer(2000), &syn(2000, 7000, 50)) else {
            panic!("backlog full: expected a cookie");
        };
        assert_eq!(l.half_open(), 1, "a cookie holds no state");
        assert_eq!(sa.flags, Flags::SYN | Flags::ACK);
        assert_eq!(sa.ack, SeqNum(7001));
        let o = sa.options;
        assert_eq!(
            (o.mss, o.window_scale, o.sack_permitted),
            (Some(1460), Some(TcpConfig::default().window_shift()), true)
        );
        let (tsval, tsecr) = o.timestamps.unwrap();
        assert_eq!(tsecr, 50);

        // The client's ACK, 200 ms later, echoing our TSval.
        let ack = TcpRepr {
            src_port: 2000,
            dst_port: 80,
            seq: SeqNum(7001),
            ack: sa.seq + 1,
            flags: Flags::ACK,
            window: 1000,
            options: TcpOptions {
                timestamps: Some((60, tsval)),
                ..TcpOptions::default()
            },
            ..TcpRepr::default()
        };
        let later = now + core::time::Duration::from_millis(200);
        let mut c = l
            .on_ack(later, peer(2000), &ack, &[])
            .expect("valid cookie");
        assert_eq!(c.state(), State::Established);
        assert_eq!(c.send_mss(), 1448, "MSS 1460 less the timestamps option");
        assert_eq!(l.stats.cookies_accepted, 1);

        // It works: data goes out with timestamps, within the scaled window (1000 << 7).
        assert_eq!(c.send(&[1; 3000]), 3000);
        let mut buf = [0u8; 2000];
        let (r, n) = c.poll_transmit(later, &mut buf).unwrap();
        assert_eq!((r.seq, n), (sa.seq + 1, 1448));
        assert_eq!(r.options.timestamps.map(|t| t.1), Some(60));

        // A forged ACK makes nothing.
        let mut forged = ack;
        forged.ack = SeqNum(12345);
        assert!(l.on_ack(later, peer(2000), &forged, &[]).is_none());
        assert_eq!(l.stats.cookies_rejected, 1);
    }

    #[test]
    fn time_wait_is_reused_only_by_a_newer_syn() {
        // Linux (RFC 6191 with timestamps): a SYN with a newer TSval, or without
        // timestamps a higher sequence number, may reopen a TIME_WAIT 4-tuple.
        let cfg = TcpConfig::default();
        let mut l = Listener::new(LOCAL, cfg, 8, &Secrets::from_master([1; 32]));
        let now = Instant::ZERO;
        let SynVerdict::Accept(mut c) = l.on_syn(now, peer(3000), &syn(3000, 100, 1000)) else {
            panic!()
        };
        let mut buf = [0u8; 100];
        let (sa, _) = c.poll_transmit(now, &mut buf).unwrap();
        let peer_seg = |seq: u32, flags: Flags, ts: u32| TcpRepr {
            src_port: 3000,
            dst_port: 80,
            seq: SeqNum(seq),
            ack: c_ack(&sa),
            flags,
            window: 1000,
            options: TcpOptions {
                timestamps: Some((ts, 0)),
                ..TcpOptions::default()
            },
            ..TcpRepr::default()
        };
        fn c_ack(sa: &TcpRepr) -> SeqNum {
            sa.seq + 1
        }
        c.on_segment(now, &peer_seg(101, Flags::ACK, 1001), &[]);
        assert_eq!(c.state(), State::Established);
        c.close();
        let (fin, _) = c.poll_transmit(now, &mut buf).unwrap();
        assert!(fin.flags.fin());
        let mut ack_fin = peer_seg(101, Flags::ACK | Flags::FIN, 1002);
        ack_fin.ack = fin.seq + 1;
        c.on_segment(now, &ack_fin, &[]);
        assert_eq!(c.state(), State::TimeWait);
        assert!(
            c.time_wait_accepts_syn(&syn(3000, 50, 2000)),
            "newer timestamp"
        );
        assert!(
            !c.time_wait_accepts_syn(&syn(3000, 5000, 900)),
            "older timestamp"
        );
        let mut no_ts = syn(3000, 5000, 0);
        no_ts.options.timestamps = None;
        // Without TS on the new SYN, its sequence number must be beyond what we received.
        assert!(c.time_wait_accepts_syn(&no_ts), "higher sequence number");
        no_ts.seq = SeqNum(90);
        assert!(!c.time_wait_accepts_syn(&no_ts), "lower sequence number");
    }
}

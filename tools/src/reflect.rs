//! `fastpath reflect`: the bench-only ceiling of the AF_XDP path. Every TCP frame for this
//! end's address and port 9 goes straight back out, addresses and ports swapped, with no
//! parsing beyond that and no TCP. Two ends reflecting at each other, one of them
//! injecting a few hundred frames at start, keep both paths full; the frames per second
//! each end moves is what any protocol work on this path can at most reach.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fastpath_engine::frame::{self, Ip, Link};
use fastpath_engine::runtime::{EngineConfig, FrameHandler, Service};
use fastpath_engine::tcp::SeqNum;
use fastpath_engine::wire::ethernet::{self, MacAddr};
use fastpath_engine::wire::ipv4;
use fastpath_engine::wire::tcp::{Flags, TcpRepr};

use crate::cli::ReflectArgs;
use crate::serve::{self, secs};

pub fn main(args: &ReflectArgs) -> anyhow::Result<()> {
    let duration = secs("--duration", args.duration)?;
    let inject = if args.inject > 0 {
        let (Some(to_ip), Some(to_mac)) = (args.to_ip, &args.to_mac) else {
            bail!("--inject needs --to-ip and --to-mac (the other end, which reflects too)");
        };
        let mac = parse_mac(to_mac)
            .with_context(|| format!("--to-mac {to_mac}: write aa:bb:cc:dd:ee:ff"))?;
        let our_mac = fastpath_engine::afxdp::mac_address(&args.iface)
            .with_context(|| format!("reading the MAC address of {}", args.iface))?;
        Some(Inject {
            count: args.inject,
            src_mac: our_mac,
            dst_mac: mac,
            src: args.ip.addr,
            dst: to_ip,
        })
    } else {
        None
    };
    let mut config = EngineConfig::new(&args.iface, args.ip);
    config.queues = serve::queues(&args.queues);
    config.cores = serve::cores(&args.cores);
    config.afxdp.mode = args.mode;
    config.afxdp.busy_poll = args.busy_poll;
    config.service = Service::Frames(Arc::new(Reflect { inject }));
    let stop = serve::stop_on_signals()?;
    let running = serve::start(config)?;
    let started = Instant::now();
    // The first second fills the path; the rate is taken over the rest.
    let warm = Duration::from_secs(1).min(duration / 2);
    let mut base = None;
    while started.elapsed() < duration && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if running.worker_ended() {
            break;
        }
        if base.is_none() && started.elapsed() >= warm {
            base = Some((Instant::now(), running.stats()));
        }
    }
    let end = (Instant::now(), running.stats());
    let report = running.stop(Duration::ZERO);
    print!("{}", report.summary());
    let (t0, c0) = base.unwrap_or((started, Default::default()));
    let secs = end.0.duration_since(t0).as_secs_f64().max(1e-9);
    let rx = end.1.rx_frames.saturating_sub(c0.rx_frames) as f64 / secs;
    let tx = end.1.tx_frames.saturating_sub(c0.tx_frames) as f64 / secs;
    println!(
        "reflected: {rx:.0} frames/s in, {tx:.0} frames/s out (over {secs:.1} s after a warm-up)"
    );
    if end.1.rx_frames == 0 {
        bail!("no frame arrived: is the other end reflecting, and did one end --inject?");
    }
    Ok(())
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The port reflect mode uses at both ends (discard).
const REFLECT_PORT: u16 = 9;

/// Every TCP/IPv4 frame straight back, on the engine's frame hook.
#[derive(Debug)]
struct Reflect {
    /// Frames to send at start to get the bouncing going (one end only).
    inject: Option<Inject>,
}

impl FrameHandler for Reflect {
    fn port(&self) -> u16 {
        REFLECT_PORT
    }

    fn initial_frame(&self, i: usize, buf: &mut [u8]) -> usize {
        match &self.inject {
            Some(inj) if i < inj.count => inj.frame(i, buf),
            _ => 0,
        }
    }

    fn on_frame(&self, frame: &mut [u8]) -> bool {
        reflect_in_place(frame)
    }
}

/// Frames sent at start: TCP from (our address, port 9) to the other end's, which
/// reflects them back.
#[derive(Clone, Debug)]
struct Inject {
    count: usize,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

impl Inject {
    /// One 54-byte frame to bounce (an ACK with no payload), numbered `i`.
    fn frame(&self, i: usize, buf: &mut [u8]) -> usize {
        let repr = TcpRepr {
            src_port: REFLECT_PORT,
            dst_port: REFLECT_PORT,
            seq: SeqNum(i as u32),
            flags: Flags::ACK,
            ..TcpRepr::default()
        };
        let link = Link {
            src: self.src_mac,
            dst: self.dst_mac,
            vlan: None,
        };
        let ip = Ip {
            src: self.src,
            dst: self.dst,
            ident: i as u16,
        };
        let tcp_at = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN;
        frame::tcp_segment(buf, tcp_at, Some(&link), &ip, &repr, 0).end
    }
}

/// Swaps a TCP/IPv4 frame's Ethernet addresses, IPv4 addresses and TCP ports in place.
/// The checksums stay valid (a swap does not change a ones'-complement sum). Returns false
/// for anything else (VLAN tags, options are fine; other protocols are not).
fn reflect_in_place(frame: &mut [u8]) -> bool {
    if frame.len() < 14 + 20 + 20 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
        return false;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if ihl < 20 || frame.len() < 14 + ihl + 20 {
        return false;
    }
    for i in 0..6 {
        frame.swap(i, 6 + i);
    }
    for i in 0..4 {
        frame.swap(26 + i, 30 + i);
    }
    let t = 14 + ihl;
    frame.swap(t, t + 2);
    frame.swap(t + 1, t + 3);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastpath_engine::wire::tcp::TcpPacket;

    #[test]
    fn a_reflected_frame_keeps_valid_checksums() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let r = Reflect {
            inject: Some(Inject {
                count: 1,
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                src: a,
                dst: b,
            }),
        };
        let mut f = vec![0u8; 128];
        assert_eq!(r.initial_frame(1, &mut f), 0, "one frame only");
        let n = r.initial_frame(0, &mut f);
        assert_eq!(n, 54);
        f.truncate(n);
        assert!(TcpPacket::parse(&f[34..], a, b).is_ok());
        assert!(r.on_frame(&mut f));
        assert_eq!(
            (&f[0..6], &f[6..12]),
            (&[2, 0, 0, 0, 0, 1][..], &[2, 0, 0, 0, 0, 2][..])
        );
        let ip = ipv4::Packet::new_checked(&f[14..]).expect("IPv4 checksum valid");
        assert_eq!((ip.src(), ip.dst()), (b, a));
        let seg = TcpPacket::parse(&f[34..], b, a).expect("TCP checksum valid");
        assert_eq!(seg.repr.seq.0, 0);
        // Not TCP/IPv4: left alone, and released.
        let mut arp = vec![0u8; 60];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(!r.on_frame(&mut arp));
    }
}

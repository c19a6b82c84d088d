//! AF_XDP on a veth pair: bind modes, errors, and frames both ways through the steering
//! program, with frame accounting checked throughout.

use std::time::{Duration, Instant};

use fastpath_engine::afxdp::{BindMode, Frame, GrantedMode, Xsk, XskConfig, XskError};
use fastpath_testbed::{privileged, VethPair};
use fastpath_xdp::{AddrMode, Counter, SteerConfig, Steering, XdpMode};

fn cfg(pair: &VethPair, queue: u32, mode: BindMode) -> XskConfig {
    let mut c = XskConfig::new(pair.engine_if(), queue);
    c.mode = mode;
    c.frame_count = 256;
    c
}

#[test]
fn bind_modes_on_veth() {
    if !privileged::check("bind_modes_on_veth") {
        return;
    }
    let pair = VethPair::new("xm");
    pair.engine_ns().enter_thread(|| {
        // Copy mode is granted and reported as such.
        let xsk = Xsk::open(&cfg(&pair, 0, BindMode::Copy)).expect("copy mode on veth");
        assert_eq!(xsk.granted_mode(), GrantedMode::Copy);
        assert_eq!(xsk.driver(), "veth");
        assert!(xsk.accounting().balanced());
        drop(xsk);

        // Zero-copy is refused by veth: the error names the driver and the way out.
        let err = Xsk::open(&cfg(&pair, 0, BindMode::ZeroCopy))
            .err()
            .expect("veth has no zero-copy");
        let msg = err.to_string();
        assert!(matches!(err, XskError::ZeroCopyUnsupported { .. }), "{msg}");
        assert!(msg.contains("veth") && msg.contains("copy mode"), "{msg}");

        // Auto falls back to copy and says why.
        let xsk = Xsk::open(&cfg(&pair, 1, BindMode::Auto)).expect("auto mode on veth");
        assert_eq!(xsk.granted_mode(), GrantedMode::Copy);
        let why = xsk.fallback_reason().expect("a reason for the fallback");
        assert!(why.contains("veth"), "{why}");

        // A second socket on a taken queue, and a queue that does not exist.
        let busy = Xsk::open(&cfg(&pair, 1, BindMode::Copy))
            .err()
            .expect("queue 1 is taken");
        assert!(matches!(busy, XskError::QueueBusy { .. }), "{busy}");
        let range = Xsk::open(&cfg(&pair, 5, BindMode::Copy))
            .err()
            .expect("no queue 5");
        assert!(range.to_string().contains("has 2 RX queue(s)"), "{range}");
    });
    // Outside the namespace the interface does not exist.
    let err = Xsk::open(&cfg(&pair, 0, BindMode::Copy))
        .err()
        .expect("not in root namespace");
    assert!(matches!(err, XskError::NoInterface(_)), "{err}");
}

/// Hand-built UDP-free TCP SYN from peer to engine (for RX) and an Ethernet frame back.
#[test]
fn frames_flow_both_ways_and_every_frame_is_accounted_for() {
    if !privileged::check("frames_flow_both_ways_and_every_frame_is_accounted_for") {
        return;
    }
    let pair = VethPair::new("xf");
    let engine_addr = pair.engine_addr();
    let peer_mac = pair.peer_mac();
    let engine_mac = pair.engine_mac();
    pair.engine_ns().enter_thread(|| {
        let ifindex = {
            let name = std::ffi::CString::new(pair.engine_if()).unwrap();
            // SAFETY: valid C string.
            unsafe { libc::if_nametoindex(name.as_ptr()) }
        };
        let mut steer = Steering::load(&SteerConfig {
            addrs: vec![(engine_addr.into(), AddrMode::Owned)],
            ports: vec![],
            local_port_range: None,
            sockets_per_queue: 1,
        })
        .unwrap();
        steer
            .attach(ifindex, XdpMode::Native, false)
            .expect("native XDP on veth");
        let mut socks: Vec<Xsk> = (0..2)
            .map(|q| Xsk::open(&cfg(&pair, q, BindMode::Copy)).unwrap())
            .collect();
        for (q, s) in socks.iter().enumerate() {
            steer.register_socket(q as u32, s.fd()).unwrap();
        }
        let before = steer.counters().unwrap();

        // The peer's kernel pings the engine's owned address: with nobody answering ARP it
        // broadcasts ARP requests, which the program steers to our sockets.
        let ping = pair.peer_ns().spawn(&[
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "1",
            &engine_addr.to_string(),
        ]);
        let mut got: Vec<Frame> = Vec::new();
        let mut arp_seen = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while arp_seen == 0 && Instant::now() < deadline {
            for s in socks.iter_mut() {
                got.clear();
                s.recv(&mut got, 64);
                for f in got.drain(..) {
                    let data = s.data(&f);
                    if data.len() >= 42 && data[12..14] == [0x08, 0x06] {
                        assert_eq!(&data[38..42], &engine_addr.octets(), "ARP for our address");
                        arp_seen += 1;
                    }
                    s.release(f);
                }
                s.refill();
                assert!(s.accounting().balanced(), "{:?}", s.accounting());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(ping);
        assert!(arp_seen > 0, "no ARP request reached the AF_XDP sockets");
        let d = steer.counters().unwrap().since(&before);
        assert!(
            d.get(Counter::Redirect) >= 1 && d.get(Counter::RuleArp) >= 1,
            "{d:?}"
        );

        // Transmit: a broadcast ARP request from the engine's MAC appears at the peer.
        let s = &mut socks[0];
        let (rx_before, _) = pair.link_packets(false);
        let mut f = s.alloc().expect("a free frame");
        let buf = s.buf_mut(&mut f);
        let mut frame = Vec::new();
        frame.extend_from_slice(&[0xff; 6]);
        frame.extend_from_slice(&engine_mac);
        frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        frame.extend_from_slice(&engine_mac);
        frame.extend_from_slice(&engine_addr.octets());
        frame.extend_from_slice(&[0; 6]);
        frame.extend_from_slice(&pair.peer_addr().octets());
        buf[..frame.len()].copy_from_slice(&frame);
        s.set_len(&mut f, frame.len());
        assert_eq!(s.accounting().in_use, 1);
        s.transmit(f).expect("TX ring has room");
        s.flush_tx();
        let sent = fastpath_testbed::proc::wait_until(
            Duration::from_secs(3),
            Duration::from_millis(10),
            || {
                s.complete();
                s.accounting().kernel_tx == 0
            },
        );
        assert!(sent, "the frame never completed: {:?}", s.accounting());
        let (rx_after, _) = pair.link_packets(false);
        assert!(rx_after > rx_before, "peer saw nothing");
        // The peer learned the engine's MAC from that request (RFC 826 merge).
        let neigh = pair
            .peer_ns()
            .run_ok(&["ip", "neigh", "show", &engine_addr.to_string()]);
        let mac = engine_mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        assert!(neigh.contains(&mac), "peer neighbour table: {neigh}");
        for s in &socks {
            let a = s.accounting();
            assert!(a.balanced() && a.in_use == 0, "{a:?}");
        }
        steer.detach().unwrap();
    });
    assert!(!pair.xdp_attached(), "program left attached");
    let _ = peer_mac;
}

/// A frame belongs to the socket whose UMEM made it: every other socket refuses it before
/// touching a byte or a count, so safe code cannot reach outside a UMEM.
#[test]
fn a_frame_from_another_socket_is_refused() {
    if !privileged::check("a_frame_from_another_socket_is_refused") {
        return;
    }
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let refused = |f: &mut dyn FnMut()| catch_unwind(AssertUnwindSafe(f)).is_err();
    let pair = VethPair::new("xo");
    pair.engine_ns().enter_thread(|| {
        // A's UMEM is four times B's: most of A's frame addresses lie past B's end.
        let mut big = cfg(&pair, 0, BindMode::Copy);
        big.frame_count = 1024;
        let mut a = Xsk::open(&big).expect("queue 0");
        let mut b = Xsk::open(&cfg(&pair, 1, BindMode::Copy)).expect("queue 1");
        let mut f = a.alloc().expect("a free frame");
        a.buf_mut(&mut f)[..4].copy_from_slice(b"mine");
        a.set_len(&mut f, 4);
        let (before_a, before_b) = (a.accounting(), b.accounting());

        assert!(refused(&mut || {
            let _ = b.data(&f);
        }));
        assert!(refused(&mut || {
            let _ = b.buf_mut(&mut f);
        }));
        assert!(refused(&mut || b.set_len(&mut f, 1)));
        assert_eq!(a.data(&f), b"mine", "untouched, and still good in A");
        let mut once = Some(f);
        assert!(refused(&mut || {
            let _ = b.transmit(once.take().expect("one try"));
        }));
        let mut once = a.alloc();
        assert!(refused(&mut || b.release(once.take().expect("a frame"))));
        // B never counted them and its free list gained no foreign address; A still counts
        // both in use (they went down with the refused calls).
        assert_eq!(b.accounting(), before_b);
        assert_eq!(a.accounting().in_use, before_a.in_use + 1);
        assert!(a.accounting().balanced() && b.accounting().balanced());
    });
}

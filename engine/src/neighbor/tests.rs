use super::*;

const OUR_MAC: MacAddr = [2, 0, 0, 0, 0, 1];
const PEER_MAC: MacAddr = [2, 0, 0, 0, 0, 2];
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

fn arp() -> Arp<u32> {
    Arp::new(ArpConfig::new(OUR_MAC, vec![(US, 24)], Some(GW)))
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn request(from: Ipv4Addr, mac: MacAddr, to: Ipv4Addr) -> ArpRepr {
    ArpRepr {
        op: Op::Request,
        sender_mac: mac,
        sender_ip: from,
        target_mac: [0; 6],
        target_ip: to,
    }
}

fn drain(a: &mut Arp<u32>, now: Instant) -> Vec<ArpEvent<u32>> {
    let mut v = Vec::new();
    while let Some(e) = a.poll(now) {
        v.push(e);
        assert!(v.len() < 10_000);
    }
    v
}

#[test]
fn answers_request_for_us_and_learns() {
    let mut a = arp();
    let reply = a.on_arp(t(0), &request(PEER, PEER_MAC, US)).unwrap();
    assert_eq!(reply.op, Op::Reply);
    assert_eq!((reply.sender_mac, reply.sender_ip), (OUR_MAC, US));
    assert_eq!((reply.target_mac, reply.target_ip), (PEER_MAC, PEER));
    assert_eq!(a.lookup(t(1), PEER), Some(PEER_MAC));
}

#[test]
fn ignores_request_for_others_and_does_not_learn() {
    let mut a = arp();
    assert_eq!(
        a.on_arp(t(0), &request(PEER, PEER_MAC, Ipv4Addr::new(10, 0, 0, 3))),
        None
    );
    assert_eq!(a.lookup(t(0), PEER), None);
    // But an existing entry is updated (RFC 826 merge).
    a.on_arp(t(0), &request(PEER, PEER_MAC, US));
    let new_mac = [2, 0, 0, 0, 0, 9];
    a.on_arp(t(10), &request(PEER, new_mac, Ipv4Addr::new(10, 0, 0, 3)));
    assert_eq!(a.lookup(t(10), PEER), Some(new_mac));
}

#[test]
fn entries_expire() {
    let mut a = arp();
    a.on_arp(t(0), &request(PEER, PEER_MAC, US));
    assert_eq!(a.lookup(t(59_999), PEER), Some(PEER_MAC));
    assert_eq!(a.lookup(t(60_000), PEER), None);
    assert_eq!(a.resolve(t(60_000), PEER, 1), Resolve::Queued);
}

#[test]
fn resolve_queues_requests_and_delivers_on_reply() {
    let mut a = arp();
    assert_eq!(a.resolve(t(0), PEER, 1), Resolve::Queued);
    assert_eq!(a.resolve(t(0), PEER, 2), Resolve::Queued);
    assert_eq!(a.poll_at(), Some(t(0)));
    let ev = drain(&mut a, t(0));
    assert_eq!(ev.len(), 1);
    let ArpEvent::SendRequest(req) = ev[0] else {
        panic!()
    };
    assert_eq!(
        (req.sender_ip, req.target_ip, req.sender_mac),
        (US, PEER, OUR_MAC)
    );
    assert_eq!(a.poll_at(), Some(t(1000)));
    let reply = ArpRepr {
        op: Op::Reply,
        sender_mac: PEER_MAC,
        sender_ip: PEER,
        target_mac: OUR_MAC,
        target_ip: US,
    };
    assert_eq!(a.on_arp(t(300), &reply), None);
    let ev = drain(&mut a, t(300));
    assert_eq!(
        ev,
        vec![
            ArpEvent::Resolved {
                mac: PEER_MAC,
                frame: 1
            },
            ArpEvent::Resolved {
                mac: PEER_MAC,
                frame: 2
            }
        ]
    );
    assert_eq!(a.pending_frames(), 0);
    assert_eq!(a.poll_at(), None);
    assert_eq!(a.resolve(t(301), PEER, 3), Resolve::Ready(PEER_MAC, 3));
}

#[test]
fn retries_then_fails_releasing_every_frame() {
    let mut a = arp();
    for f in 0..16 {
        assert_eq!(a.resolve(t(0), PEER, f), Resolve::Queued);
    }
    assert_eq!(a.resolve(t(0), PEER, 99), Resolve::Dropped(99));
    let mut requests = 0;
    let mut failed = Vec::new();
    let mut now = t(0);
    for _ in 0..10 {
        for e in drain(&mut a, now) {
            match e {
                ArpEvent::SendRequest(_) => requests += 1,
                ArpEvent::Failed { ip, frame } => {
                    assert_eq!(ip, PEER);
                    failed.push(frame);
                }
                e => panic!("{e:?}"),
            }
        }
        match a.poll_at() {
            Some(at) => now = at,
            None => break,
        }
    }
    assert_eq!(requests, 3);
    assert_eq!(failed, (0..16).collect::<Vec<_>>());
    assert_eq!(now, t(3000));
    assert_eq!(a.pending_frames(), 0);
}

#[test]
fn global_pending_bound() {
    let mut cfg = ArpConfig::new(OUR_MAC, vec![(US, 16)], None);
    cfg.pending_total = 5;
    let mut a: Arp<u32> = Arp::new(cfg);
    for i in 0..5 {
        assert_eq!(
            a.resolve(t(0), Ipv4Addr::new(10, 0, 1, i as u8), i),
            Resolve::Queued
        );
    }
    assert_eq!(
        a.resolve(t(0), Ipv4Addr::new(10, 0, 2, 1), 7),
        Resolve::Dropped(7)
    );
}

#[test]
fn cache_capacity_evicts_oldest() {
    let mut cfg = ArpConfig::new(OUR_MAC, vec![(US, 16)], None);
    cfg.cache_capacity = 4;
    let mut a: Arp<u32> = Arp::new(cfg);
    for i in 0..10u8 {
        a.on_arp(
            t(u64::from(i)),
            &request(Ipv4Addr::new(10, 0, 1, i), PEER_MAC, US),
        );
        assert!(a.cache_len() <= 4);
    }
    assert_eq!(a.cache_len(), 4);
    assert_eq!(a.lookup(t(20), Ipv4Addr::new(10, 0, 1, 5)), None);
    assert_eq!(a.lookup(t(20), Ipv4Addr::new(10, 0, 1, 6)), Some(PEER_MAC));
    assert_eq!(a.lookup(t(20), Ipv4Addr::new(10, 0, 1, 9)), Some(PEER_MAC));
}

#[test]
fn gateway_routing() {
    let a = arp();
    assert_eq!(a.next_hop(PEER), Ok(PEER));
    assert_eq!(a.next_hop(Ipv4Addr::new(192, 0, 2, 1)), Ok(GW));
    let b: Arp<u32> = Arp::new(ArpConfig::new(OUR_MAC, vec![(US, 24)], None));
    assert_eq!(
        b.next_hop(Ipv4Addr::new(192, 0, 2, 1)),
        Err(ArpError::NoRoute)
    );
}

#[test]
fn ignores_unusable_senders() {
    let mut a = arp();
    // ARP probe (RFC 5227): sender 0.0.0.0 is answered but not learned.
    assert!(a
        .on_arp(t(0), &request(Ipv4Addr::UNSPECIFIED, PEER_MAC, US))
        .is_some());
    assert_eq!(a.cache_len(), 0);
    a.on_arp(t(0), &request(PEER, [0xff; 6], US));
    assert_eq!(a.cache_len(), 0);
}

//! The engine's TCP secrets: one random master, a separate key derived for each use.
//!
//! A peer sees what each key produces: listener ISNs (RFC 6528), SYN cookies (RFC 4987),
//! the ISNs of connections the engine opens, and the ephemeral ports they start from. No
//! two uses share a key, and no output reveals bits of another use's key: subkey =
//! SipHash-2-4 keyed with half the master, over a label naming the use, a block number
//! and the other half of the master (domain separation by label, as HKDF's `info`).

use super::siphash::siphash24;

/// A key for ISNs (`IsnGenerator`). Only `Secrets` makes one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IsnKey(pub(crate) [u8; 16]);

/// A key for SYN cookies (`CookieJar`). Only `Secrets` makes one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieKey(pub(crate) [u8; 16]);

macro_rules! redacted {
    ($($t:ty),*) => {$(
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<secret>)"))
            }
        }
    )*};
}
redacted!(IsnKey, CookieKey, Secrets);

/// Every key a worker's TCP needs, derived from one master. Take the master from the OS's
/// random source at every start; any 32 bytes work in tests.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    listener_isn: IsnKey,
    syn_cookie: CookieKey,
    client_isn: IsnKey,
    port_start: u32,
    ip_id: IsnKey,
    icmp_seed: u64,
    flow_label: IsnKey,
}

const LISTENER_ISN: &[u8] = b"fastpath tcp listener isn";
const SYN_COOKIE: &[u8] = b"fastpath tcp syn cookie";
const CLIENT_ISN: &[u8] = b"fastpath tcp client isn";
const PORT_START: &[u8] = b"fastpath tcp ephemeral port start";
const IP_ID: &[u8] = b"fastpath ip id start";
const ICMP_SEED: &[u8] = b"fastpath icmp limits seed";
const FLOW_LABEL: &[u8] = b"fastpath ipv6 flow label";

impl Secrets {
    /// Derives every key from one 32-byte random master.
    pub fn from_master(master: [u8; 32]) -> Secrets {
        Secrets {
            listener_isn: IsnKey(subkey(&master, LISTENER_ISN)),
            syn_cookie: CookieKey(subkey(&master, SYN_COOKIE)),
            client_isn: IsnKey(subkey(&master, CLIENT_ISN)),
            port_start: block(&master, PORT_START, 0) as u32,
            ip_id: IsnKey(subkey(&master, IP_ID)),
            icmp_seed: block(&master, ICMP_SEED, 0),
            flow_label: IsnKey(subkey(&master, FLOW_LABEL)),
        }
    }

    /// ISNs of connections a listener accepts.
    pub fn listener_isn(&self) -> IsnKey {
        self.listener_isn
    }

    /// SYN cookies of a listener whose backlog is full.
    pub fn syn_cookie(&self) -> CookieKey {
        self.syn_cookie
    }

    /// ISNs of connections the engine opens.
    pub fn client_isn(&self) -> IsnKey {
        self.client_isn
    }

    /// Where the ephemeral port search starts (a peer sees the ports: this value is
    /// derived apart from every key).
    pub fn port_start(&self) -> u32 {
        self.port_start
    }

    /// Keys the ICMP rate limits' peer table and random numbers and the IPv4 ID buckets
    /// (`icmp_out`): a peer must not predict which bucket it shares.
    pub fn icmp_seed(&self) -> u64 {
        self.icmp_seed
    }

    /// Where a connection's IPv4 identification counter starts: Linux gives each
    /// connected socket a random start (`inet_id`) and counts up per segment, so the IDs
    /// a peer sees on one connection say nothing of the host's other traffic (no idle
    /// scan). Keyed per 4-tuple under a key of its own.
    pub fn ip_id_start(&self, tuple: &super::FourTuple) -> u16 {
        super::siphash::siphash24(&self.ip_id.0, &super::isn::tuple_bytes(tuple)) as u16
    }
}

impl Secrets {
    /// The flow label of an IPv6 connection's packets (RFC 6437; Linux's automatic flow
    /// labels hash the flow): keyed, so that no one off the path predicts it.
    pub fn flow_label(&self, t: &super::FourTuple6) -> u32 {
        let ports = u32::from(t.local_port) << 16 | u32::from(t.remote_port);
        crate::frame::flow_label(&self.flow_label.0, t.local, t.remote, ports)
    }
}

/// 64 bits of the subkey for `label`, block `n`.
fn block(master: &[u8; 32], label: &[u8], n: u8) -> u64 {
    let mut key = [0u8; 16];
    key.copy_from_slice(&master[..16]);
    let mut msg = [0u8; 64];
    let len = label.len().min(47);
    msg[..len].copy_from_slice(&label[..len]);
    msg[len] = n;
    msg[len + 1..len + 17].copy_from_slice(&master[16..]);
    siphash24(&key, &msg[..len + 17])
}

fn subkey(master: &[u8; 32], label: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&block(master, label, 0).to_le_bytes());
    k[8..].copy_from_slice(&block(master, label, 1).to_le_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(seed: u8) -> [u8; 32] {
        core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
    }

    #[test]
    fn every_use_gets_its_own_key() {
        let s = Secrets::from_master(master(1));
        let keys = [
            s.listener_isn().0,
            s.syn_cookie().0,
            s.client_isn().0,
            s.ip_id.0,
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
            // No key is a slice of the master, as the hand-cut keys were.
            assert_ne!(&a[..], &master(1)[..16]);
            assert_ne!(&a[..], &master(1)[16..]);
        }
        // The port start is none of the keys' bits.
        for k in keys {
            for w in k.chunks(4) {
                assert_ne!(u32::from_le_bytes(w.try_into().unwrap()), s.port_start());
            }
        }
    }

    #[test]
    fn stable_for_one_master_different_for_another() {
        assert_eq!(
            Secrets::from_master(master(1)),
            Secrets::from_master(master(1))
        );
        let (a, b) = (
            Secrets::from_master(master(1)),
            Secrets::from_master(master(2)),
        );
        assert_ne!(a.listener_isn(), b.listener_isn());
        assert_ne!(a.syn_cookie(), b.syn_cookie());
        assert_ne!(a.client_isn(), b.client_isn());
        assert_ne!(a.port_start(), b.port_start());
        // Both halves of the master count.
        let mut m = master(1);
        m[31] ^= 1;
        assert_ne!(Secrets::from_master(m).listener_isn(), a.listener_isn());
        m = master(1);
        m[0] ^= 1;
        assert_ne!(Secrets::from_master(m).syn_cookie(), a.syn_cookie());
    }

    #[test]
    fn known_answer() {
        // Pinned: a change to the derivation must be a deliberate one. The first half is
        // SipHash-2-4(key 0, "fastpath tcp syn cookie" || 0 || master[16..]).
        let s = Secrets::from_master([0; 32]);
        let mut msg = b"fastpath tcp syn cookie".to_vec();
        msg.push(0);
        msg.extend_from_slice(&[0; 16]);
        assert_eq!(
            s.syn_cookie().0[..8],
            siphash24(&[0; 16], &msg).to_le_bytes()
        );
        assert_eq!(
            s.syn_cookie().0,
            [
                0x63, 0xb0, 0xd6, 0x0d, 0x49, 0x78, 0xaf, 0xa7, 0x20, 0x7a, 0x99, 0xf7, 0x1c, 0x60,
                0xe1, 0x3c
            ]
        );
        assert_eq!(s.port_start(), 0xbaa0_ca78);
    }

    #[test]
    fn keys_do_not_print() {
        let s = Secrets::from_master(master(3));
        assert_eq!(format!("{s:?}"), "Secrets(<secret>)");
        assert_eq!(format!("{:?}", s.syn_cookie()), "CookieKey(<secret>)");
    }
}

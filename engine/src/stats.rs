//! Per-worker counters. A worker bumps plain integers on its own copy (no atomics, no
//! sharing on the hot path) and publishes a snapshot now and then; readers sum snapshots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Declares a set of monotonic `u64` counters, each documented, and generates what sums
/// them, so no field is ever copied by hand: `add` (field-wise sum), `since` (field-wise
/// difference from an earlier copy of the same set), and for a flat set `fields` (each
/// counter with its name, in order) and `FIELDS`. A set may end with nested sets
/// (`; name: Type`), which `add` and `since` recurse into.
macro_rules! counter_set {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($(#[$doc:meta])* $field:ident),* $(,)?
        }
    ) => {
        $crate::stats::counter_set!(@common $(#[$attr])* $vis struct $name { $($(#[$doc])* $field),* ; });

        impl $name {
            /// How many counters the set has.
            pub const FIELDS: usize = $crate::stats::counter_set!(@count $($field)*);

            /// Every counter with its name, in declaration order.
            pub fn fields(&self) -> [(&'static str, u64); $crate::stats::counter_set!(@count $($field)*)] {
                [$((stringify!($field), self.$field)),*]
            }

            /// The set from values in declaration order (the order of `fields`).
            pub fn from_array(vals: [u64; $crate::stats::counter_set!(@count $($field)*)]) -> $name {
                let [$($field),*] = vals;
                $name { $($field),* }
            }
        }
    };
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($(#[$doc:meta])* $field:ident,)*
            ;
            $($(#[$ndoc:meta])* $nested:ident: $ty:ty),* $(,)?
        }
    ) => {
        $crate::stats::counter_set!(@common $(#[$attr])* $vis struct $name {
            $($(#[$doc])* $field),* ; $($(#[$ndoc])* $nested: $ty),*
        });
    };
    (@common
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($(#[$doc:meta])* $field:ident),* ;
            $($(#[$ndoc:meta])* $nested:ident: $ty:ty),*
        }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
        $vis struct $name {
            $($(#[$doc])* pub $field: u64,)*
            $($(#[$ndoc])* pub $nested: $ty,)*
        }

        impl $name {
            /// Field-wise sum: adds `other`'s counts to these.
            pub fn add(&mut self, other: &$name) {
                $(self.$field += other.$field;)*
                $(self.$nested.add(&other.$nested);)*
            }

            /// What was counted since `earlier`, an older copy of this set.
            pub fn since(&self, earlier: &$name) -> $name {
                $name {
                    $($field: self.$field - earlier.$field,)*
                    $($nested: self.$nested.since(&earlier.$nested),)*
                }
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + $crate::stats::counter_set!(@count $($tail)*) };
}
pub(crate) use counter_set;

counter_set! {
    /// What one worker counted. Every field is monotonic.
    pub struct Counters {
        /// Frames taken from the AF_XDP RX ring.
        rx_frames,
        /// Bytes in those frames.
        rx_bytes,
        /// Frames put on the AF_XDP TX ring.
        tx_frames,
        /// Bytes in those frames.
        tx_bytes,
        /// ARP requests for our addresses answered.
        arp_replies,
        /// ARP frames not for us or not a request we answer.
        arp_ignored,
        /// ARP replies to our requests, handed to the neighbour cache.
        arp_learned,
        /// ARP requests sent to resolve a next hop.
        arp_requests,
        /// ICMP echo requests answered.
        icmp_echo_replies,
        /// ICMP messages counted and dropped (not echo, not for us).
        icmp_other,
        /// ICMP "fragmentation needed" for TCP we sent, handed to the connection.
        icmp_frag_needed,
        /// Neighbour solicitations for our IPv6 addresses answered (RFC 4861 7.2.4).
        ndp_replies,
        /// Neighbour discovery messages not for us or needing no answer.
        ndp_ignored,
        /// Neighbour advertisements handed to the neighbour cache.
        ndp_learned,
        /// Duplicate address detection probes sent (RFC 4862 5.4.2).
        dad_probes,
        /// Tentative IPv6 addresses found in use by another node (not used).
        dad_conflicts,
        /// ICMPv6 echo requests answered.
        icmp6_echo_replies,
        /// ICMPv6 messages counted and dropped (not echo, not for us).
        icmp6_other,
        /// ICMPv6 "packet too big" received (RFC 8201).
        icmp6_too_big,
        /// ICMPv6 parameter problems sent (a hop-by-hop header not first, RFC 8200 4.3).
        icmp6_param_problems,
        /// ICMP destination unreachable sent: port unreachable for UDP, protocol
        /// unreachable for other protocols, to an owned address (RFC 1122 3.2.2.1, 4.1.3.1).
        icmp_unreachable_sent,
        /// ICMP errors not sent because of the rate limits (per peer or in all), as Linux.
        icmp_rate_limited,
        /// TCP segments answered with RST (no listener, no connection).
        tcp_rst_sent,
        /// TCP segments delivered to the stack.
        tcp_segments,
        /// Frames dropped because they were malformed (see the per-reason counts).
        drop_malformed,
        /// IPv4 fragments (not reassembled: counted and dropped).
        drop_fragment,
        /// Frames for an address that is not ours.
        drop_not_ours,
        /// Frames from the wire claiming one of our own or a loopback source address.
        drop_martian,
        /// Protocols and ethertypes the engine does not handle.
        drop_unsupported,
        /// Frames that could not be sent because the TX ring was full.
        drop_tx_full,
        /// Frames the kernel dropped before the engine saw them (XDP_STATISTICS rx_dropped).
        xsk_rx_dropped,
        /// Of those, dropped because the RX ring was full (the worker fell behind a burst).
        xsk_rx_ring_full,
        /// Times the kernel found the fill ring empty (no frame to receive into).
        xsk_fill_ring_empty,
        /// Frames moved from a backed-up RX ring into the worker's RX backlog (memory the
        /// size of the frame; the ring's frame goes straight back to the kernel).
        rx_backlog_frames,
        /// Segments not queued in the RX backlog because it held the same segment already
        /// (a peer's retransmission of what waits there).
        rx_backlog_duplicates,
        /// Pure ACKs in the RX backlog skipped because a later one of the same connection
        /// acknowledged more (neither with SACK blocks).
        rx_backlog_acks_merged,
        /// The most bytes the RX backlog held at once (--rx-backlog bounds it).
        rx_backlog_peak_bytes,
        /// Turns that found the RX backlog full and left frames in the ring.
        rx_backlog_full,
        /// RX descriptors the kernel found invalid.
        xsk_rx_invalid,
        /// TX descriptors the kernel refused as invalid.
        xsk_tx_invalid,
        /// Times the kernel found the TX ring empty when woken to send.
        xsk_tx_ring_empty,
        /// TCP connections accepted (open = accepted - closed).
        conns_accepted,
        /// TCP connections ended (their state freed).
        conns_closed,
        /// SYNs refused with a RST: connection limit reached or shutting down.
        conns_refused,
        /// Connections that skipped TIME_WAIT because the TIME_WAIT limit was reached.
        conns_tw_overflow,
        /// HTTP requests parsed.
        http_requests,
        /// HTTP responses 2xx.
        http_2xx,
        /// HTTP responses 3xx (304 Not Modified, 301 to a directory).
        http_3xx,
        /// HTTP responses 4xx.
        http_4xx,
        /// HTTP responses 5xx.
        http_5xx,
        /// Request heads not received within the header timeout.
        http_header_timeouts,
        /// Idle keep-alive connections closed.
        http_idle_timeouts,
        /// Connections reset because a response made no progress for the send timeout.
        http_send_timeouts,
        /// Request handlers that panicked (their clients got a 500; the worker went on).
        http_handler_panics,
        /// Frames handed to the worker that owns their connection.
        handoff_out,
        /// Frames received from another worker for our connections.
        handoff_in,
        /// Handoffs dropped: the owner stopped, or its queue stayed full past a 64k backlog.
        handoff_dropped,
        /// SYN-ACKs sent with a SYN cookie (a listener's backlog was full).
        syn_cookies_sent,
        /// Connections opened by a valid cookie in the handshake's ACK.
        syn_cookies_accepted,
        /// The most half-open connections one listener held at once (bounded by --backlog).
        half_open_peak,
        /// RFC 5961 challenge ACKs sent (blind RST/SYN/ACK in window).
        tcp_challenge_acks,
        /// Challenge ACKs held back by the rate limit.
        tcp_challenge_suppressed,
        /// TCP segments sent again (timeouts and fast retransmit).
        tcp_retransmits,
        /// Zero-window probes sent (the peer's window stayed closed).
        tcp_window_probes,
        /// Retransmission timeouts (RFC 6298).
        tcp_rto_expiries,
        /// Tail loss probes sent (RFC 8985 7).
        tcp_tail_loss_probes,
        /// Retransmissions the peer's D-SACKs proved unneeded (RFC 2883).
        tcp_spurious_retransmits,
        /// Congestion responses undone because the loss proved spurious.
        tcp_undos,
        /// Data segments received twice, each answered with a D-SACK.
        tcp_duplicates_received,
        /// Data segments that arrived marked CE (RFC 3168).
        tcp_ce_received,
        /// Window reductions for the peer's ECN echo (at most one per window).
        tcp_ecn_reductions,
        /// Connections given up: retransmissions, keep-alive or FIN_WAIT_2 ran out of time.
        conns_timed_out,
        /// Quiet connections asked whether their peer still has them, after kernel drops.
        liveness_probes,
        /// Loopback segments put into a worker's in-memory inbox (never on the NIC).
        loopback_out,
        /// Loopback segments taken from this worker's inbox.
        loopback_in,
        /// Loopback segments dropped because the inbox was full (TCP retransmits them).
        loopback_dropped,
        /// Connections opened by the application.
        conns_opened,
        /// Connects that failed: the next hop never answered ARP.
        conns_unreachable,
        /// Loop turns that did work, by the time they took (sleep excluded): under 16 µs.
        loop_lt_16us,
        /// Turns of 16-64 µs.
        loop_lt_64us,
        /// Turns of 64-256 µs.
        loop_lt_256us,
        /// Turns of 256 µs to 1 ms.
        loop_lt_1ms,
        /// Turns of 1-4 ms (slow: see `loop_slow_*` for what they did).
        loop_lt_4ms,
        /// Turns of 4-16 ms.
        loop_lt_16ms,
        /// Turns of 16 ms or more.
        loop_ge_16ms,
        /// Frames the slow turns (1 ms or more) received.
        loop_slow_rx_frames,
        /// Frames the slow turns transmitted.
        loop_slow_tx_frames,
        /// Slow turns that ran due timers.
        loop_slow_timers,
        /// Slow turns that took segments from other workers (handoffs, loopback).
        loop_slow_handoffs,
        /// Slow turns that rendered a new `Date` header.
        loop_slow_date,
        /// Slow turns in which the app had events to handle.
        loop_slow_app,
        /// Slow turns that published the counters snapshot.
        loop_slow_publish,
        /// Slow turns right after a sleep.
        loop_slow_after_sleep,
        /// Sleeps in the device's poll() when idle.
        sleeps,
        /// Sleeps that ended 1 ms or more past the deadline they asked for.
        sleeps_late,
        /// Times the scheduler took the worker's core away (involuntary context switches
        /// of its thread, read once a second and at the end).
        preemptions,
    }
}

/// Named counts, in their order, as one object (`{"name": count, ...}`): for
/// `#[serde(serialize_with)]` on a list of pairs.
pub fn serialize_pairs<S: serde::Serializer>(
    pairs: &[(&'static str, u64)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, n) in pairs {
        m.serialize_entry(k, n)?;
    }
    m.end()
}

/// A snapshot slot a worker publishes into and a reporter reads from, one per worker.
/// Written off the hot path (once per batch at most), read by the stats thread.
#[derive(Debug)]
pub struct Published {
    values: [AtomicU64; Counters::FIELDS],
}

impl Default for Published {
    fn default() -> Self {
        Published {
            values: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Published {
    /// A zeroed copy, shared between a worker and its readers.
    pub fn new() -> Arc<Published> {
        Arc::new(Published::default())
    }

    /// Publishes a worker's counters (relaxed stores, off the hot path).
    pub fn store(&self, c: &Counters) {
        for (slot, (_, v)) in self.values.iter().zip(c.fields()) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    /// The last published counters.
    pub fn load(&self) -> Counters {
        let mut vals = [0u64; Counters::FIELDS];
        for (v, slot) in vals.iter_mut().zip(&self.values) {
            *v = slot.load(Ordering::Relaxed);
        }
        Counters::from_array(vals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_round_trips_and_sums() {
        let p = Published::new();
        let c = Counters {
            rx_frames: 3,
            drop_tx_full: 7,
            ..Counters::default()
        };
        p.store(&c);
        assert_eq!(p.load(), c);
        let mut total = c;
        total.add(&c);
        assert_eq!(total.rx_frames, 6);
        let f = total.fields();
        assert_eq!(
            f.iter().find(|(n, _)| *n == "drop_tx_full"),
            Some(&("drop_tx_full", 14))
        );
        assert_eq!(f.iter().map(|(_, v)| v).sum::<u64>(), 20);
    }

    counter_set! {
        /// A flat set.
        struct Inner {
            /// One.
            a,
            /// Two.
            b,
        }
    }

    counter_set! {
        /// A set with a nested one.
        struct Outer {
            /// Three.
            x,
            ;
            /// The nested set.
            inner: Inner,
        }
    }

    #[test]
    fn generated_sums_reach_every_field_and_nested_sets() {
        let earlier = Outer {
            x: 1,
            inner: Inner { a: 2, b: 3 },
        };
        let now = Outer {
            x: 5,
            inner: Inner { a: 2, b: 10 },
        };
        let delta = now.since(&earlier);
        assert_eq!(
            delta,
            Outer {
                x: 4,
                inner: Inner { a: 0, b: 7 }
            }
        );
        let mut total = earlier;
        total.add(&delta);
        assert_eq!(total, now);
        assert_eq!(Inner::FIELDS, 2);
        assert_eq!(now.inner.fields(), [("a", 2), ("b", 10)]);
        assert_eq!(Inner::from_array([2, 10]), now.inner);
    }
}

//! What each turn of the loop took and what it did, for finding where slow requests come
//! from: a histogram of turn times (work only, sleep excluded) and, for the slow turns,
//! what they held (frames in and out, timers, handoffs, a stats publish, a new `Date`, the
//! app, whether the turn followed a sleep). Sleeps that woke late are counted apart, and
//! so are the times the scheduler took the core away (`preemptions`).
//!
//! Cheap by construction: the loop reads the clock once per turn anyway (`now`); a turn's
//! time is the distance to the next turn's `now`, less the time slept in between, which
//! costs two more clock reads only on the turns that sleep (a syscall follows anyway).
//! Everything else is a few integer adds into the worker's own counters.

use std::time::Duration;

use crate::stats::Counters;
use crate::time::Instant;

/// A turn this long or longer counts as slow: at 20,000 requests/s, 20 requests arrive
/// meanwhile and each waits on it.
pub const SLOW_TURN: Duration = Duration::from_millis(1);

/// A sleep that ends this much past its deadline woke late.
pub const LATE_WAKE: Duration = Duration::from_millis(1);

/// What one turn of the loop did, filled in as it goes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Turn {
    /// When the turn began.
    pub start: Instant,
    /// Whether it did anything at all (idle turns are not recorded).
    pub worked: bool,
    /// Frames received.
    pub rx: u64,
    /// The TX frame count when the turn began (the difference is what it sent).
    pub tx_before: u64,
    /// Due timers ran.
    pub timers: bool,
    /// Segments came in from other workers (handoffs or loopback).
    pub handoffs: bool,
    /// The `Date` header was rendered anew.
    pub date: bool,
    /// The app ran with events to handle.
    pub app: bool,
    /// The counters snapshot was published.
    pub publish: bool,
    /// The loop slept right before this turn.
    pub after_sleep: bool,
}

impl Turn {
    /// A turn beginning at `now` (after a sleep, if `after_sleep`).
    pub fn begin(now: Instant, c: &Counters, after_sleep: bool) -> Turn {
        Turn {
            start: now,
            tx_before: c.tx_frames,
            after_sleep,
            ..Turn::default()
        }
    }

    /// Records the turn into `c`, given the time it took (the next turn's `now` minus
    /// this one's, less any sleep in between).
    pub fn end(&self, took: Duration, c: &mut Counters) {
        if !self.worked {
            return;
        }
        let us = took.as_micros() as u64;
        let bucket = match us {
            0..16 => &mut c.loop_lt_16us,
            16..64 => &mut c.loop_lt_64us,
            64..256 => &mut c.loop_lt_256us,
            256..1000 => &mut c.loop_lt_1ms,
            1000..4000 => &mut c.loop_lt_4ms,
            4000..16000 => &mut c.loop_lt_16ms,
            _ => &mut c.loop_ge_16ms,
        };
        *bucket += 1;
        if took < SLOW_TURN {
            return;
        }
        c.loop_slow_rx_frames += self.rx;
        c.loop_slow_tx_frames += c.tx_frames.saturating_sub(self.tx_before);
        c.loop_slow_timers += u64::from(self.timers);
        c.loop_slow_handoffs += u64::from(self.handoffs);
        c.loop_slow_date += u64::from(self.date);
        c.loop_slow_app += u64::from(self.app);
        c.loop_slow_publish += u64::from(self.publish);
        c.loop_slow_after_sleep += u64::from(self.after_sleep);
    }
}

/// Counts a sleep that asked for `asked` and lasted `slept`.
pub(super) fn record_sleep(asked: Duration, slept: Duration, c: &mut Counters) {
    c.sleeps += 1;
    if slept >= asked + LATE_WAKE {
        c.sleeps_late += 1;
    }
}

/// Times the calling thread was preempted (Linux's `nonvoluntary_ctxt_switches` in
/// `/proc/thread-self/status`): a slow turn with no work to show for it, on a core that
/// other processes share, is most often one of these. Read once a second, not per turn;
/// `None` where the file is not there.
pub(super) fn preemptions() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_fall_in_their_bucket_and_only_slow_ones_say_what_they_did() {
        let mut c = Counters::default();
        let mut t = Turn::begin(Instant::ZERO, &c, false);
        t.worked = true;
        t.rx = 5;
        t.timers = true;
        t.end(Duration::from_micros(10), &mut c);
        assert_eq!((c.loop_lt_16us, c.loop_slow_rx_frames), (1, 0));
        let mut t = Turn::begin(Instant::ZERO, &c, true);
        t.worked = true;
        t.rx = 7;
        t.timers = true;
        c.tx_frames += 3;
        t.end(Duration::from_micros(2500), &mut c);
        assert_eq!(c.loop_lt_4ms, 1);
        assert_eq!(
            (
                c.loop_slow_rx_frames,
                c.loop_slow_tx_frames,
                c.loop_slow_timers
            ),
            (7, 3, 1)
        );
        assert_eq!((c.loop_slow_after_sleep, c.loop_slow_date), (1, 0));
        Turn::begin(Instant::ZERO, &c, false).end(Duration::from_secs(1), &mut c);
        assert_eq!(c.loop_ge_16ms, 0, "an idle turn is not recorded");
        record_sleep(Duration::from_millis(2), Duration::from_millis(2), &mut c);
        record_sleep(Duration::from_millis(2), Duration::from_millis(3), &mut c);
        assert_eq!((c.sleeps, c.sleeps_late), (2, 1));
    }

    #[test]
    fn preemptions_are_read_for_this_thread() {
        assert!(
            preemptions().is_some(),
            "Linux has /proc/thread-self/status"
        );
    }
}

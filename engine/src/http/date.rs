//! The `Date` header (RFC 9110 6.6.1, IMF-fixdate), formatted at most once a second.

use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
pub const DATE_LEN: usize = 29;

/// The current IMF-fixdate, re-rendered only when the second changes.
#[derive(Clone, Debug)]
pub struct DateCache {
    secs: u64,
    text: [u8; DATE_LEN],
    /// `refresh_at` reads the wall clock again only from this (monotonic) moment on:
    /// when the next wall-clock second begins.
    next_check: Option<crate::time::Instant>,
}

impl Default for DateCache {
    fn default() -> Self {
        let mut d = DateCache {
            secs: u64::MAX,
            text: [b' '; DATE_LEN],
            next_check: None,
        };
        d.refresh();
        d
    }
}

impl DateCache {
    /// Reads the wall clock; re-renders if a new second began. Call once per batch.
    pub fn refresh(&mut self) {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.set(secs);
    }

    /// Like `refresh`, but reads the wall clock only when `now` (the worker's monotonic
    /// time, read anyway) says a new second may have begun: one clock read a second
    /// instead of one per loop. Returns whether it read the clock.
    pub fn refresh_at(&mut self, now: crate::time::Instant) -> bool {
        if self.next_check.is_some_and(|t| now < t) {
            return false;
        }
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.set(d.as_secs());
        let to_next = std::time::Duration::from_nanos(1_000_000_000 - u64::from(d.subsec_nanos()));
        self.next_check = Some(now + to_next);
        true
    }

    /// Renders `secs` since the Unix epoch (if not already).
    pub fn set(&mut self, secs: u64) {
        if secs != self.secs {
            self.secs = secs;
            self.text = render(secs);
        }
    }

    /// The date as it goes into the header.
    pub fn as_bytes(&self) -> &[u8; DATE_LEN] {
        &self.text
    }
}

/// "Sun, 06 Nov 1994 08:49:37 GMT".
pub fn render(secs: u64) -> [u8; DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);

    let mut out = [0u8; DATE_LEN];
    out[0..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    two(&mut out[5..7], day as u64);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    let y = year.clamp(0, 9999) as u64;
    two(&mut out[12..14], y / 100);
    two(&mut out[14..16], y % 100);
    out[16] = b' ';
    two(&mut out[17..19], h);
    out[19] = b':';
    two(&mut out[20..22], m);
    out[22] = b':';
    two(&mut out[23..25], s);
    out[25..29].copy_from_slice(b" GMT");
    out
}

fn two(out: &mut [u8], v: u64) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_fixdate() {
        assert_eq!(&render(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&render(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&render(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&render(1_795_392_000), b"Mon, 23 Nov 2026 00:00:00 GMT");
        let mut d = DateCache::default();
        d.set(784_111_777);
        assert_eq!(d.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }
}

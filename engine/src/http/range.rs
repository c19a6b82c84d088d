//! Range requests (RFC 9110 14): `Range: bytes=...` over a body held in memory.
//!
//! One range (or several that overlap or touch, merged into one) → 206 with that slice
//! of the shared body, no copy. Several disjoint ranges → the whole body with 200, which
//! RFC 9110 14.2 allows ("a server MAY ignore the Range header field"); nginx would send
//! `multipart/byteranges`. Real clients (browsers seeking media, resumed downloads,
//! download managers) send one range, and a multipart body would be built per request out
//! of many small parts, the shape of the range-amplification attacks (CVE-2011-3192). A
//! list of more than `MAX_RANGES` is ignored the same way.
//! No satisfiable range at all → 416 with `Content-Range: bytes */LEN`. A malformed
//! header or another unit → ignored (14.2).

use std::ops::Range;

/// Ranges looked at in one header; a longer list is ignored (whole 200).
pub(super) const MAX_RANGES: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ranged {
    /// Send the whole representation (200).
    Whole,
    /// Send this slice (206).
    Part(Range<usize>),
    /// 416.
    Unsatisfiable,
}

/// Evaluates a `Range` value against a representation of `len` bytes.
pub(super) fn evaluate(value: &[u8], len: usize) -> Ranged {
    let value = value.trim_ascii();
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return Ranged::Whole;
    };
    if !value[..eq].trim_ascii().eq_ignore_ascii_case(b"bytes") {
        return Ranged::Whole; // a unit we do not know: ignored
    }
    let mut parts: [Range<usize>; MAX_RANGES] = std::array::from_fn(|_| 0..0);
    let mut n = 0;
    let mut any = false;
    for spec in value[eq + 1..].split(|&b| b == b',') {
        let spec = spec.trim_ascii();
        if spec.is_empty() {
            continue; // RFC 9110 5.6.1: empty list elements are allowed
        }
        any = true;
        let Some(r) = parse_spec(spec) else {
            return Ranged::Whole; // malformed: the whole header is ignored
        };
        let Some(r) = satisfiable(r, len) else {
            continue;
        };
        if n == MAX_RANGES {
            return Ranged::Whole;
        }
        parts[n] = r;
        n += 1;
    }
    if !any {
        return Ranged::Whole;
    }
    if n == 0 {
        return Ranged::Unsatisfiable;
    }
    let parts = &mut parts[..n];
    parts.sort_unstable_by_key(|r| r.start);
    let mut merged = parts[0].clone();
    for r in &parts[1..] {
        if r.start > merged.end {
            return Ranged::Whole; // disjoint: see the module comment
        }
        merged.end = merged.end.max(r.end);
    }
    Ranged::Part(merged)
}

/// One range-spec, unresolved.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-last` (`last` None when open-ended).
    From(u64, Option<u64>),
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

fn parse_spec(spec: &[u8]) -> Option<Spec> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let (a, b) = (spec[..dash].trim_ascii(), spec[dash + 1..].trim_ascii());
    match (a.is_empty(), b.is_empty()) {
        (true, true) => None,
        (true, false) => Some(Spec::Suffix(number(b)?)),
        (false, true) => Some(Spec::From(number(a)?, None)),
        (false, false) => {
            let (first, last) = (number(a)?, number(b)?);
            // RFC 9110 14.1.1: last < first makes the range-spec invalid.
            (last >= first).then_some(Spec::From(first, Some(last)))
        }
    }
}

fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// RFC 9110 14.1.1: a spec is satisfiable if it starts inside the body (or is a
/// non-zero suffix of a non-empty one); a last position past the end is clamped.
fn satisfiable(spec: Spec, len: usize) -> Option<Range<usize>> {
    let len64 = len as u64;
    match spec {
        Spec::From(first, last) if first < len64 => {
            let end = last.map_or(len64, |l| l.saturating_add(1).min(len64));
            Some(first as usize..end as usize)
        }
        Spec::Suffix(n) if n > 0 && len > 0 => Some((len64 - n.min(len64)) as usize..len),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ranged::*;

    fn r(v: &str, len: usize) -> Ranged {
        evaluate(v.as_bytes(), len)
    }

    #[test]
    fn single_suffix_and_open_ended() {
        assert_eq!(r("bytes=0-99", 1000), Part(0..100));
        assert_eq!(r("bytes=0-0", 1000), Part(0..1));
        assert_eq!(r("bytes=990-", 1000), Part(990..1000));
        assert_eq!(r("bytes=-10", 1000), Part(990..1000));
        assert_eq!(
            r("bytes=-5000", 1000),
            Part(0..1000),
            "suffix over the length"
        );
        assert_eq!(r("bytes=500-5000", 1000), Part(500..1000), "last clamped");
        assert_eq!(r("Bytes = 1-2", 1000), Part(1..3));
        assert_eq!(r("bytes=999-999", 1000), Part(999..1000));
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(r("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(r("bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(r("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Unsatisfiable, "nothing to slice");
        assert_eq!(r("bytes=-1", 0), Unsatisfiable);
        // Malformed or another unit: ignored, the whole body.
        assert_eq!(r("bytes=5-1", 1000), Whole);
        assert_eq!(r("bytes=a-b", 1000), Whole);
        assert_eq!(r("bytes=-", 1000), Whole);
        assert_eq!(r("bytes=", 1000), Whole);
        assert_eq!(r("items=0-1", 1000), Whole);
        assert_eq!(r("0-1", 1000), Whole);
        assert_eq!(r("bytes=99999999999999999999-", 1000), Whole);
    }

    /// Arbitrary specs over arbitrary lengths: never a panic, every part inside the body
    /// and non-empty.
    #[test]
    fn random_specs_stay_inside_the_body() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"bytes=0123456789-, ";
        for _ in 0..100_000 {
            let n = (next() % 24) as usize;
            let mut v = b"bytes=".to_vec();
            v.extend((0..n).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]));
            let len = (next() % 50) as usize;
            if let Part(r) = evaluate(&v, len) {
                assert!(
                    r.start < r.end && r.end <= len,
                    "{:?} {len}: {r:?}",
                    String::from_utf8_lossy(&v)
                );
            }
        }
    }

    #[test]
    fn several_ranges_merge_or_give_the_whole_body() {
        assert_eq!(r("bytes=0-9,10-19", 1000), Part(0..20), "adjacent");
        assert_eq!(r("bytes=5-15, 0-9", 1000), Part(0..16), "overlapping");
        assert_eq!(r("bytes=0-9,,", 1000), Part(0..10), "empty elements");
        assert_eq!(r("bytes=0-9,2000-", 1000), Part(0..10), "one satisfiable");
        assert_eq!(r("bytes=0-9,20-29", 1000), Whole, "disjoint");
        assert_eq!(r("bytes=2000-,3000-", 1000), Unsatisfiable);
        let many = format!("bytes={}", vec!["0-1"; MAX_RANGES + 1].join(","));
        assert_eq!(r(&many, 1000), Whole);
    }
}

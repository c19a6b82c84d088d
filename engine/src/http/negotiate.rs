//! Which content coding to serve (RFC 9110 12.5.3, `Accept-Encoding`): among the
//! representations a file has, the one the request accepts with the highest quality;
//! on a tie the smaller (br, then gzip, then identity). Without `Accept-Encoding` the
//! file's own bytes, as nginx's `gzip_static` does. Identity is acceptable unless the
//! request excludes it (when it is not named, it loses to any coding named with q > 0); if it excludes everything we have, identity is sent anyway
//! (the RFC allows that instead of 406, and a page that loads beats an error).

use super::answer::ListField;
use super::files::Coding;

/// Qualities in thousandths (`q=0.5` → 500).
fn quality(q: &[u8]) -> Option<u16> {
    let q = q.trim_ascii();
    let (int, frac) = match q.iter().position(|&b| b == b'.') {
        Some(d) => (&q[..d], &q[d + 1..]),
        None => (q, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u16 = match int {
        b"0" => 0,
        b"1" => 1000,
        _ => return None,
    };
    let mut scale = 100;
    for &d in frac {
        v += u16::from(d - b'0') * scale;
        scale /= 10;
    }
    (v <= 1000).then_some(v)
}

/// Picks the coding for a request's `Accept-Encoding` (all its lines), given which
/// encoded representations exist.
pub(super) fn choose(accept: Option<ListField<'_>>, gzip: bool, br: bool) -> Coding {
    let Some(accept) = accept else {
        return Coding::Identity;
    };
    if !gzip && !br {
        return Coding::Identity;
    }
    let (mut q_gzip, mut q_br, mut q_identity, mut q_any) = (None, None, None, None);
    for item in accept.items() {
        let mut params = item.split(|&b| b == b';');
        let name = params.next().unwrap_or(b"").trim_ascii();
        if name.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for p in params {
            let p = p.trim_ascii();
            if p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q=") {
                q = quality(&p[2..]);
            }
        }
        let Some(q) = q else {
            continue; // an unreadable weight: the item is ignored
        };
        let slot = if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
            &mut q_gzip
        } else if name.eq_ignore_ascii_case(b"br") {
            &mut q_br
        } else if name.eq_ignore_ascii_case(b"identity") {
            &mut q_identity
        } else if name == b"*" {
            &mut q_any
        } else {
            continue;
        };
        *slot = Some(q);
    }
    let q_of = |explicit: Option<u16>, have: bool| {
        if have {
            explicit.or(q_any).unwrap_or(0)
        } else {
            0
        }
    };
    let candidates = [
        (Coding::Br, q_of(q_br, br)),
        (Coding::Gzip, q_of(q_gzip, gzip)),
        // Unnamed, identity is acceptable but the last choice: a request naming only
        // codings with low weights still wants one of them.
        (Coding::Identity, q_identity.or(q_any).unwrap_or(1)),
    ];
    let mut best = (Coding::Identity, 0);
    for (c, q) in candidates {
        if q > best.1 {
            best = (c, q);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    fn c(v: &str, gz: bool, br: bool) -> Coding {
        choose(Some(ListField::one(v.as_bytes())), gz, br)
    }

    #[test]
    fn q_values_and_exclusions() {
        assert_eq!(choose(None, true, true), Identity);
        assert_eq!(c("gzip, deflate, br", true, true), Br);
        assert_eq!(c("gzip, deflate, br", true, false), Gzip);
        assert_eq!(c("gzip, deflate, br", false, true), Br);
        assert_eq!(c("deflate", true, true), Identity);
        assert_eq!(c("gzip;q=0, br;q=0", true, true), Identity);
        assert_eq!(c("gzip;q=0", true, false), Identity);
        assert_eq!(c("br;q=0.5, gzip;q=0.8", true, true), Gzip);
        assert_eq!(c("br;q=0.5, gzip;Q=0.8", true, true), Gzip);
        assert_eq!(c("gzip;q=0.5, identity", true, false), Identity);
        assert_eq!(c("gzip;q=0.5, identity;q=0.4", true, false), Gzip);
        assert_eq!(c("*", true, true), Br);
        assert_eq!(c("*;q=0.3, gzip;q=0.2", true, true), Br);
        assert_eq!(
            c("*;q=0, identity;q=0", true, false),
            Identity,
            "nothing fits"
        );
        assert_eq!(c("x-gzip", true, false), Gzip);
        assert_eq!(c("GZIP", true, false), Gzip);
        assert_eq!(c("gzip;q=2", true, false), Identity, "bad weight ignored");
        assert_eq!(c("gzip;q=0.0001", true, false), Identity);
        assert_eq!(c("gzip;q=1.000", true, false), Gzip);
        assert_eq!(c("", true, true), Identity);
    }
}

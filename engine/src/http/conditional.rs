//! Conditional requests (RFC 9110 13): `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`, evaluated in the order of 13.2.2, and `If-Range` (13.1.5).
//! The validators are the ones the loader computed (`files::FileInfo`); a resource
//! without them (a handler's, `--body`) still exists, so `*` matches it.

use super::answer::ListField;

/// A resource's validators as the precondition rules see them.
#[derive(Copy, Clone, Debug)]
pub(super) struct Validators<'a> {
    /// The selected representation's strong entity tag, quoted.
    pub etag: Option<&'a str>,
    /// Last modification, seconds since the Unix epoch.
    pub modified: Option<u64>,
}

/// The precondition header fields of a request (every line of the two lists, the first
/// of the dates).
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Preconditions<'a> {
    pub if_match: Option<ListField<'a>>,
    pub if_none_match: Option<ListField<'a>>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
}

/// What the preconditions decide for a GET or HEAD.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Answer normally (Range may still apply).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// RFC 9110 13.2.2, for a resource that exists and a GET or HEAD.
pub(super) fn evaluate(p: &Preconditions<'_>, v: Validators<'_>) -> Outcome {
    // 1. If-Match: false → 412 (strong comparison).
    if let Some(im) = p.if_match {
        if !list_matches(im, v.etag, false) {
            return Outcome::Failed;
        }
    } else if let (Some(ius), Some(modified)) = (p.if_unmodified_since, v.modified) {
        // 2. If-Unmodified-Since, only without If-Match; an invalid date is ignored.
        if parse_date(ius).is_some_and(|d| modified > d) {
            return Outcome::Failed;
        }
    }
    // 3. If-None-Match: true (a tag matches, weak comparison) → 304 for GET and HEAD.
    if let Some(inm) = p.if_none_match {
        if list_matches(inm, v.etag, true) {
            return Outcome::NotModified;
        }
    } else if let (Some(ims), Some(modified)) = (p.if_modified_since, v.modified) {
        // 4. If-Modified-Since, only without If-None-Match: not modified since → 304.
        if parse_date(ims).is_some_and(|d| modified <= d) {
            return Outcome::NotModified;
        }
    }
    Outcome::Proceed
}

/// RFC 9110 13.1.5: whether a Range may be honoured under `If-Range`. An entity tag must
/// match strongly; a date must equal the representation's `Last-Modified` exactly (and
/// ours are strong: one second resolution, never later than `Date`).
pub(super) fn if_range_holds(value: &[u8], v: Validators<'_>) -> bool {
    let value = value.trim_ascii();
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return !value.starts_with(b"W/") && v.etag.is_some_and(|e| e.as_bytes() == value);
    }
    match (parse_date(value), v.modified) {
        (Some(d), Some(m)) => d == m,
        _ => false,
    }
}

/// Whether an `If-Match` / `If-None-Match` list names the current representation: `*`
/// matches any existing one; `weak` selects weak comparison (RFC 9110 8.8.3.2: the opaque
/// tags agree, `W/` ignored) over strong (neither is weak, and they agree).
/// The list may span several lines (RFC 9110 5.3); a `*` among tags, which no sender
/// should make, is still taken as `*`.
fn list_matches(list: ListField<'_>, etag: Option<&str>, weak: bool) -> bool {
    if list.items().any(|t| t == b"*") {
        return true;
    }
    let Some(ours) = etag else {
        return false;
    };
    let ours = ours.as_bytes();
    list.items().any(|t| match t.strip_prefix(b"W/") {
        Some(opaque) => weak && opaque == ours,
        None => t == ours,
    })
}

/// An HTTP-date (IMF-fixdate or the two obsolete forms) as seconds since the epoch.
pub(super) fn parse_date(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let t = httpdate::parse_http_date(s).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"5-abc\"";
    const LM: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    const V: Validators<'static> = Validators {
        etag: Some(TAG),
        modified: Some(LM),
    };

    fn p<'a>(
        im: Option<&'a str>,
        inm: Option<&'a str>,
        ims: Option<&'a str>,
        ius: Option<&'a str>,
    ) -> Preconditions<'a> {
        Preconditions {
            if_match: im.map(|v| ListField::one(v.as_bytes())),
            if_none_match: inm.map(|v| ListField::one(v.as_bytes())),
            if_modified_since: ims.map(str::as_bytes),
            if_unmodified_since: ius.map(str::as_bytes),
        }
    }

    #[test]
    fn if_none_match_lists_star_and_weak_comparison() {
        use Outcome::*;
        let inm = |v| evaluate(&p(None, Some(v), None, None), V);
        assert_eq!(inm(TAG), NotModified);
        assert_eq!(inm("\"x\", \"5-abc\""), NotModified);
        assert_eq!(inm("W/\"5-abc\""), NotModified, "weak comparison for INM");
        assert_eq!(inm("*"), NotModified);
        assert_eq!(inm("\"5-abd\""), Proceed);
        assert_eq!(inm("\"5-abc"), Proceed);
        assert_eq!(inm(""), Proceed);
    }

    #[test]
    fn if_modified_since_and_the_rfc_order() {
        use Outcome::*;
        let at = "Sun, 06 Nov 1994 08:49:37 GMT";
        let before = "Sun, 06 Nov 1994 08:49:36 GMT";
        let after = "Sunday, 06-Nov-94 08:49:38 GMT"; // RFC 850 form
        let ims = |v| evaluate(&p(None, None, Some(v), None), V);
        assert_eq!(ims(at), NotModified);
        assert_eq!(ims(after), NotModified);
        assert_eq!(ims(before), Proceed);
        assert_eq!(ims("yesterday"), Proceed, "an invalid date is ignored");
        // If-None-Match present: If-Modified-Since is not looked at (13.2.2 step 4).
        assert_eq!(
            evaluate(&p(None, Some("\"no\""), Some(at), None), V),
            Proceed
        );
        assert_eq!(
            evaluate(&p(None, Some(TAG), Some(before), None), V),
            NotModified
        );
        // If-Match first: a failing one is 412 whatever follows.
        assert_eq!(
            evaluate(&p(Some("\"no\""), Some(TAG), None, None), V),
            Failed
        );
        assert_eq!(
            evaluate(&p(Some(TAG), Some(TAG), None, None), V),
            NotModified
        );
        assert_eq!(
            evaluate(&p(Some("W/\"5-abc\""), None, None, None), V),
            Failed,
            "strong comparison for If-Match"
        );
        assert_eq!(evaluate(&p(Some("*"), None, None, None), V), Proceed);
        // If-Unmodified-Since only without If-Match.
        assert_eq!(evaluate(&p(None, None, None, Some(before)), V), Failed);
        assert_eq!(evaluate(&p(None, None, None, Some(at)), V), Proceed);
        assert_eq!(
            evaluate(&p(Some(TAG), None, None, Some(before)), V),
            Proceed
        );
        // No validators: only `*` matches.
        let none = Validators {
            etag: None,
            modified: None,
        };
        assert_eq!(evaluate(&p(None, Some(TAG), Some(at), None), none), Proceed);
        assert_eq!(evaluate(&p(None, Some("*"), None, None), none), NotModified);
    }

    #[test]
    fn if_range_by_tag_or_exact_date() {
        assert!(if_range_holds(TAG.as_bytes(), V));
        assert!(!if_range_holds(b"W/\"5-abc\"", V), "weak never holds");
        assert!(!if_range_holds(b"\"other\"", V));
        assert!(if_range_holds(b"Sun, 06 Nov 1994 08:49:37 GMT", V));
        assert!(!if_range_holds(b"Sun, 06 Nov 1994 08:49:38 GMT", V));
        assert!(!if_range_holds(b"garbage", V));
    }
}

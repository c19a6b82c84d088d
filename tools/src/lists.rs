//! Parsing of the CPU and queue lists users write on the command line: `all`, `3`, `0-3`,
//! `0,2,4-5`. Kept apart from clap so it is tested on its own.

use std::fmt;
use std::str::FromStr;

/// A set of small non-negative integers (queue ids or CPU ids) in ascending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdList(Vec<u32>);

/// `all` or an explicit list.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Selection {
    #[default]
    All,
    Only(IdList),
}

#[derive(Debug, PartialEq, Eq)]
pub struct ListError(String);

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ListError {}

/// Upper bound on an id, to refuse typos like `0-4294967295` before allocating for them.
const MAX_ID: u32 = 4095;

impl IdList {
    pub fn ids(&self) -> &[u32] {
        &self.0
    }
}

impl FromStr for IdList {
    type Err = ListError;

    fn from_str(s: &str) -> Result<IdList, ListError> {
        let mut ids = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(ListError(format!(
                    "empty item in list '{s}' (write e.g. 0,2 or 0-3)"
                )));
            }
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (parse_id(a, s)?, parse_id(b, s)?),
                None => {
                    let v = parse_id(part, s)?;
                    (v, v)
                }
            };
            if lo > hi {
                return Err(ListError(format!(
                    "range '{part}' in '{s}' runs backwards (write {hi}-{lo})"
                )));
            }
            ids.extend(lo..=hi);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(IdList(ids))
    }
}

fn parse_id(text: &str, whole: &str) -> Result<u32, ListError> {
    let v: u32 = text
        .trim()
        .parse()
        .map_err(|_| ListError(format!("'{text}' in '{whole}' is not a number")))?;
    if v > MAX_ID {
        return Err(ListError(format!(
            "{v} in '{whole}' is larger than {MAX_ID}"
        )));
    }
    Ok(v)
}

impl FromStr for Selection {
    type Err = ListError;

    fn from_str(s: &str) -> Result<Selection, ListError> {
        if s.trim().eq_ignore_ascii_case("all") {
            Ok(Selection::All)
        } else {
            s.parse().map(Selection::Only)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_singles_ranges_and_mixes() {
        assert_eq!("3".parse::<IdList>().unwrap().ids(), &[3]);
        assert_eq!("0-3".parse::<IdList>().unwrap().ids(), &[0, 1, 2, 3]);
        assert_eq!("4-5,0,2,2".parse::<IdList>().unwrap().ids(), &[0, 2, 4, 5]);
        assert_eq!("all".parse::<Selection>().unwrap(), Selection::All);
    }

    #[test]
    fn rejects_bad_lists_with_a_reason() {
        assert!("3-1".parse::<IdList>().unwrap_err().0.contains("backwards"));
        assert!("a"
            .parse::<IdList>()
            .unwrap_err()
            .0
            .contains("not a number"));
        assert!("1,,2".parse::<IdList>().unwrap_err().0.contains("empty"));
        assert!("0-99999".parse::<IdList>().is_err());
    }
}

//! Exact comparison of decimal strings.
//!
//! Metric values and thresholds travel as decimal strings (`"0.912"`), never floats, so that a
//! threshold check cannot be flipped by binary rounding. [`compare`] compares two such strings
//! exactly, digit by digit.

use std::cmp::Ordering;

/// A decimal string that does not match `-?[0-9]+(\.[0-9]+)?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a decimal number (expected digits with an optional `.` and fraction)")]
pub struct DecimalError(pub String);

struct Parsed<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
}

fn parse(s: &str) -> Result<Parsed<'_>, DecimalError> {
    let err = || DecimalError(s.to_string());
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => {
            if f.is_empty() {
                return Err(err());
            }
            (i, f)
        }
        None => (body, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(err());
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let zero = int.is_empty() && frac.is_empty();
    Ok(Parsed {
        negative: negative && !zero,
        int,
        frac,
    })
}

fn compare_magnitude(a: &Parsed<'_>, b: &Parsed<'_>) -> Ordering {
    a.int
        .len()
        .cmp(&b.int.len())
        .then_with(|| a.int.cmp(b.int))
        .then_with(|| a.frac.cmp(b.frac))
}

/// Compares two decimal strings exactly (`"0.90" == "0.9"`, `"-0" == "0"`).
pub fn compare(a: &str, b: &str) -> Result<Ordering, DecimalError> {
    let (pa, pb) = (parse(a)?, parse(b)?);
    Ok(match (pa.negative, pb.negative) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => compare_magnitude(&pa, &pb),
        (true, true) => compare_magnitude(&pb, &pa),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_exactly_without_float_rounding() {
        assert_eq!(compare("0.90", "0.9").unwrap(), Ordering::Equal);
        assert_eq!(
            compare("0.1", "0.09999999999999999999").unwrap(),
            Ordering::Greater
        );
        assert_eq!(compare("10", "9.999").unwrap(), Ordering::Greater);
        assert_eq!(compare("-1.5", "-1.25").unwrap(), Ordering::Less);
        assert_eq!(compare("-0", "0.000").unwrap(), Ordering::Equal);
        assert_eq!(compare("007", "7").unwrap(), Ordering::Equal);
    }

    #[test]
    fn rejects_what_is_not_a_decimal() {
        for bad in ["", "-", "1.", ".5", "1e3", "0x10", "1,5", " 1"] {
            assert!(compare(bad, "1").is_err(), "{bad:?} accepted");
        }
    }
}

//! The one duration grammar of every flag, form and schedule: whole numbers, each with its
//! unit (`30s`, `15m`, `1h30m`, `2d`). A bare number is refused everywhere: `90` would be
//! seconds to one reader and minutes to another.

use std::time::Duration;

/// The accepted forms, as every error names them.
pub const FORMS: &str = "a number with s, m, h or d (e.g. 30s, 15m, 1h30m)";

/// A duration that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Digits only: the unit is missing.
    #[error("`{0}` has no unit; use {FORMS}")]
    NoUnit(String),
    /// Anything else that is not numbers with units.
    #[error("`{0}` is not a duration; use {FORMS}")]
    Malformed(String),
}

/// Parses `30s`, `15m`, `1h30m`, `2d` (units s, m, h, d in either case; each number at most 9
/// digits).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let malformed = || DurationError::Malformed(t.to_owned());
    if t.is_empty() {
        return Err(malformed());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::NoUnit(t.to_owned()));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let factor: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(malformed()),
        };
        if digits.is_empty() || digits.len() > 9 {
            return Err(malformed());
        }
        let n: u64 = digits.parse().map_err(|_| malformed())?;
        total = n
            .checked_mul(factor)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(malformed)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(malformed());
    }
    Ok(Duration::from_secs(total))
}

/// A duration in the grammar [`parse`] reads back, whole seconds, largest units first
/// (`1h30m`, `5m`, `45s`; `0s` for zero).
pub fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            text.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_needs_its_unit() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse(" 1h30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(
            parse("30S"),
            Ok(Duration::from_secs(30)),
            "as in `every 2H`"
        );
        assert_eq!(parse("1H30M"), Ok(Duration::from_secs(5400)));
        for text in ["0s", "45s", "5m", "1h30m", "1d2h3m4s"] {
            assert_eq!(parse(text).map(format).as_deref(), Ok(text), "reads back");
        }
        assert_eq!(parse("90"), Err(DurationError::NoUnit("90".into())));
        assert_eq!(
            parse("90").expect_err("no unit").to_string(),
            "`90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)"
        );
        for bad in ["", "1x", "m", "1h30", "-1s", "1.5h", "9999999999s"] {
            assert!(
                matches!(parse(bad), Err(DurationError::Malformed(_))),
                "{bad}"
            );
        }
    }
}

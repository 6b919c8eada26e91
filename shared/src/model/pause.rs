//! Why something is paused: a job's own pause may say why, an app's pause must.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The longest pause reason, in characters: a line an operator reads at a glance.
pub const MAX_PAUSE_REASON: usize = 200;

/// Why an app or a job is paused: one line of 1 to [`MAX_PAUSE_REASON`] characters, not
/// blank, no control characters (a newline included). Kept as typed, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PauseReason(String);

impl PauseReason {
    /// Validates a reason; a refusal names `field` (`reason` on the command line,
    /// `pause_reason` in a schedules file).
    pub fn parse(field: &'static str, value: &str) -> Result<Self, ValidationError> {
        let text = value.trim();
        let accepted = format!(
            "use one line of 1 to {MAX_PAUSE_REASON} characters, such as \"database migration until 14:00\""
        );
        if text.is_empty() {
            return Err(ValidationError::new(field, format!("empty; {accepted}")));
        }
        if text.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                format!("has a line break or control character; {accepted}"),
            ));
        }
        if let Some(c) = super::text::hidden_character(text) {
            return Err(ValidationError::new(
                field,
                format!(
                    "has an invisible or text-direction character (U+{:04X}); {accepted}",
                    u32::from(c)
                ),
            ));
        }
        let count = text.chars().count();
        if count > MAX_PAUSE_REASON {
            return Err(ValidationError::new(
                field,
                format!("{count} characters is too long; {accepted}"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PauseReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse("pause_reason", &s).map_err(serde::de::Error::custom)
    }
}

/// An app's pause: while it stands, no job of the app is called; each slot that comes due
/// is recorded `skipped` with the reason (docs/data-model.md, "Paused apps").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppPause {
    /// Why.
    pub reason: PauseReason,
    /// Since when.
    pub since: DateTime<Utc>,
}

impl AppPause {
    /// The error text of a slot this pause passes over.
    pub fn skipped_text(&self) -> String {
        format!("not called: app paused: {}", self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_bounded_line() {
        assert_eq!(
            PauseReason::parse("reason", "  migration  ").map(|r| r.0),
            Ok("migration".to_owned())
        );
        for bad in ["", "   ", "two\nlines", "tab\there"] {
            assert_eq!(
                PauseReason::parse("reason", bad).expect_err(bad).field,
                "reason"
            );
        }
        let long = "x".repeat(MAX_PAUSE_REASON + 1);
        let err = PauseReason::parse("reason", &long).expect_err("long");
        assert!(err.message.contains("201 characters"), "{}", err.message);
        assert!(PauseReason::parse("reason", &"é".repeat(MAX_PAUSE_REASON)).is_ok());
    }

    /// A reason that reads one way and is another: bidi overrides and invisible characters
    /// are refused (review of issue 32: "\u{202e}" was accepted and shown reversed).
    #[test]
    fn a_reason_hides_no_text_direction_or_invisible_character() {
        for bad in [
            "migration \u{202e}lasts 1 day",
            "\u{2066}db\u{2069}",
            "zero\u{200b}width",
            "\u{feff}bom",
            "mark\u{200f}",
            // Review of issue 32, second round: these passed.
            "line\u{2028}separator",
            "para\u{2029}graph",
            "soft\u{ad}hyphen",
            "tag \u{e0041}\u{e0042} smuggled",
            "mongolian\u{180e}vowel",
            "old\u{206a}swap",
            "anchor\u{fff9}",
            "grapheme\u{34f}joiner",
            "hangul\u{115f}\u{3164}filler",
            "braille\u{2800}blank",
            "music\u{1d173}",
            // Third round: a variation selector with nothing visible before it.
            "\u{fe0f}",
            "\u{fe0f} leading",
            "space \u{fe0f}",
            "short\u{1bca0}hand",
        ] {
            let err = PauseReason::parse("reason", bad).expect_err(bad);
            assert_eq!(err.field, "reason");
            assert!(err.message.contains("invisible"), "{}", err.message);
        }
        assert!(PauseReason::parse("reason", "مهاجرة قاعدة البيانات").is_ok());
        assert!(PauseReason::parse("reason", "⚠\u{fe0f} migration").is_ok());
        // The refusal names the character, so that a user can find it.
        let err = PauseReason::parse("reason", "a\u{2028}b").expect_err("separator");
        assert!(err.message.contains("U+2028"), "{}", err.message);
    }
}

//! The spelling shared by reading (`forms`) and writing (`describe`) the `at ...` and
//! `every ...` forms: day names and `HH:MM` times.

/// Day names of the `on DAYS` clause, Monday first.
pub(super) const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM` for a minute of the day.
pub(super) fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

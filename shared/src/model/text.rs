//! Stored text, capped.

/// The most of a call's output that is stored, in bytes (the dispatcher reads 4 KiB; a
/// body that is not UTF-8 grows when decoded, and is cut back here).
pub const MAX_OUTPUT_TEXT: usize = 4096;

/// The most of an error text that is stored, in bytes. Errors can quote what a server sent
/// (a redirect's `Location`, an app's message): capped, an execution item stays far below
/// DynamoDB's 400 KB item limit whatever the server answers.
pub const MAX_ERROR_TEXT: usize = 1024;

/// `text` cut to at most `max` bytes on a character boundary, the cut marked with `…`.
pub fn cap_text(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut capped = text;
    capped.truncate(end);
    capped.push_str(MARK);
    capped
}

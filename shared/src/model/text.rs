//! Stored text, capped.

/// The most of a call's output that is stored, in bytes (the dispatcher reads 4 KiB; a
/// body that is not UTF-8 grows when decoded, and is cut back here).
pub const MAX_OUTPUT_TEXT: usize = 4096;

/// The most of an error text that is stored, in bytes. Errors can quote what a server sent
/// (a redirect's `Location`, an app's message): capped, an execution item stays far below
/// DynamoDB's 400 KB item limit whatever the server answers.
pub const MAX_ERROR_TEXT: usize = 1024;

/// True for a character that changes how the text around it reads without being seen: the
/// bidirectional overrides, embeddings, isolates and marks (the characters of the "Trojan
/// Source" attack, as rustc's `text_direction_codepoint` lints list them) and the zero-width
/// characters. A line an operator reads at a glance must not hide one.
pub fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

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

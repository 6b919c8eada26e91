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
/// Source" attack, as rustc's `text_direction_codepoint` lints list them), the line and
/// paragraph separators, the zero-width and other invisible format characters (soft hyphen,
/// tag characters that smuggle text, deprecated format controls, interlinear annotation),
/// and the characters that print as nothing (Hangul fillers, the Braille blank, musical
/// formatting). A line an operator reads at a glance must not hide one. Emoji variation
/// selectors stay accepted (`⚠️`).
pub fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// True for a variation selector: it changes how the character before it is drawn (`⚠️`),
/// and draws nothing after a space or at the start.
pub fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}')
}

/// The first character of `text` that hides in it: an [invisible one](is_invisible_control),
/// or a variation selector with no visible character before it.
pub fn hidden_character(text: &str) -> Option<char> {
    let mut after_visible = false;
    for c in text.chars() {
        if is_invisible_control(c) || (is_variation_selector(c) && !after_visible) {
            return Some(c);
        }
        after_visible = !c.is_whitespace() && !is_variation_selector(c);
    }
    None
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

//! Short forms of long text (server replies, bodies) for messages and reports.

/// The first `keep` characters of `text`, with `…` when something was cut.
pub fn shorten(text: &str, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_characters_not_bytes() {
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("été…x", 2), "ét…");
    }
}

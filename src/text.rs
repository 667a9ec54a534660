//! Short forms of long text (server replies, bodies) for messages and reports.

/// The first `keep` characters of `text`, with `…` when something was cut.
pub fn shorten(text: &str, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Settings written as one string (`command: …`, `prometheus: …`, `file: …`),
/// held in a newtype so a provider can own them: it reads as that string, and
/// its schema is a plain string, as if it were one.
macro_rules! text_setting {
    ($setting:ident) => {
        impl std::ops::Deref for $setting {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl schemars::JsonSchema for $setting {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                <String as schemars::JsonSchema>::schema_name()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <String as schemars::JsonSchema>::json_schema(generator)
            }
        }
    };
}
pub(crate) use text_setting;

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

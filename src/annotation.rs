//! Lines a CI log turns into something a person sees without reading the
//! log: GitHub Actions workflow commands (`::error title=…::…`, shown on the
//! run's page and beside the commit) and GitLab CI's coloured lines.

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// A workflow command's message: one line, `%` escaped first.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: like the message, and `:` and `,`,
/// which end a property.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error title=…::message` (or `::warning`), every part escaped.
pub fn github(level: Level, title: Option<&str>, message: &str) -> String {
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let properties = title
        .map(|title| format!(" title={}", escape_property(title)))
        .unwrap_or_default();
    format!("::{command}{properties}::{}", escape_data(message))
}

/// A line GitLab's job log shows in bold red (or yellow), always coloured:
/// the log renders ANSI colours whether or not it is a terminal.
pub fn gitlab(level: Level, title: Option<&str>, message: &str) -> String {
    let (colour, word) = match level {
        Level::Error => ("31", "ERROR"),
        Level::Warning => ("33", "WARNING"),
    };
    let title = title.map(|title| format!("{title}: ")).unwrap_or_default();
    let message = message.replace(['\r', '\n'], " ");
    format!("\x1b[{colour};1m{word}: {title}{message}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_data_and_properties() {
        assert_eq!(
            github(
                Level::Error,
                Some("shop: api, eu rolled back"),
                "50% errors\r\nat step 2"
            ),
            "::error title=shop%3A api%2C eu rolled back::50%25 errors%0D%0Aat step 2"
        );
        assert_eq!(
            github(Level::Warning, None, "a: b, c"),
            "::warning::a: b, c"
        );
    }

    #[test]
    fn gitlab_lines_are_one_coloured_line() {
        assert_eq!(
            gitlab(Level::Error, Some("shop rolled back"), "errors\nhigh"),
            "\x1b[31;1mERROR: shop rolled back: errors high\x1b[0m"
        );
    }
}

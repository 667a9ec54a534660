//! Snapshots of what a user reads (`plan` text, console output) with what
//! changes from run to run masked: clock times, loopback ports, the test's
//! temporary folders and the repository's path.

use std::path::Path;

/// Settings for `insta` snapshots, masking the folders in `dirs` as `[dir]`.
/// Use as `masked(&[dir]).bind(|| insta::assert_snapshot!(..))`.
pub fn masked(dirs: &[&Path]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    // One folder for the whole suite, also for tests in subfolders.
    settings.set_snapshot_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/suite/snapshots"
    ));
    for dir in dirs {
        // Also the resolved path (`/tmp` may be a link).
        let resolved = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        for path in [resolved.as_path(), *dir] {
            settings.add_filter(&escape(&path.display().to_string()), "[dir]");
        }
    }
    settings.add_filter(&escape(env!("CARGO_MANIFEST_DIR")), "[repo]");
    settings.add_filter(r"\d\d:\d\d:\d\d\.\d\d\d", "[time]");
    settings.add_filter(r"(127\.0\.0\.1|localhost):\d+", "$1:[port]");
    settings
}

/// `text` as a regular expression that matches only itself.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

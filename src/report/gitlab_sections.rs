//! GitLab CI's collapsible log sections, which the console opens per step.
//! They belong to the console's output format, whatever else runs.

use std::time::{SystemTime, UNIX_EPOCH};

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Opens a collapsible section in the job log; `name` is `[A-Za-z0-9_.-]`.
pub fn section_start(name: &str, at: SystemTime, header: &str) -> String {
    format!(
        "\x1b[0Ksection_start:{}:{name}[collapsed=false]\r\x1b[0K{header}",
        unix_seconds(at)
    )
}

pub fn section_end(name: &str, at: SystemTime) -> String {
    format!("\x1b[0Ksection_end:{}:{name}\r\x1b[0K", unix_seconds(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_follow_gitlabs_syntax() {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
        assert_eq!(
            section_start("greenlight_step_1", at, "Step 1: 10%"),
            "\x1b[0Ksection_start:1767225600:greenlight_step_1[collapsed=false]\r\x1b[0KStep 1: 10%"
        );
        assert_eq!(
            section_end("greenlight_step_1", at),
            "\x1b[0Ksection_end:1767225600:greenlight_step_1\r\x1b[0K"
        );
    }
}

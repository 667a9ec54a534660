//! The JSON report (`--report PATH`): the contract other tools read.

use std::path::Path;

use super::Report;

pub fn render(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report).map(|mut text| {
        text.push('\n');
        text
    })
}

pub fn write(report: &Report, path: &Path) -> Result<(), String> {
    let text = render(report).map_err(|error| format!("cannot encode the report: {error}"))?;
    super::write_file(path, &text)
}

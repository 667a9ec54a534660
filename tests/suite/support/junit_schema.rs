//! Validates JUnit files with `xmllint --schema` against `tests/junit.xsd`,
//! the shape CI systems read. A missing xmllint fails the test (with the
//! command that installs it), never skips it.

use std::path::Path;

use super::process::require_program;

/// `Err` with xmllint's complaint when `xml` does not follow the schema.
pub fn validate(xml: &str) -> Result<(), String> {
    let xmllint = require_program("xmllint", "libxml2-utils");
    let dir = tempfile::TempDir::new().map_err(|error| error.to_string())?;
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).map_err(|error| error.to_string())?;
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit.xsd");
    let output = std::process::Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .map_err(|error| format!("cannot run xmllint: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

//! The JSON Schema of the spec, derived from the types so it cannot drift.

use super::types::RolloutSpec;

/// Pretty JSON, for `greenlight schema` and `# yaml-language-server: $schema=…`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RolloutSpec);
    // Serializing a schema built from our own types cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

//! `--set a.b.c=value`: override any field of the spec before it is templated
//! and validated, so CI jobs can tweak one file instead of keeping copies.

use serde_yaml::{Mapping, Value};

use super::error::{Origin, SpecError};
use super::path::{FieldPath, Segment};

/// One `--set` flag, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOverride {
    /// The flag as the user wrote it, for error messages.
    pub raw: String,
    pub path: FieldPath,
    pub value: Value,
}

impl SetOverride {
    /// Parses `KEY=VALUE`; the value is read as YAML, so `5`, `true` and `[1, 2]` keep their types.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (key, value) = raw.split_once('=').ok_or_else(|| {
            format!(
                "`{raw}` has no `=`; write it as KEY=VALUE, e.g. strategy.canary.steps.0.weight=5"
            )
        })?;
        let path = FieldPath::parse_dotted(key.trim())?;
        let value = if value.is_empty() {
            Value::String(String::new())
        } else {
            super::yaml::parse(value).unwrap_or_else(|_| Value::String(value.to_owned()))
        };
        Ok(Self {
            raw: raw.to_owned(),
            path,
            value,
        })
    }

    /// Parses every `--set` flag; an error names the flag.
    pub fn parse_all(raw: &[String]) -> Result<Vec<Self>, SpecError> {
        raw.iter()
            .map(|flag| {
                Self::parse(flag)
                    .map_err(|message| SpecError::new(Origin::SetFlag(flag.clone()), message))
            })
            .collect()
    }

    /// Writes the value into `document`, creating missing mapping keys.
    pub fn apply(&self, document: &mut Value) -> Result<(), String> {
        let mut node = document;
        let segments = self.path.segments();
        for (position, segment) in segments.iter().enumerate() {
            let last = position + 1 == segments.len();
            node = match segment {
                Segment::Key(key) => {
                    if node.is_null() {
                        *node = Value::Mapping(Mapping::new());
                    }
                    let Value::Mapping(mapping) = node else {
                        return Err(format!(
                            "cannot set `{key}`: the field above it is not a mapping"
                        ));
                    };
                    mapping
                        .entry(Value::String(key.clone()))
                        .or_insert(Value::Null)
                }
                Segment::Index(index) => {
                    let Value::Sequence(items) = node else {
                        return Err(format!(
                            "cannot use index {index}: the field above it is not a list"
                        ));
                    };
                    let length = items.len();
                    if *index == length && last {
                        items.push(Value::Null);
                    }
                    items.get_mut(*index).ok_or_else(|| {
                        format!("index {index} is out of range: the list has {length} item(s)")
                    })?
                }
            };
        }
        *node = self.value.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_yaml::from_str("strategy:\n  canary:\n    steps:\n      - weight: 10\n").unwrap()
    }

    #[test]
    fn sets_nested_fields_with_yaml_types() {
        let mut document = doc();
        SetOverride::parse("strategy.canary.steps.0.weight=25")
            .unwrap()
            .apply(&mut document)
            .unwrap();
        SetOverride::parse("report.title=Release")
            .unwrap()
            .apply(&mut document)
            .unwrap();
        assert_eq!(
            document["strategy"]["canary"]["steps"][0]["weight"],
            Value::from(25)
        );
        assert_eq!(document["report"]["title"], Value::from("Release"));
    }

    #[test]
    fn explains_bad_flags() {
        assert!(
            SetOverride::parse("novalue")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        let mut document = doc();
        let error = SetOverride::parse("strategy.canary.steps.5.weight=1")
            .unwrap()
            .apply(&mut document);
        assert!(error.unwrap_err().contains("out of range"));
    }
}

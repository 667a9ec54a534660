//! Durations as people write them in a spec: `300ms`, `30s`, `5m`, `1h30m`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Longer than any rollout should wait; also keeps time arithmetic from overflowing.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

const PATTERN: &str = r"^\s*([0-9]+\s*(ns|us|ms|s|m|h|d)\s*)+$";

fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("`{text}` is negative; durations must be positive"));
    }
    let duration = humantime::parse_duration(trimmed).map_err(|error| {
        format!("`{text}` is not a duration ({error}); write it like `30s`, `5m` or `1m30s`")
    })?;
    if duration > LONGEST {
        return Err(format!(
            "`{text}` is longer than a year; no rollout step should wait that long"
        ));
    }
    Ok(duration)
}

/// A duration that must be greater than zero (holds, intervals, timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(Duration);

/// A duration that may be zero (delays that can be switched off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Delay(Duration);

impl Span {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn get(self) -> Duration {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let duration = parse(text)?;
        if duration.is_zero() {
            return Err(format!(
                "`{text}` is zero; this duration must be greater than zero"
            ));
        }
        Ok(Self(duration))
    }
}

impl Delay {
    pub fn get(self) -> Duration {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        parse(text).map(Self)
    }
}

/// How greenlight prints a duration: `1m 30s`, `250ms`.
pub fn display(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    // Whole milliseconds are all a report needs.
    let rounded = Duration::from_millis(duration.as_millis().try_into().unwrap_or(u64::MAX));
    humantime::format_duration(rounded).to_string()
}

macro_rules! duration_serde {
    ($type:ident, $description:literal) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&display(self.0))
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl de::Visitor<'_> for Visitor {
                    type Value = $type;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($description)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$type, E> {
                        $type::parse(text).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$type, E> {
                        Err(E::custom(format!(
                            "`{n}` has no unit; write `{n}s` for seconds or `{n}ms` for milliseconds"
                        )))
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$type, E> {
                        self.visit_i64(n.try_into().unwrap_or(i64::MAX))
                    }
                    fn visit_f64<E: de::Error>(self, n: f64) -> Result<$type, E> {
                        Err(E::custom(format!("`{n}` has no unit; write a duration like `30s`")))
                    }
                }
                deserializer.deserialize_any(Visitor)
            }
        }

        impl JsonSchema for $type {
            fn schema_name() -> Cow<'static, str> {
                stringify!($type).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": PATTERN,
                    "description": $description,
                    "examples": ["30s", "5m", "1m30s"]
                })
            }
        }
    };
}

duration_serde!(
    Span,
    "a duration greater than zero, like `30s`, `5m` or `1m30s`"
);
duration_serde!(Delay, "a duration, like `0s`, `30s` or `5m`");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(
            Span::parse("1m30s").map(Span::get),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            Span::parse(" 250ms ").map(Span::get),
            Ok(Duration::from_millis(250))
        );
    }

    #[test]
    fn a_span_rejects_zero_and_negative() {
        assert!(Span::parse("0s").unwrap_err().contains("zero"));
        assert!(Span::parse("-5s").unwrap_err().contains("negative"));
        assert!(Delay::parse("0s").is_ok());
        assert!(Delay::parse("-1s").unwrap_err().contains("negative"));
    }

    #[test]
    fn absurd_durations_are_refused_rather_than_overflowing_the_clock() {
        assert!(
            Span::parse("106800000000000d")
                .unwrap_err()
                .contains("longer than a year")
        );
        assert!(Delay::parse("366d").is_err());
        assert!(Span::parse("365d").is_ok());
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(display(Duration::from_secs(90)), "1m 30s");
        assert_eq!(display(Duration::from_micros(250_400)), "250ms");
        assert_eq!(display(Duration::ZERO), "0s");
    }
}

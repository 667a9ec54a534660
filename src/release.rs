//! Which service is being released, from which version to which.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    pub name: String,
    pub stable_version: String,
    pub new_version: String,
}

impl Release {
    /// The environment every user command sees.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GREENLIGHT_NAME", self.name.clone()),
            ("GREENLIGHT_STABLE_VERSION", self.stable_version.clone()),
            ("GREENLIGHT_NEW_VERSION", self.new_version.clone()),
        ]
    }
}

/// A version as a command knows it: given (by a flag or the state record),
/// or not given, which only `validate` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    Given(String),
    NotGiven,
}

impl Version {
    pub fn from_flag(flag: Option<&str>) -> Self {
        flag.map_or(Self::NotGiven, |version| Self::Given(version.to_owned()))
    }

    /// What templates see: the version, or for one not given a version-shaped
    /// text that says so (`validate` renders every template, and image tags
    /// or names built from the version must still be valid).
    pub fn template_text(&self) -> &str {
        match self {
            Self::Given(version) => version,
            Self::NotGiven => "0.0.0-not-given",
        }
    }
}

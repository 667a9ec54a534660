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

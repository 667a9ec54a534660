//! The rollout spec: its types, how it is loaded and templated, and its checks.

/// Declares a spec enum that picks a provider's settings, one arm per
/// provider, and its `settings()` dispatch from the same list, so a
/// provider's arm is written once (`RouterSpec`, `TargetSpec`, `QuerySpec`,
/// `StateSpec`).
macro_rules! settings_enum {
    ($name:ident => dyn $settings:path { $($(#[$doc:meta])* $arm:ident($arm_settings:ty),)* }) => {
        #[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub enum $name {
            $($(#[$doc])* $arm($arm_settings),)*
        }

        impl $name {
            /// The settings of the provider this spec names.
            pub fn settings(&self) -> &dyn $settings {
                match self {
                    $($name::$arm(settings) => settings,)*
                }
            }
        }
    };
}

pub mod error;
pub mod kubernetes;
pub mod load;
pub mod locate;
pub mod overrides;
mod query;
mod router;
pub mod schema;
pub mod secrets;
mod state;
mod target;
pub mod types;
pub mod validate;
pub mod yaml;

// The vocabulary the spec shares with the providers lives below both.
pub use crate::{duration, field as path, template};
pub use error::SpecError;
pub use load::{LoadOptions, LoadedSpec, load};
pub use types::RolloutSpec;

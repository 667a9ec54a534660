//! The rollout spec: its types, how it is loaded and templated, and its checks.

pub mod error;
pub mod kubernetes;
pub mod load;
pub mod locate;
pub mod overrides;
mod router;
pub mod schema;
pub mod secrets;
mod target;
pub mod types;
pub mod validate;
pub mod yaml;

// The vocabulary the spec shares with the providers lives below both.
pub use crate::{duration, field as path, template};
pub use error::SpecError;
pub use load::{LoadOptions, LoadedSpec, load};
pub use types::RolloutSpec;

/// Declares a spec enum that picks one provider's settings (`RouterSpec`,
/// `TargetSpec`), one arm per provider, and its `settings()` from the same
/// list, so a provider's arm is written once.
macro_rules! settings_enum {
    ($name:ident: $settings_trait:path; $($(#[$doc:meta])* $arm:ident($settings:ty),)*) => {
        #[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub enum $name {
            $($(#[$doc])* $arm($settings),)*
        }

        impl $name {
            /// The settings of the provider this spec names.
            pub fn settings(&self) -> &dyn $settings_trait {
                match self {
                    $($name::$arm(settings) => settings,)*
                }
            }
        }
    };
}
pub(crate) use settings_enum;

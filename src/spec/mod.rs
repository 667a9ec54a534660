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

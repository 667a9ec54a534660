//! The rollout spec: its types, how it is loaded and templated, and its checks.

pub mod duration;
pub mod error;
pub mod kubernetes;
mod kubernetes_rules;
pub mod load;
pub mod locate;
pub mod overrides;
pub mod path;
pub mod pool;
pub mod schema;
pub mod template;
pub mod types;
pub mod validate;

pub use error::SpecError;
pub use load::{LoadOptions, LoadedSpec, load};
pub use types::RolloutSpec;

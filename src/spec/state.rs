//! Where the spec keeps the record of a rollout (`StateSpec`), handed to the
//! state store that knows it (`StoreSettings`). Adding a store adds one arm to
//! `settings_enum!` below; everything else is in its own module under `state/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::state::config_map::ConfigMapState;
use crate::state::file::FileState;
use crate::state::{StateStore, StoreSettings};

settings_enum! {
    StateSpec => dyn StoreSettings {
        /// A JSON file; put it on storage every job shares.
        File(FileState),
        /// ConfigMap `greenlight-<name>` in the cluster (the default when the target
        /// or the router is a Kubernetes one).
        ConfigMap(ConfigMapState),
    }
}

impl StateSpec {
    /// The store keeping the record (and the lock) of `service`.
    pub fn build(&self, service: &str) -> Box<dyn StateStore> {
        self.settings().build(service)
    }
}

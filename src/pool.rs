//! Fixed pools. A router whose two sides are fixed places (HAProxy server
//! sets) cannot name a side after a version, so releases alternate between
//! them: pool `a` is the servers the spec lists as `stableServers`, pool `b`
//! those it lists as `newServers`. The first release runs from `a` to `b`; the
//! state record says which pool the stable version is in, and the next
//! release deploys to the other, idle one. Loading the spec for a release
//! whose stable version is in `b` swaps the two lists, so the router, the
//! templates (`servers.stable`, `servers.new`, `servers.pool`) and the plan
//! all see the sides as they are now.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// The servers listed as `stableServers`.
    #[default]
    A,
    /// The servers listed as `newServers`.
    B,
}

impl Pool {
    pub fn other(self) -> Self {
        match self {
            Pool::A => Pool::B,
            Pool::B => Pool::A,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pool::A => "a",
            Pool::B => "b",
        }
    }
}

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The router section whose sides are pools, if the spec's router has them.
fn pooled_router(document: &mut Value) -> Option<&mut serde_yaml::Mapping> {
    document
        .get_mut("router")?
        .get_mut("haproxy")?
        .as_mapping_mut()
}

/// Makes the spec's stable side the servers of `stable`, its new side the
/// other pool's.
pub fn assign(document: &mut Value, stable: Pool) {
    if stable == Pool::A {
        return;
    }
    let Some(router) = pooled_router(document) else {
        return;
    };
    let stable_key = Value::from("stableServers");
    let new_key = Value::from("newServers");
    let first = router.remove(&stable_key);
    let second = router.remove(&new_key);
    if let Some(servers) = second {
        router.insert(stable_key, servers);
    }
    if let Some(servers) = first {
        router.insert(new_key, servers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        serde_yaml::from_str(
            "router:\n  haproxy:\n    backend: app\n    stableServers: [blue]\n    newServers: [green]\n",
        )
        .unwrap()
    }

    #[test]
    fn pool_b_swaps_the_sides_and_pool_a_keeps_them() {
        let mut document = spec();
        assign(&mut document, Pool::A);
        assert_eq!(document, spec());
        assign(&mut document, Pool::B);
        let router = &document["router"]["haproxy"];
        assert_eq!(router["stableServers"][0], "green");
        assert_eq!(router["newServers"][0], "blue");
        assert_eq!(router["backend"], "app");
    }

    #[test]
    fn routers_without_pools_are_left_alone() {
        let text = "router:\n  command:\n    set: 'true'\n    get: echo 0\n";
        let mut document: Value = serde_yaml::from_str(text).unwrap();
        assign(&mut document, Pool::B);
        assert_eq!(document, serde_yaml::from_str::<Value>(text).unwrap());
    }
}

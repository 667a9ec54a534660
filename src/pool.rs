//! Fixed pools. When the two sides of a release are fixed places (two
//! Marathon apps `/svc-blue` and `/svc-green`, two HAProxy server sets) a
//! side cannot be named after a version, so releases alternate between them:
//! the first release runs from pool `a` to pool `b`; the state record says
//! which pool the stable version is in, and the next release deploys to the
//! other, idle one.
//!
//! A spec names its pools with `pools: [blue, green]` (pool `a`, then `b`);
//! templates see the live one as `{{ pool.stable }}` and the idle one as
//! `{{ pool.new }}`. A router whose settings list the two sides (HAProxy's
//! server lists, `fixed_sides` in the router layer) alternates without names: its
//! two lists are swapped for a release whose stable version is in pool `b`,
//! so the router and the plan see the sides as they are now.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// The first name of `pools`; the servers a router lists as its stable side.
    #[default]
    A,
    /// The second name of `pools`; the servers a router lists as its new side.
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

/// The pools of one release by name, as templates see them: `pool.stable`
/// is where the stable version runs, `pool.new` where the new one goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sides {
    pub stable: String,
    pub new: String,
}

impl Sides {
    /// The same pools seen from the stable version (what a target renders
    /// when it removes that version: its own pool is then `new`).
    pub fn swapped(&self) -> Self {
        Self {
            stable: self.new.clone(),
            new: self.stable.clone(),
        }
    }
}

/// The pools' names: the spec's `pools: [first, second]`, else `a` and `b`.
pub fn sides(names: Option<[&str; 2]>, stable: Pool) -> Sides {
    let [first, second] = names.unwrap_or([Pool::A.name(), Pool::B.name()]);
    let name = |pool: Pool| match pool {
        Pool::A => first.to_owned(),
        Pool::B => second.to_owned(),
    };
    Sides {
        stable: name(stable),
        new: name(stable.other()),
    }
}

/// What to add when the router and the record disagree on fixed pools: the
/// record also keeps which pool is live, and removing it (the usual way out)
/// makes the next run take pool `a`, which is wrong when the stable version
/// serves from `b`.
pub fn mismatch_note(sides: &Sides, stable: Pool) -> String {
    format!(
        "On fixed pools the record also says which pool serves the stable version (`stablePool`: `a` for the first, `b` for the second): this run took it to be {} (`{stable}`) and would deploy to {} (`{}`). If the stable version serves from {1}, the record must say `\"stablePool\": \"{2}\"`: without a record the stable version is taken to be in pool `a`, so removing it does not help.",
        sides.stable,
        sides.new,
        stable.other(),
    )
}

/// The names a spec document gives its pools (`pools: [blue, green]`), if it
/// gives two strings; anything else is left to validation to report.
pub fn declared(document: &Value) -> Option<[&str; 2]> {
    match document.get("pools")?.as_sequence()?.as_slice() {
        [first, second] => Some([first.as_str()?, second.as_str()?]),
        _ => None,
    }
}

/// Makes the stable side of a router section whose two sides are the keys
/// `keys` (stable first) the places of `stable`, its new side the other
/// pool's.
pub fn assign(router: &mut serde_yaml::Mapping, keys: [&str; 2], stable: Pool) {
    if stable == Pool::A {
        return;
    }
    let stable_key = Value::from(keys[0]);
    let new_key = Value::from(keys[1]);
    let first = router.remove(&stable_key);
    let second = router.remove(&new_key);
    if let Some(places) = second {
        router.insert(stable_key, places);
    }
    if let Some(places) = first {
        router.insert(new_key, places);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDES: [&str; 2] = ["stableServers", "newServers"];

    fn router() -> serde_yaml::Mapping {
        serde_yaml::from_str("backend: app\nstableServers: [blue]\nnewServers: [green]\n").unwrap()
    }

    #[test]
    fn pool_b_swaps_the_sides_and_pool_a_keeps_them() {
        let mut section = router();
        assign(&mut section, SIDES, Pool::A);
        assert_eq!(section, router());
        assign(&mut section, SIDES, Pool::B);
        assert_eq!(section["stableServers"][0], "green");
        assert_eq!(section["newServers"][0], "blue");
        assert_eq!(section["backend"], "app");
    }

    #[test]
    fn names_follow_the_live_pool() {
        let document: Value = serde_yaml::from_str("pools: [blue, green]\n").unwrap();
        let names = declared(&document);
        assert_eq!(names, Some(["blue", "green"]));
        let first = sides(names, Pool::A);
        assert_eq!(
            (first.stable.as_str(), first.new.as_str()),
            ("blue", "green")
        );
        let second = sides(names, Pool::B);
        assert_eq!(second, first.swapped());
        let unnamed = sides(None, Pool::B);
        assert_eq!((unnamed.stable.as_str(), unnamed.new.as_str()), ("b", "a"));
    }

    #[test]
    fn anything_but_two_names_is_not_a_declaration() {
        for text in [
            "pools: [blue]\n",
            "pools: blue\n",
            "pools: [blue, {a: 1}]\n",
            "x: 1\n",
        ] {
            let document: Value = serde_yaml::from_str(text).unwrap();
            assert_eq!(declared(&document), None, "{text}");
        }
    }
}

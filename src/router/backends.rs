//! A list of weighted backends: HTTPRoute `backendRefs`, HTTPProxy and
//! IngressRoute `services`. greenlight owns the weights of the stable and the
//! new entry; every other key of every entry stays as it was.

use serde_json::{Value, json};

use crate::kubernetes::json::{str_at, weight_at};
use crate::provider::ProviderError;

/// Keys of the stable entry that are about that backend only, so a new entry
/// cloned from it leaves them out.
const NOT_COPIED: [&str; 6] = [
    "weight",
    "filters",
    "mirror",
    "requestHeadersPolicy",
    "responseHeadersPolicy",
    "cookieRewritePolicies",
];

pub struct Pair<'a> {
    pub stable: &'a str,
    pub new: &'a str,
    /// Weight of an entry that names none (Gateway API: 1).
    pub default_weight: i64,
    /// Entries the schema allows in one list.
    pub max_items: usize,
}

impl Pair<'_> {
    fn position(&self, list: &[Value], name: &str) -> Option<usize> {
        list.iter()
            .position(|entry| str_at(entry, "name") == Some(name))
    }

    /// Whether this list is one greenlight routes with.
    pub fn involves(&self, list: &[Value]) -> bool {
        self.position(list, self.stable).is_some() || self.position(list, self.new).is_some()
    }

    /// (stable, new) weights; an absent entry weighs 0. Another entry that
    /// still takes traffic is an error: the split would not be what it reads.
    pub fn read(&self, list: &[Value], what: &str) -> Result<(i64, i64), ProviderError> {
        self.refuse_other_traffic(list, what)?;
        let weight = |name| {
            self.position(list, name)
                .map_or(0, |index| weight_at(&list[index], self.default_weight))
        };
        Ok((weight(self.stable), weight(self.new)))
    }

    fn refuse_other_traffic(&self, list: &[Value], what: &str) -> Result<(), ProviderError> {
        let other = list.iter().find(|entry| {
            let name = str_at(entry, "name");
            name != Some(self.stable)
                && name != Some(self.new)
                && weight_at(entry, self.default_weight) != 0
        });
        match other {
            None => Ok(()),
            Some(entry) => Err(ProviderError::new(format!(
                "{what} also sends traffic to `{}` (weight {}), which is neither the stable `{}` nor the new `{}`",
                str_at(entry, "name").unwrap_or("?"),
                weight_at(entry, self.default_weight),
                self.stable,
                self.new
            ))
            .with_hint("finish or roll back the earlier rollout that left it, or set its weight to 0")),
        }
    }

    /// Sets both weights, adding the new entry (cloned from the stable one)
    /// when it is missing and dropping leftovers of earlier rollouts (entries
    /// of neither version already at weight 0).
    pub fn write(
        &self,
        list: &mut Vec<Value>,
        stable: i64,
        new: i64,
        what: &str,
    ) -> Result<(), ProviderError> {
        self.refuse_other_traffic(list, what)?;
        let Some(stable_at) = self.position(list, self.stable) else {
            return Err(ProviderError::new(format!(
                "{what} has no backend named `{}` (the stable version)",
                self.stable
            ))
            .with_hint(
                "point the route at the stable Service first, or fix the spec's stable name",
            ));
        };
        list[stable_at]["weight"] = json!(stable);
        match self.position(list, self.new) {
            Some(index) => list[index]["weight"] = json!(new),
            None if new > 0 => {
                let mut entry = list[stable_at].clone();
                if let Some(fields) = entry.as_object_mut() {
                    fields.retain(|key, _| !NOT_COPIED.contains(&key.as_str()));
                }
                entry["name"] = json!(self.new);
                entry["weight"] = json!(new);
                list.push(entry);
            }
            None => {}
        }
        list.retain(|entry| {
            let name = str_at(entry, "name");
            name == Some(self.stable)
                || name == Some(self.new)
                || weight_at(entry, self.default_weight) != 0
        });
        if list.len() > self.max_items {
            return Err(ProviderError::new(format!(
                "{what} would have {} backends; at most {} are allowed",
                list.len(),
                self.max_items
            ))
            .with_hint("remove backends of old versions from it"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> Pair<'static> {
        Pair {
            stable: "a",
            new: "b",
            default_weight: 1,
            max_items: 16,
        }
    }

    #[test]
    fn adds_the_new_backend_without_the_stable_ones_filters_and_drops_leftovers() {
        let mut list = vec![
            json!({"name": "a", "port": 80, "filters": [{"type": "X"}]}),
            json!({"name": "old", "port": 80, "weight": 0}),
        ];
        pair().write(&mut list, 90, 10, "rule").unwrap();
        assert_eq!(
            list,
            vec![
                json!({"name": "a", "port": 80, "filters": [{"type": "X"}], "weight": 90}),
                json!({"name": "b", "port": 80, "weight": 10}),
            ]
        );
        assert_eq!(pair().read(&list, "rule"), Ok((90, 10)));
    }

    #[test]
    fn a_third_backend_that_takes_traffic_is_refused_not_ignored() {
        // No `weight` means 1 in Gateway API: it takes a share.
        let mut list = vec![
            json!({"name": "a", "weight": 90}),
            json!({"name": "b", "weight": 10}),
            json!({"name": "v0"}),
        ];
        let error = pair().read(&list, "rule").unwrap_err();
        assert!(
            error
                .message
                .contains("also sends traffic to `v0` (weight 1)"),
            "{}",
            error.message
        );
        assert!(pair().write(&mut list, 100, 0, "rule").is_err());
        assert_eq!(list[2], json!({"name": "v0"}), "nothing changed");
    }

    #[test]
    fn refuses_without_the_stable_backend_or_past_the_limit() {
        assert!(
            pair()
                .write(&mut vec![json!({"name": "x"})], 90, 10, "rule")
                .is_err()
        );
        let small = Pair {
            max_items: 1,
            ..pair()
        };
        assert!(
            small
                .write(&mut vec![json!({"name": "a"})], 90, 10, "rule")
                .is_err()
        );
    }
}

//! Percentages to a router's integer weights and back. A router with a pair
//! of weights gives the new version `percent × scale` and the stable one the
//! rest of `100 × scale`; reading back rounds to the nearest percent.

use super::Weight;
use crate::provider::ProviderError;

/// (stable, new) weights for `weight`.
pub fn weights(weight: Weight, scale: i64) -> (i64, i64) {
    let new = i64::from(weight.percent()) * scale;
    (100 * scale - new, new)
}

/// The new version's share of `stable + new`.
pub fn percent(stable: i64, new: i64, what: &str) -> Result<Weight, ProviderError> {
    if stable < 0 || new < 0 || stable + new == 0 {
        return Err(ProviderError::new(format!(
            "{what}: weights stable {stable} / new {new} send no traffic anywhere"
        ))
        .with_hint("set a positive weight on one of them, or run `greenlight rollback`"));
    }
    let share = (new * 100 + (stable + new) / 2) / (stable + new);
    Ok(Weight::clamped(share))
}

/// Routers that switch all traffic at once accept only 0% and 100%.
pub fn all_or_nothing(weight: Weight, what: &str) -> Result<bool, ProviderError> {
    match weight.percent() {
        0 => Ok(false),
        100 => Ok(true),
        other => Err(ProviderError::new(format!(
            "{what} switches all traffic at once and cannot send {other}%"
        ))
        .with_hint("use a blue/green strategy, or canary steps of 0 and 100 only")),
    }
}

/// A router cannot split traffic between a backend and itself.
pub fn distinct(stable: &str, new: &str, what: &str) -> Result<(), ProviderError> {
    if stable == new {
        return Err(ProviderError::new(format!(
            "{what}: the stable and the new version are both `{new}`"
        ))
        .with_hint("name backends after the version (`web-{{ version }}`), and give a --version other than the stable one"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openshift_scale_maps_like_oc_set_route_backends() {
        let one = Weight::new(1).unwrap();
        assert_eq!(weights(one, 2), (198, 2));
        assert_eq!(percent(198, 2, "r").unwrap(), one);
        assert_eq!(percent(1, 3, "r").unwrap().percent(), 75);
        assert!(percent(0, 0, "r").is_err());
    }

    #[test]
    fn a_backend_cannot_be_split_with_itself() {
        assert!(distinct("web-v1", "web-v2", "r").is_ok());
        let error = distinct("web-v1", "web-v1", "HTTPRoute web").unwrap_err();
        assert!(error.message.contains("both `web-v1`"), "{error}");
    }
}

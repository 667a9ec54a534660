//! Small accessors for untyped Kubernetes objects.

use serde_json::{Map, Value};

use crate::provider::ProviderError;

/// `object[a][b]…` as a mutable array, or an error naming the path.
pub fn array_mut<'a>(
    object: &'a mut Value,
    path: &[&str],
    what: &str,
) -> Result<&'a mut Vec<Value>, ProviderError> {
    let mut node = object;
    for key in path {
        node = node.get_mut(*key).ok_or_else(|| missing(path, what))?;
    }
    node.as_array_mut().ok_or_else(|| missing(path, what))
}

/// `object[a][b]…` as a mutable map, or an error naming the path.
pub fn map_mut<'a>(
    object: &'a mut Value,
    path: &[&str],
    what: &str,
) -> Result<&'a mut Map<String, Value>, ProviderError> {
    let mut node = object;
    for key in path {
        node = node.get_mut(*key).ok_or_else(|| missing(path, what))?;
    }
    node.as_object_mut().ok_or_else(|| missing(path, what))
}

fn missing(path: &[&str], what: &str) -> ProviderError {
    ProviderError::new(format!("{what} has no `{}`", path.join(".")))
        .with_hint("greenlight edits an existing object: check it has the shape the docs show")
}

pub fn str_at<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// An integer weight, or `default` when it is absent.
pub fn weight_at(object: &Value, default: i64) -> i64 {
    object
        .get("weight")
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

//! The patch formats the API server accepts: JSON merge patch (RFC 7386),
//! JSON patch (RFC 6902) and server-side apply, with field ownership in
//! `metadata.managedFields` (FieldsV1): an apply owns the fields it sets, an
//! update owns the fields it changes (taking them from others), and an apply
//! that would change a field another manager owns is a conflict naming that
//! manager unless forced. Lists are owned whole (as atomic lists are); the
//! real server's keyed list merging is not modelled.

use serde_json::{Value, json};

/// RFC 7386: objects merge key by key, `null` deletes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(existing) = target {
                for (key, value) in fields {
                    if value.is_null() {
                        existing.remove(key);
                    } else {
                        merge(existing.entry(key.clone()).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Splits `/a/b/0` into the parent pointer and the last token.
fn split(path: &str) -> Result<(String, String), String> {
    let index = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path}"))?;
    Ok((path[..index].to_owned(), unescape(&path[index + 1..])))
}

fn add(document: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, last) = split(path)?;
    match document.pointer_mut(&parent) {
        Some(Value::Object(fields)) => {
            fields.insert(last, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let at = if last == "-" {
                items.len()
            } else {
                last.parse().map_err(|_| format!("bad index {last}"))?
            };
            if at > items.len() {
                return Err(format!("index {at} out of range"));
            }
            items.insert(at, value);
            Ok(())
        }
        _ => Err(format!("path {parent} does not exist")),
    }
}

fn remove(document: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    match document.pointer_mut(&parent) {
        Some(Value::Object(fields)) => fields
            .remove(&last)
            .ok_or_else(|| format!("{path} does not exist")),
        Some(Value::Array(items)) => {
            let at: usize = last.parse().map_err(|_| format!("bad index {last}"))?;
            (at < items.len())
                .then(|| items.remove(at))
                .ok_or_else(|| format!("{path} does not exist"))
        }
        _ => Err(format!("path {parent} does not exist")),
    }
}

/// RFC 6902: add, remove, replace, move, copy, test.
pub fn json_patch(document: &mut Value, operations: &Value) -> Result<(), String> {
    let operations = operations.as_array().ok_or("a JSON patch is an array")?;
    for operation in operations {
        let op = operation
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = operation
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = operation.get("value").cloned().unwrap_or(Value::Null);
        let from = operation
            .get("from")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match op {
            "add" => add(document, path, value)?,
            "remove" => drop(remove(document, path)?),
            "replace" => {
                remove(document, path)?;
                add(document, path, value)?;
            }
            "move" => {
                let moved = remove(document, from)?;
                add(document, path, moved)?;
            }
            "copy" => {
                let copied = document
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("{from} does not exist"))?;
                add(document, path, copied)?;
            }
            "test" => {
                if document.pointer(path) != Some(&value) {
                    return Err(format!("test of {path} failed"));
                }
            }
            other => return Err(format!("unknown JSON patch op {other:?}")),
        }
    }
    Ok(())
}

/// The fields `value` sets, as FieldsV1 (`{"f:spec": {"f:replicas": {}}}`);
/// lists and scalars are leaves. Identity fields are nobody's.
pub fn field_set(value: &Value) -> Value {
    fn walk(value: &Value) -> Value {
        match value {
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, inner)| (format!("f:{key}"), walk(inner)))
                    .collect(),
            ),
            _ => json!({}),
        }
    }
    let mut set = walk(value);
    if let Some(fields) = set.as_object_mut() {
        fields.remove("f:apiVersion");
        fields.remove("f:kind");
        fields.remove("f:status");
    }
    if let Some(metadata) = set.get_mut("f:metadata").and_then(Value::as_object_mut) {
        for identity in [
            "f:name",
            "f:namespace",
            "f:resourceVersion",
            "f:managedFields",
            "f:uid",
            "f:generation",
            "f:creationTimestamp",
        ] {
            metadata.remove(identity);
        }
    }
    let bare = set
        .get("f:metadata")
        .and_then(Value::as_object)
        .is_some_and(serde_json::Map::is_empty);
    if bare && let Some(fields) = set.as_object_mut() {
        fields.remove("f:metadata");
    }
    set
}

/// Every leaf path of a field set.
fn leaves(set: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match set.as_object() {
        Some(fields) if !fields.is_empty() => {
            for (key, inner) in fields {
                prefix.push(key.trim_start_matches("f:").to_owned());
                leaves(inner, prefix, out);
                prefix.pop();
            }
        }
        _ if !prefix.is_empty() => out.push(prefix.clone()),
        _ => {}
    }
}

fn owns(set: &Value, path: &[String]) -> bool {
    let mut at = set;
    for key in path {
        match at.get(format!("f:{key}")) {
            Some(inner) => at = inner,
            // Owning a leaf above the path owns what is inside it.
            None => return at.as_object().is_some_and(|fields| fields.is_empty()) && at != set,
        }
    }
    true
}

fn remove_path(set: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = set;
    for key in parents {
        match at.get_mut(format!("f:{key}")) {
            Some(inner) => at = inner,
            None => return,
        }
    }
    if let Some(fields) = at.as_object_mut() {
        fields.remove(&format!("f:{last}"));
    }
}

fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |at, key| at.get(key))
}

fn entries(object: &mut Value) -> Option<&mut Vec<Value>> {
    let metadata = object.get_mut("metadata")?.as_object_mut()?;
    metadata
        .entry("managedFields")
        .or_insert_with(|| json!([]))
        .as_array_mut()
}

/// Records `manager` as owning `set` with `operation`, merged into its entry.
fn own(object: &mut Value, manager: &str, operation: &str, set: Value, replace: bool) {
    let api_version = object.get("apiVersion").cloned().unwrap_or(Value::Null);
    let Some(entries) = entries(object) else {
        return;
    };
    let position = entries
        .iter()
        .position(|entry| entry["manager"] == manager && entry["operation"] == operation);
    match position {
        Some(index) if !replace => merge(&mut entries[index]["fieldsV1"], &set),
        Some(index) => entries[index]["fieldsV1"] = set,
        None => entries.push(json!({"manager": manager, "operation": operation,
            "apiVersion": api_version, "fieldsType": "FieldsV1", "fieldsV1": set})),
    }
}

/// Takes `paths` away from every manager but `manager`.
fn disown(object: &mut Value, manager: &str, paths: &[Vec<String>]) {
    if let Some(entries) = entries(object) {
        for entry in entries
            .iter_mut()
            .filter(|entry| entry["manager"] != manager)
        {
            for path in paths {
                remove_path(&mut entry["fieldsV1"], path);
            }
        }
    }
}

/// Server-side apply: the applied fields are merged in and owned by
/// `manager`. A field another manager owns with a different value is a
/// conflict (the message names the managers and fields) unless `force`.
pub fn apply(
    existing: Option<Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, String> {
    let mut object = existing.unwrap_or_else(|| json!({}));
    let set = field_set(applied);
    let mut paths = Vec::new();
    leaves(&set, &mut Vec::new(), &mut paths);
    let mut conflicts = Vec::new();
    let mut taken: Vec<Vec<String>> = Vec::new();
    for entry in object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| entry["manager"] != manager)
    {
        for path in &paths {
            if owns(&entry["fieldsV1"], path)
                && value_at(&object, path).is_some_and(|live| Some(live) != value_at(applied, path))
            {
                conflicts.push(format!(
                    "conflict with \"{}\"{}: .{}",
                    entry["manager"].as_str().unwrap_or_default(),
                    entry
                        .get("subresource")
                        .and_then(Value::as_str)
                        .map(|subresource| format!(" with subresource \"{subresource}\""))
                        .unwrap_or_default(),
                    path.join(".")
                ));
                taken.push(path.clone());
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(format!(
            "Apply failed with {} conflict{}: {}",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" },
            conflicts.join("; ")
        ));
    }
    merge(&mut object, applied);
    // Same values are owned together; forced ones change hands.
    disown(&mut object, manager, &taken);
    own(&mut object, manager, "Apply", set, true);
    Ok(object)
}

/// An update (PUT or PATCH) by `manager`: it owns every field it changed,
/// and whoever owned them before no longer does.
pub fn record_update(before: &Value, after: &mut Value, manager: &str) {
    fn changed(
        before: Option<&Value>,
        after: &Value,
        prefix: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        match (before, after) {
            (Some(Value::Object(old)), Value::Object(new)) => {
                for (key, inner) in new {
                    prefix.push(key.clone());
                    changed(old.get(key), inner, prefix, out);
                    prefix.pop();
                }
            }
            (Some(old), new) if old == new => {}
            (_, new) => {
                let mut set = Vec::new();
                leaves(&field_set(new), &mut Vec::new(), &mut set);
                if set.is_empty() || !new.is_object() {
                    out.push(prefix.clone());
                } else {
                    for leaf in set {
                        out.push(prefix.iter().cloned().chain(leaf).collect());
                    }
                }
            }
        }
    }
    if manager.is_empty() {
        return;
    }
    let mut paths = Vec::new();
    for top in ["metadata", "spec", "data"] {
        if let Some(new) = after.get(top).cloned() {
            let mut prefix = vec![top.to_owned()];
            changed(before.get(top), &new, &mut prefix, &mut paths);
        }
    }
    paths.retain(|path| {
        path.first().map(String::as_str) != Some("metadata")
            || path
                .get(1)
                .is_some_and(|key| key == "labels" || key == "annotations")
    });
    if paths.is_empty() {
        return;
    }
    let mut set = json!({});
    for path in &paths {
        let mut at = &mut set;
        for key in path {
            at = at
                .as_object_mut()
                .map(|fields| {
                    fields
                        .entry(format!("f:{key}"))
                        .or_insert_with(|| json!({}))
                })
                .expect("a field set is made of objects");
        }
    }
    disown(after, manager, &paths);
    own(after, manager, "Update", set, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_follow_their_rfcs() {
        let mut document = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge(&mut document, &json!({"a": {"b": null, "d": 3}, "l": [9]}));
        assert_eq!(document, json!({"a": {"c": 2, "d": 3}, "l": [9]}));
        json_patch(&mut document, &json!([{"op": "add", "path": "/l/-", "value": 10}, {"op": "replace", "path": "/a/c", "value": 5}])).unwrap();
        assert_eq!(document, json!({"a": {"c": 5, "d": 3}, "l": [9, 10]}));
        assert!(
            json_patch(
                &mut document,
                &json!([{"op": "test", "path": "/a/c", "value": 1}])
            )
            .is_err()
        );
        let applied = apply(
            None,
            &json!({"apiVersion": "v1", "metadata": {"name": "x"}, "spec": {"replicas": 2}}),
            "greenlight",
            false,
        )
        .unwrap();
        assert_eq!(
            applied["metadata"]["managedFields"][0]["manager"],
            "greenlight"
        );
    }

    #[test]
    fn apply_conflicts_with_another_owner_unless_forced() {
        let mine = json!({"apiVersion": "apps/v1", "metadata": {"name": "x"}, "spec": {"replicas": 2, "paused": false}});
        let mut object = apply(None, &mine, "argocd-controller", false).unwrap();
        // The same values: shared, no conflict.
        object = apply(Some(object), &mine, "greenlight", false).unwrap();
        let other = json!({"apiVersion": "apps/v1", "metadata": {"name": "x"}, "spec": {"replicas": 3, "paused": false}});
        assert_eq!(
            apply(Some(object.clone()), &other, "greenlight", false).unwrap_err(),
            "Apply failed with 1 conflict: conflict with \"argocd-controller\": .spec.replicas"
        );
        let forced = apply(Some(object), &other, "greenlight", true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let argo = &forced["metadata"]["managedFields"][0];
        assert_eq!(argo["manager"], "argocd-controller");
        assert_eq!(argo["fieldsV1"], json!({"f:spec": {"f:paused": {}}}));
        // An update takes the fields it changes.
        let mut scaled = forced.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(&forced, &mut scaled, "kube-controller-manager");
        let entries = scaled["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries[2]["manager"], "kube-controller-manager");
        assert_eq!(
            entries[2]["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(entries[1]["fieldsV1"], json!({"f:spec": {"f:paused": {}}}));
    }
}

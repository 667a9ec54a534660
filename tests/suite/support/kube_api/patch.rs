//! The patch formats the API server accepts: JSON merge patch (RFC 7386),
//! JSON patch (RFC 6902) and server-side apply. Apply is approximated as a
//! merge of the applied object with managedFields bookkeeping (which manager
//! applied); the real server's per-field ownership and list merging are not
//! modelled.

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

/// Server-side apply, approximated: the applied fields are merged in and the
/// manager is recorded in `metadata.managedFields`.
pub fn apply(existing: Option<Value>, applied: &Value, manager: &str) -> Value {
    let mut object = existing.unwrap_or_else(|| json!({}));
    merge(&mut object, applied);
    let entry = json!({"manager": manager, "operation": "Apply", "apiVersion": applied["apiVersion"], "fieldsType": "FieldsV1"});
    let managed = object["metadata"]
        .as_object_mut()
        .map(|metadata| metadata.entry("managedFields").or_insert_with(|| json!([])));
    if let Some(Value::Array(entries)) = managed {
        entries.retain(|known| known["manager"] != manager || known["operation"] != "Apply");
        entries.push(entry);
    }
    object
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
            &json!({"apiVersion": "v1", "metadata": {"name": "x"}}),
            "greenlight",
        );
        assert_eq!(
            applied["metadata"]["managedFields"][0]["manager"],
            "greenlight"
        );
    }
}

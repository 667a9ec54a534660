//! The objects, keyed by API path, and what each verb does to them, the way
//! the API server does it: resourceVersion on every write, 409 on a stale
//! one, `status` kept apart from the main resource, 422 for invalid objects.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::controller::{Behaviour, Pods, forget, observe, reconcile};
use super::limits::violations;
use super::patch;
use super::route_status::{self, Controllers};

/// `/api/v1/namespaces/ns/services` or `/apis/g/v/namespaces/ns/plural`, and the name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub collection: String,
    pub name: String,
}

#[derive(Default)]
pub struct Store {
    pub objects: BTreeMap<Key, Value>,
    pub version: u64,
    pub deployments: BTreeMap<String, Behaviour>,
    /// Each Deployment's pods, as its controller keeps them.
    pub pods: BTreeMap<Key, Pods>,
    /// Reads left before a `ReadyAfter` Deployment is available.
    pub countdowns: BTreeMap<String, u32>,
    /// The controllers that write route status.
    pub controllers: Controllers,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A `Status` failure as the API server writes it.
pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Answer {
    Answer {
        status: code,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": message.into(), "reason": reason, "code": code}),
    }
}

fn ok(status: u16, body: Value) -> Answer {
    Answer { status, body }
}

/// Splits a request path into the collection and, for one object, its name.
pub fn parse_path(path: &str) -> Option<(String, Option<String>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let prefix = match segments.first() {
        Some(&"api") => 2,
        Some(&"apis") => 3,
        _ => return None,
    };
    let rest = segments.get(prefix..)?;
    match rest {
        ["namespaces", _, _] | [_] => Some((path.trim_end_matches('/').to_owned(), None)),
        ["namespaces", _, _, name] | [_, name] => {
            let collection = path.trim_end_matches('/');
            let collection = &collection[..collection.len() - name.len() - 1];
            Some((collection.to_owned(), Some((*name).to_owned())))
        }
        _ => None,
    }
}

/// The kind an object under `collection` has (from the stored ones, else the body).
fn kind_of(object: &Value) -> String {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn resource_name(collection: &str) -> String {
    collection.rsplit('/').next().unwrap_or_default().to_owned()
}

fn labels_match(object: &Value, selector: &str) -> bool {
    super::selector::matches(object, selector)
}

impl Store {
    fn next_version(&mut self) -> String {
        self.version += 1;
        self.version.to_string()
    }

    /// Puts `object` in place as the server would after a successful write.
    fn commit(&mut self, key: Key, mut object: Value, previous: Option<&Value>) -> Value {
        let version = self.next_version();
        let generation = previous
            .map(|old| {
                let before = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if old.get("spec") == object.get("spec") {
                    before
                } else {
                    before + 1
                }
            })
            .unwrap_or(1);
        // `status` is a subresource: writes to the main resource cannot change it.
        match previous.and_then(|old| old.get("status")) {
            Some(status) => object["status"] = status.clone(),
            None => {
                if let Some(fields) = object.as_object_mut() {
                    fields.remove("status");
                }
            }
        }
        let metadata = &mut object["metadata"];
        metadata["resourceVersion"] = json!(version);
        metadata["generation"] = json!(generation);
        if metadata.get("uid").is_none() {
            metadata["uid"] = json!(format!("uid-{version}"));
            metadata["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        if metadata.get("namespace").is_none() && key.collection.contains("/namespaces/") {
            let namespace = key
                .collection
                .split("/namespaces/")
                .nth(1)
                .and_then(|rest| rest.split('/').next());
            metadata["namespace"] = json!(namespace);
        }
        if kind_of(&object) == "Deployment" {
            let behaviour = self.deployments.get(&key.name).cloned().unwrap_or_default();
            reconcile(self, &key, &mut object, &behaviour);
        }
        if route_status::watched(&object) {
            self.controllers
                .written
                .insert(key.clone(), std::time::Instant::now());
        }
        self.objects.insert(key, object.clone());
        object
    }

    /// A write through the status subresource: a new resourceVersion, the same
    /// generation, nothing else changed.
    pub fn write_status(&mut self, key: &Key, status: Value) {
        let version = self.next_version();
        if let Some(object) = self.objects.get_mut(key) {
            object["status"] = status;
            object["metadata"]["resourceVersion"] = json!(version);
        }
    }

    fn invalid(object: &Value, collection: &str) -> Option<Answer> {
        let problems = violations(&kind_of(object), object);
        (!problems.is_empty()).then(|| {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            failure(
                422,
                "Invalid",
                format!(
                    "{} \"{name}\" is invalid: {}",
                    resource_name(collection),
                    problems.join(", ")
                ),
            )
        })
    }

    fn conflict(collection: &str, name: &str) -> Answer {
        failure(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                resource_name(collection)
            ),
        )
    }

    fn not_found(collection: &str, name: &str) -> Answer {
        failure(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", resource_name(collection)),
        )
    }

    pub fn get(&mut self, collection: &str, name: &str) -> Answer {
        let key = Key {
            collection: collection.to_owned(),
            name: name.to_owned(),
        };
        let Some(mut object) = self.objects.get(&key).cloned() else {
            return Self::not_found(collection, name);
        };
        if kind_of(&object) == "Deployment" {
            observe(self, &key, &mut object);
            self.objects.insert(key, object.clone());
        }
        ok(200, object)
    }

    pub fn list(&self, collection: &str, selector: &str) -> Answer {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|(key, object)| key.collection == collection && labels_match(object, selector))
            .map(|(_, object)| object.clone())
            .collect();
        ok(
            200,
            json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": self.version.to_string()}, "items": items}),
        )
    }

    pub fn create(&mut self, collection: &str, object: Value) -> Answer {
        let Some(name) = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return failure(422, "Invalid", "metadata.name: Required value");
        };
        let key = Key {
            collection: collection.to_owned(),
            name: name.clone(),
        };
        if self.objects.contains_key(&key) {
            return failure(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", resource_name(collection)),
            );
        }
        if let Some(answer) = Self::invalid(&object, collection) {
            return answer;
        }
        ok(201, self.commit(key, object, None))
    }

    /// Writes `object` over the stored one, honouring the resourceVersion it
    /// carries; `manager` (when named) owns the fields it changed.
    fn update(&mut self, key: Key, mut object: Value, status: u16, manager: &str) -> Answer {
        let Some(previous) = self.objects.get(&key).cloned() else {
            return Self::not_found(&key.collection, &key.name);
        };
        let sent = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        let stored = previous
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        if sent.is_some() && sent != stored {
            return Self::conflict(&key.collection, &key.name);
        }
        if let Some(answer) = Self::invalid(&object, &key.collection) {
            return answer;
        }
        patch::record_update(&previous, &mut object, manager);
        ok(status, self.commit(key, object, Some(&previous)))
    }

    /// PUT by `manager` (empty: a person with kubectl edit, nobody recorded).
    pub fn replace(
        &mut self,
        collection: &str,
        name: &str,
        object: Value,
        manager: &str,
    ) -> Answer {
        let key = Key {
            collection: collection.to_owned(),
            name: name.to_owned(),
        };
        self.update(key, object, 200, manager)
    }

    pub fn patch(
        &mut self,
        collection: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
        manager: &str,
        force: bool,
    ) -> Answer {
        let key = Key {
            collection: collection.to_owned(),
            name: name.to_owned(),
        };
        let existing = self.objects.get(&key).cloned();
        let parsed: Result<Value, String> =
            if content_type.starts_with("application/apply-patch+yaml") {
                serde_yaml::from_slice(body).map_err(|error| error.to_string())
            } else {
                serde_json::from_slice(body).map_err(|error| error.to_string())
            };
        let Ok(patch_body) = parsed else {
            return failure(400, "BadRequest", "the patch is not valid JSON or YAML");
        };
        match content_type.split(';').next().unwrap_or_default() {
            "application/apply-patch+yaml" => {
                let mut object = match patch::apply(existing.clone(), &patch_body, manager, force) {
                    Ok(object) => object,
                    Err(conflicts) => return failure(409, "Conflict", conflicts),
                };
                match existing {
                    None => {
                        if let Some(answer) = Self::invalid(&object, collection) {
                            return answer;
                        }
                        ok(201, self.commit(key, object, None))
                    }
                    Some(previous) => {
                        // Apply carries no resourceVersion unless the user set one.
                        if patch_body.pointer("/metadata/resourceVersion").is_none() {
                            object["metadata"]["resourceVersion"] =
                                previous["metadata"]["resourceVersion"].clone();
                        }
                        // Ownership was settled by the apply itself.
                        self.update(key, object, 200, "")
                    }
                }
            }
            "application/merge-patch+json" => {
                let Some(mut object) = existing.clone() else {
                    return Self::not_found(collection, name);
                };
                patch::merge(&mut object, &patch_body);
                self.update(key, object, 200, manager)
            }
            "application/json-patch+json" => {
                let Some(mut object) = existing.clone() else {
                    return Self::not_found(collection, name);
                };
                if let Err(message) = patch::json_patch(&mut object, &patch_body) {
                    return failure(422, "Invalid", message);
                }
                self.update(key, object, 200, manager)
            }
            other => failure(
                415,
                "UnsupportedMediaType",
                format!("the fake does not support {other}"),
            ),
        }
    }

    pub fn delete(&mut self, collection: &str, name: &str) -> Answer {
        let key = Key {
            collection: collection.to_owned(),
            name: name.to_owned(),
        };
        match self.objects.remove(&key) {
            Some(object) => {
                if kind_of(&object) == "Deployment" {
                    forget(self, &key);
                }
                ok(
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
                )
            }
            None => Self::not_found(collection, name),
        }
    }
}

//! The Kubernetes store's lock: a `coordination.k8s.io/v1` Lease named like
//! the record's ConfigMap. Every write carries the `resourceVersion` it was
//! read at, so of two jobs writing at once the API server accepts one (409 for
//! the other). An empty `holderIdentity` is a released lease.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::lock::{Acquired, Held, Holder, Lock, Request};
use crate::kubernetes::error::{code, describe};
use crate::kubernetes::objects::Objects;
use crate::kubernetes::{Cluster, Resource};
use crate::provider::ProviderError;

/// Where greenlight keeps what a Lease has no field for (host, pid, token).
const HOLDER_ANNOTATION: &str = "greenlight.dev/holder";

/// Attempts when another job writes the Lease between our read and our write.
const ATTEMPTS: usize = 5;

pub fn resource() -> Resource {
    Resource::new("coordination.k8s.io/v1", "Lease", "leases")
}

pub struct Lease<'a> {
    objects: Objects<'a>,
    name: &'a str,
}

impl<'a> Lease<'a> {
    pub fn new(cluster: &'a Cluster, name: &'a str) -> Self {
        Self {
            objects: Objects::new(cluster, resource(), None),
            name,
        }
    }

    pub async fn acquire(&self, request: &Request) -> Result<Acquired, ProviderError> {
        let mine = Lock::new(request.holder.clone(), request.now, request.duration);
        for _ in 0..ATTEMPTS {
            let (written, over) = match self.objects.get(self.name).await? {
                None => (self.objects.create(&self.body(&mine, None)).await, None),
                Some(lease) => {
                    let theirs = held_by(&lease);
                    if let Some(theirs) = &theirs
                        && theirs
                            .takeover(&request.holder, request.now, request.force)
                            .is_none()
                    {
                        return Ok(Acquired::Busy(theirs.clone()));
                    }
                    let body = self.body(&mine, Some(&lease));
                    (self.objects.replace(self.name, &body).await, theirs)
                }
            };
            match written {
                Ok(written) => {
                    return Ok(Acquired::Taken {
                        lock: held(mine, &written),
                        over,
                    });
                }
                // Another job wrote first: read what it wrote and judge again.
                Err(error) if code(&error) == Some(409) => continue,
                Err(error) => return Err(describe(&error, "writing", &self.what())),
            }
        }
        Err(ProviderError::new(format!(
            "{}: {ATTEMPTS} writes in a row lost to another job",
            self.what()
        ))
        .with_hint("several greenlight jobs are starting at once; run again"))
    }

    pub async fn renew(&self, held_lock: &Held, now: SystemTime) -> Result<Held, ProviderError> {
        let renewed = Lock {
            renewed_at: now,
            ..held_lock.lock.clone()
        };
        let current = self.objects.get_existing(self.name).await?;
        if version_of(&current) != held_lock.version {
            return Err(self.lost(&current));
        }
        match self
            .objects
            .replace(self.name, &self.body(&renewed, Some(&current)))
            .await
        {
            Ok(written) => Ok(held(renewed, &written)),
            Err(error) if code(&error) == Some(409) => {
                let current = self.objects.get_existing(self.name).await?;
                Err(self.lost(&current))
            }
            Err(error) => Err(describe(&error, "renewing", &self.what())),
        }
    }

    pub async fn release(&self, held_lock: &Held) -> Result<(), ProviderError> {
        let Some(current) = self.objects.get(self.name).await? else {
            return Ok(());
        };
        // Taken over meanwhile: it is not ours to release.
        if version_of(&current) != held_lock.version {
            return Ok(());
        }
        let mut released = current.clone();
        released["spec"] = json!({});
        if let Some(annotations) = released
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.remove(HOLDER_ANNOTATION);
        }
        match self.objects.replace(self.name, &released).await {
            Ok(_) => Ok(()),
            Err(error) if code(&error) == Some(409) => Ok(()),
            Err(error) => Err(describe(&error, "releasing", &self.what())),
        }
    }

    fn what(&self) -> String {
        self.objects.what(self.name)
    }

    fn lost(&self, current: &Value) -> ProviderError {
        ProviderError::new(match held_by(current) {
            Some(theirs) => format!("lost {}: it is now {}", self.what(), theirs.describe()),
            None => format!("lost {}: someone released it", self.what()),
        })
    }

    /// The Lease holding `lock`, written over `previous` (its resourceVersion
    /// makes the write conditional).
    fn body(&self, lock: &Lock, previous: Option<&Value>) -> Value {
        let extra = json!({"host": lock.holder.host, "pid": lock.holder.pid, "token": lock.token, "ci": lock.holder.ci});
        let mut lease = previous.cloned().unwrap_or_else(|| {
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.name,
                    "labels": {"app.kubernetes.io/managed-by": "greenlight"},
                },
            })
        });
        lease["metadata"]["annotations"][HOLDER_ANNOTATION] = json!(extra.to_string());
        lease["spec"] = json!({
            "holderIdentity": lock.holder.name,
            "leaseDurationSeconds": lock.duration.as_secs(),
            "acquireTime": micro_time(lock.renewed_at),
            "renewTime": micro_time(lock.renewed_at),
        });
        // A renewal keeps the time the lock was first acquired.
        let renewing = previous
            .and_then(held_by)
            .is_some_and(|old| old.token == lock.token);
        if let Some(acquired) = previous
            .and_then(|lease| lease.pointer("/spec/acquireTime"))
            .filter(|_| renewing)
        {
            lease["spec"]["acquireTime"] = acquired.clone();
        }
        lease
    }
}

fn held(lock: Lock, written: &Value) -> Held {
    Held {
        version: version_of(written),
        lock,
    }
}

fn version_of(lease: &Value) -> String {
    lease
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The lock a Lease holds, `None` when released. A Lease some other tool
/// wrote counts too: its holder is simply not one greenlight can see die.
fn held_by(lease: &Value) -> Option<Lock> {
    let spec = lease.get("spec")?;
    let name = spec
        .get("holderIdentity")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())?;
    let renewed_at = ["renewTime", "acquireTime"]
        .iter()
        .find_map(|field| spec.get(*field).and_then(Value::as_str))
        .and_then(|time| humantime::parse_rfc3339_weak(time).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let duration = Duration::from_secs(
        spec.get("leaseDurationSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    );
    let extra: Value = lease
        .pointer(&format!(
            "/metadata/annotations/{}",
            HOLDER_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let text = |field: &str| {
        extra
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Some(Lock {
        holder: Holder {
            name: name.to_owned(),
            host: text("host"),
            pid: extra
                .get("pid")
                .and_then(Value::as_u64)
                .and_then(|pid| u32::try_from(pid).ok())
                .unwrap_or(0),
            ci: extra
                .get("ci")
                .and_then(|ci| serde_json::from_value(ci.clone()).ok()),
        },
        token: text("token"),
        renewed_at,
        duration,
    })
}

/// A Kubernetes MicroTime: RFC 3339 with microseconds.
fn micro_time(at: SystemTime) -> String {
    humantime::format_rfc3339_micros(at).to_string()
}

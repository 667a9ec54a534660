//! `state: {file: path}`: the record as a JSON file, written atomically.

use std::path::PathBuf;

use async_trait::async_trait;

use super::file_lock::FileLock;
use super::lock::{Acquired, Held, Request};
use super::{Record, StateStore, StoreSettings};
use crate::provider::ProviderError;

/// `state: {file: path}`: where the record is kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct FileState(pub String);

crate::text::text_setting!(FileState);

impl StoreSettings for FileState {
    fn build(&self, _service: &str) -> Box<dyn StateStore> {
        Box::new(FileStateStore::new(&self.0))
    }
}

pub struct FileStateStore {
    path: PathBuf,
    lock: FileLock,
}

impl FileStateStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            lock: FileLock::beside(&path),
            path,
        }
    }
}

#[async_trait]
impl StateStore for FileStateStore {
    fn describe(&self) -> String {
        format!("state file {}", self.path.display())
    }

    async fn load(&self) -> Result<Option<Record>, ProviderError> {
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(ProviderError::new(format!(
                    "cannot read {}: {error}",
                    self.path.display()
                )));
            }
        };
        serde_json::from_str(&text).map(Some).map_err(|error| {
            ProviderError::new(format!(
                "{} is not a greenlight state record: {error}",
                self.path.display()
            ))
            .with_hint("delete it only if no rollout of this service is in progress")
        })
    }

    async fn save(&self, record: &Record) -> Result<(), ProviderError> {
        let fail = |error: std::io::Error| {
            ProviderError::new(format!("cannot write {}: {error}", self.path.display()))
        };
        if let Some(parent) = self
            .path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent).await.map_err(fail)?;
        }
        let text = serde_json::to_string_pretty(record).map_err(|error| {
            ProviderError::new(format!("cannot encode the state record: {error}"))
        })?;
        // Write beside, then rename: a crash never leaves half a record.
        let temporary = self.path.with_extension("json.tmp");
        tokio::fs::write(&temporary, text).await.map_err(fail)?;
        tokio::fs::rename(&temporary, &self.path)
            .await
            .map_err(fail)
    }

    async fn acquire(&self, request: &Request) -> Result<Acquired, ProviderError> {
        self.lock.acquire(request).await
    }

    async fn renew(&self, held: &Held, now: std::time::SystemTime) -> Result<Held, ProviderError> {
        self.lock.renew(held, now).await
    }

    async fn release(&self, held: &Held) -> Result<(), ProviderError> {
        self.lock.release(held).await
    }
}

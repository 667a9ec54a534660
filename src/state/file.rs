//! `state: {file: path}`: the record as a JSON file, written atomically.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::file_lock::FileLock;
use super::lock::{Acquired, Held, Request};
use super::{Record, StateStore};
use crate::provider::ProviderError;

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
        let text = serde_json::to_string_pretty(record).map_err(|error| {
            ProviderError::new(format!("cannot encode the state record: {error}"))
        })?;
        let path = self.path.clone();
        // One trip to the blocking pool for the whole write (not one per file
        // operation): the record is written twice per traffic step.
        tokio::task::spawn_blocking(move || write_atomically(&path, &text))
            .await
            .map_err(|error| ProviderError::new(format!("the state write was lost: {error}")))?
            .map_err(|error| {
                ProviderError::new(format!("cannot write {}: {error}", self.path.display()))
            })
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

/// Writes beside, then renames: a crash never leaves half a record.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RecordPhase;

    fn in_progress(weight: u8) -> Record {
        let release = crate::release::Release {
            name: "shop".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
        };
        Record::of(
            &release,
            RecordPhase::InProgress,
            weight,
            None,
            std::time::UNIX_EPOCH,
        )
    }

    #[tokio::test]
    async fn a_saved_record_reads_back_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-yet").join("shop.json");
        let store = FileStateStore::new(&path);
        assert_eq!(store.load().await.unwrap(), None);
        store.save(&in_progress(10)).await.unwrap();
        store.save(&in_progress(20)).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(in_progress(20)));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["shop.json"]);
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_written_says_where() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the record's folder should be.
        std::fs::write(dir.path().join("taken"), "").unwrap();
        let store = FileStateStore::new(dir.path().join("taken").join("shop.json"));
        let error = store.save(&in_progress(0)).await.unwrap_err();
        assert!(error.message.starts_with("cannot write "), "{error}");
        assert!(error.message.contains("shop.json"), "{error}");
    }
}

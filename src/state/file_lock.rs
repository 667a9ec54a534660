//! The file store's lock: `<record>.lock`, a JSON document naming the holder
//! and its expiry. It is created by hard-linking a fully written file into
//! place, which fails if the lock exists (atomic on one host and on NFS), so
//! no reader ever sees half a lock. Changing an existing lock (renew, release,
//! taking over an expired one) is a read-compare-write done under a short
//! guard file created the same way, so two jobs taking over one expired lock
//! cannot both win.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::lock::{Acquired, Held, Lock, LockDocument, Request};
use crate::provider::ProviderError;

/// A guard older than this was left by a process killed mid-change.
const STALE_GUARD: Duration = Duration::from_secs(10);
/// How long to wait for another process's guard before giving up.
const GUARD_WAIT: Duration = Duration::from_secs(3);

pub struct FileLock {
    path: PathBuf,
}

impl FileLock {
    /// The lock beside `record`: `state.json` → `state.json.lock`.
    pub fn beside(record: &Path) -> Self {
        let mut name = record.as_os_str().to_owned();
        name.push(".lock");
        Self { path: name.into() }
    }

    fn fail(&self, doing: &str, error: std::io::Error) -> ProviderError {
        ProviderError::new(format!(
            "cannot {doing} the lock {}: {error}",
            self.path.display()
        ))
    }

    pub async fn acquire(&self, request: &Request) -> Result<Acquired, ProviderError> {
        let mine = Lock::new(request.holder.clone(), request.now, request.duration);
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|error| self.fail("create the folder of", error))?;
        }
        // A lock released between our try and our read: try again, a few times.
        for _ in 0..5 {
            if self.link_new(&self.path, &mine)? {
                return Ok(taken(mine, None));
            }
            let Some(theirs) = self.read()? else {
                continue;
            };
            if theirs
                .takeover(&request.holder, request.now, request.force)
                .is_none()
            {
                return Ok(Acquired::Busy(theirs));
            }
            let replaced = self
                .guarded(|| match self.read()? {
                    // Still the lock we judged: replace it with ours.
                    Some(current) if current.token == theirs.token => {
                        self.replace(&mine).map(|()| true)
                    }
                    _ => Ok(false),
                })
                .await?;
            if replaced {
                return Ok(taken(mine, Some(theirs)));
            }
        }
        match self.read()? {
            Some(theirs) => Ok(Acquired::Busy(theirs)),
            None => Err(ProviderError::new(format!(
                "the lock {} keeps appearing and disappearing",
                self.path.display()
            ))
            .with_hint("another job is taking and releasing it in a loop; run again")),
        }
    }

    pub async fn renew(&self, held: &Held, now: SystemTime) -> Result<Held, ProviderError> {
        let renewed = Lock {
            renewed_at: now,
            ..held.lock.clone()
        };
        self.guarded(|| match self.read()? {
            Some(current) if current.token == held.version => self.replace(&renewed),
            Some(current) => Err(ProviderError::new(format!(
                "lost the lock {}: it is now {}",
                self.path.display(),
                current.describe()
            ))),
            None => Err(ProviderError::new(format!(
                "lost the lock {}: someone removed it",
                self.path.display()
            ))),
        })
        .await?;
        Ok(Held {
            version: renewed.token.clone(),
            lock: renewed,
        })
    }

    pub async fn release(&self, held: &Held) -> Result<(), ProviderError> {
        self.guarded(|| match self.read()? {
            Some(current) if current.token == held.version => {
                match std::fs::remove_file(&self.path) {
                    Ok(()) => Ok(()),
                    Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
                    Err(error) => Err(self.fail("remove", error)),
                }
            }
            // Taken over meanwhile: it is not ours to remove.
            _ => Ok(()),
        })
        .await
    }

    /// The lock now, `None` when there is none.
    fn read(&self) -> Result<Option<Lock>, ProviderError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.fail("read", error)),
        };
        serde_json::from_str::<LockDocument>(&text)
            .map_err(|error| error.to_string())
            .and_then(Lock::try_from)
            .map(Some)
            .map_err(|error| {
                ProviderError::new(format!(
                    "{} is not a greenlight lock: {error}",
                    self.path.display()
                ))
                .with_hint("delete it only if no greenlight job of this service runs")
            })
    }

    /// Writes `lock` to a file of its own, then links it to `at` only if
    /// nothing is there; `false` when something was.
    fn link_new(&self, at: &Path, lock: &Lock) -> Result<bool, ProviderError> {
        let temporary = self.temporary(&lock.token);
        self.write(&temporary, lock)?;
        let linked = std::fs::hard_link(&temporary, at);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(self.fail("create", error)),
        }
    }

    /// Puts `lock` in place of the current one in one rename.
    fn replace(&self, lock: &Lock) -> Result<(), ProviderError> {
        let temporary = self.temporary(&lock.token);
        self.write(&temporary, lock)?;
        std::fs::rename(&temporary, &self.path).map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            self.fail("replace", error)
        })
    }

    fn write(&self, path: &Path, lock: &Lock) -> Result<(), ProviderError> {
        let text = serde_json::to_string_pretty(&LockDocument::from(lock))
            .map_err(|error| ProviderError::new(format!("cannot encode the lock: {error}")))?;
        std::fs::write(path, text).map_err(|error| self.fail("write", error))
    }

    fn temporary(&self, token: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{token}.tmp"));
        name.into()
    }

    fn guard_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".guard");
        name.into()
    }

    /// Runs `change` while holding the guard file: the only writers of an
    /// existing lock take turns.
    async fn guarded<T>(
        &self,
        change: impl FnOnce() -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let guard = self.guard_path();
        let waited_since = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&guard)
            {
                Ok(_) => break,
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&guard)
                        .and_then(|meta| meta.modified())
                        .ok()
                        .and_then(|modified| modified.elapsed().ok())
                        .is_some_and(|age| age > STALE_GUARD);
                    if stale {
                        let _ = std::fs::remove_file(&guard);
                        continue;
                    }
                    if waited_since.elapsed() > GUARD_WAIT {
                        return Err(ProviderError::new(format!(
                            "{} has been held for over {GUARD_WAIT:?}",
                            guard.display()
                        ))
                        .with_hint("another greenlight job is changing the lock; run again"));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => return Err(self.fail("guard", error)),
            }
        }
        let result = change();
        let _ = std::fs::remove_file(&guard);
        result
    }
}

fn taken(lock: Lock, over: Option<Lock>) -> Acquired {
    Acquired::Taken {
        lock: Held {
            version: lock.token.clone(),
            lock,
        },
        over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::lock::{Holder, LOCK_DURATION};

    fn request(name: &str, now: SystemTime, force: bool) -> Request {
        Request {
            holder: Holder {
                name: name.into(),
                host: "elsewhere".into(),
                pid: 7,
                ci: None,
            },
            now,
            duration: LOCK_DURATION,
            force,
        }
    }

    fn start() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[tokio::test]
    async fn one_holder_at_a_time_until_release_or_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let lock = FileLock::beside(&dir.path().join("state.json"));
        let Acquired::Taken { lock: first, .. } =
            lock.acquire(&request("a", start(), false)).await.unwrap()
        else {
            panic!("a free lock is taken");
        };
        // Same name (two jobs of one CI run): still busy.
        let Acquired::Busy(busy) = lock.acquire(&request("a", start(), false)).await.unwrap()
        else {
            panic!("a held lock is busy");
        };
        assert_eq!(busy.token, first.version);

        // Renewed, it outlives its first expiry.
        let later = start() + LOCK_DURATION - Duration::from_secs(1);
        let renewed = lock.renew(&first, later).await.unwrap();
        assert!(matches!(
            lock.acquire(&request("b", start() + LOCK_DURATION, false))
                .await
                .unwrap(),
            Acquired::Busy(_)
        ));
        // Expired: taken over, and the old holder can no longer renew.
        let expired = later + LOCK_DURATION;
        let Acquired::Taken { lock: second, over } =
            lock.acquire(&request("b", expired, false)).await.unwrap()
        else {
            panic!("an expired lock is taken over");
        };
        assert_eq!(over.map(|old| old.holder.name), Some("a".to_owned()));
        assert!(lock.renew(&renewed, expired).await.is_err());
        // The old holder's release leaves the new holder's lock alone.
        lock.release(&renewed).await.unwrap();
        assert!(matches!(
            lock.acquire(&request("c", expired, false)).await.unwrap(),
            Acquired::Busy(_)
        ));
        lock.release(&second).await.unwrap();
        assert!(matches!(
            lock.acquire(&request("c", expired, false)).await.unwrap(),
            Acquired::Taken { .. }
        ));
    }

    #[tokio::test]
    async fn force_takes_a_live_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock = FileLock::beside(&dir.path().join("state.json"));
        lock.acquire(&request("a", start(), false)).await.unwrap();
        assert!(matches!(
            lock.acquire(&request("b", start(), true)).await.unwrap(),
            Acquired::Taken { over: Some(_), .. }
        ));
    }
}

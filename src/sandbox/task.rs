//! Task ownership: every task the sandbox spawns belongs to an owner and dies with it,
//! so a dropped sandbox leaves nothing running behind.

use std::future::Future;
use std::mem;
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use super::lock;

/// Background tasks owned by one sandbox component.
#[derive(Clone, Default)]
pub(crate) struct OwnedTasks {
    set: Arc<Mutex<JoinSet<()>>>,
}

impl OwnedTasks {
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut set = lock(&self.set);
        // Reap finished tasks so a long run does not accumulate their results.
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }

    /// Stops the tasks and waits until every one of them is gone.
    pub(crate) async fn shutdown(&self) {
        let mut set = mem::take(&mut *lock(&self.set));
        set.shutdown().await;
    }
}

impl OwnedTasks {
    /// The owner's handle: aborts every task when dropped, even if something
    /// else (a task, a client pool) still holds a clone of the set.
    pub(crate) fn abort_on_drop(&self) -> AbortOnDrop {
        AbortOnDrop(self.clone())
    }
}

/// Hyper spawns a background task per client connection; routing those through
/// here makes them owned like everything else.
impl<F> hyper::rt::Executor<F> for OwnedTasks
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, task: F) {
        self.spawn(task);
    }
}

pub(crate) struct AbortOnDrop(OwnedTasks);

impl AbortOnDrop {
    pub(crate) async fn shutdown(&self) {
        self.0.shutdown().await;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        lock(&self.0.set).abort_all();
    }
}

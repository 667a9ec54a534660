//! Forge reports (PR/MR comment, GitHub deployment) off the traffic path.
//!
//! The runner hands every event to [`LiveReports`] without waiting: a
//! background task publishes the latest state whenever the forge is free, so
//! updates that queued up behind a slow forge are merged into one and the
//! live updates still queued when the rollout ends are dropped (the final
//! report has them all). The final report has one time limit for everything
//! it sends; a slow or failing forge costs one warning line, never a delay
//! between a failed gate and the rollback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Report, Reporter};
use crate::annotation::{self, Level};
use crate::duration::display;
use crate::engine::Event;

/// A forge that does not accept a connection this fast is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One call to a forge; the default final limit fits two (status, comment).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A report kept on a forge: it is given events in batches and publishes the
/// state they add up to once per batch.
#[async_trait]
pub trait ForgeReporter: Send {
    /// The events since the last call, in order; publishes the latest state.
    async fn update(&mut self, events: &[Event]) -> Result<(), String>;
    /// The final report, which replaces any live state; also called when no
    /// live update got through (the report carries the whole timeline).
    async fn finish(&mut self, report: &Report) -> Result<(), String>;
}

/// Collects the reporting problems of a run and says them in one line at
/// the end: a forge that fails every call must not fill the log.
#[derive(Clone)]
pub struct Warnings {
    problems: Arc<Mutex<Vec<String>>>,
    say: Arc<dyn Fn(&str) + Send + Sync>,
}

impl Warnings {
    /// A `::warning::` line on GitHub Actions, a yellow `WARNING:` line on
    /// GitLab CI, a `warning:` line elsewhere; on stderr, like the console's
    /// `::group::` lines.
    pub fn to_log(log: Log) -> Self {
        Self::to(move |message| eprintln!("{}", log.warning(message)))
    }

    /// Sends the line to `say`.
    pub fn to(say: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            problems: Arc::default(),
            say: Arc::new(say),
        }
    }

    /// Remembers a problem, once however often it happens.
    pub fn note(&self, problem: &str) {
        let mut problems = self
            .problems
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !problems.iter().any(|known| known == problem) {
            problems.push(problem.to_owned());
        }
    }

    /// Says every problem noted so far in one line, if there was any.
    pub(crate) fn say(&self) {
        let problems = std::mem::take(
            &mut *self
                .problems
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if !problems.is_empty() {
            (self.say)(&format!(
                "not every report got through (PR/MR comment, deployment, chat message): {}",
                problems.join("; ")
            ));
        }
    }
}

/// Which CI log a line is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    GitHub,
    GitLab,
    Plain,
}

impl Log {
    /// A reporting problem, as this log shows warnings.
    pub fn warning(self, message: &str) -> String {
        let message = crate::secrets::mask(message);
        match self {
            Self::GitHub => annotation::github(Level::Warning, None, &message),
            Self::GitLab => annotation::gitlab(Level::Warning, None, &message),
            Self::Plain => format!("warning: {message}"),
        }
    }

    /// An outcome that needs a person, as this log shows errors.
    pub fn error(self, title: &str, message: &str) -> String {
        let message = crate::secrets::mask(message);
        match self {
            Self::GitHub => annotation::github(Level::Error, Some(title), &message),
            Self::GitLab => annotation::gitlab(Level::Error, Some(title), &message),
            Self::Plain => format!("error: {title}: {message}"),
        }
    }
}

enum Message {
    Event(Box<Event>),
    Final(Box<Report>, oneshot::Sender<()>),
}

/// The forge reporters, behind a background task.
pub struct LiveReports {
    sender: mpsc::UnboundedSender<Message>,
    task: JoinHandle<()>,
    final_limit: Duration,
    warnings: Warnings,
}

impl LiveReports {
    /// Starts the background task; must be called inside a tokio runtime.
    pub fn start(
        reporters: Vec<Box<dyn ForgeReporter>>,
        final_limit: Duration,
        warnings: Warnings,
    ) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(publish(reporters, receiver, warnings.clone()));
        Self {
            sender,
            task,
            final_limit,
            warnings,
        }
    }
}

impl Drop for LiveReports {
    fn drop(&mut self) {
        // A call stuck on a forge that never answers must not outlive the run.
        self.task.abort();
    }
}

#[async_trait]
impl Reporter for LiveReports {
    async fn event(&mut self, event: &Event) {
        // Never waits: the task may be stuck on the forge. An error means the
        // task is gone (it was given the final report), and then this is stale.
        let _ = self.sender.send(Message::Event(Box::new(event.clone())));
    }

    async fn finish(&mut self, report: &Report) -> Result<(), String> {
        let (done, finished) = oneshot::channel();
        if self
            .sender
            .send(Message::Final(Box::new(report.clone()), done))
            .is_err()
        {
            // Already finished.
            return Ok(());
        }
        if tokio::time::timeout(self.final_limit, finished)
            .await
            .is_err()
        {
            self.task.abort();
            self.warnings.note(&format!(
                "the forge did not take the final report within {} (report.finalTimeout), so greenlight gave up on it",
                display(self.final_limit)
            ));
        }
        self.warnings.say();
        Ok(())
    }
}

/// The background task: waits for work, takes everything queued, and
/// publishes the newest state; the final report goes to every reporter at
/// once, so that a slow forge cannot starve the others of the time limit.
async fn publish(
    mut reporters: Vec<Box<dyn ForgeReporter>>,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    warnings: Warnings,
) {
    while let Some(first) = receiver.recv().await {
        let mut events = Vec::new();
        let mut last = Some(first);
        while let Some(message) = last.take() {
            match message {
                Message::Event(event) => events.push(*event),
                Message::Final(report, done) => {
                    let finishing = reporters
                        .iter_mut()
                        .map(|reporter| reporter.finish(&report));
                    for result in futures_util::future::join_all(finishing).await {
                        if let Err(error) = result {
                            warnings.note(&error);
                        }
                    }
                    let _ = done.send(());
                    return;
                }
            }
            last = receiver.try_recv().ok();
        }
        for reporter in &mut reporters {
            if let Err(error) = reporter.update(&events).await {
                warnings.note(&error);
            }
        }
    }
}

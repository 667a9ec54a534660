//! One PR/MR comment per service and environment, kept up to date: found
//! again by its marker (a re-run updates it instead of adding a second one),
//! created when the rollout starts, updated at every step, and finished with
//! the final report. The forge behind it is a [`NoteApi`].

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::Report;
use super::comment::{self, Stage};
use super::links::Links;
use super::live::ForgeReporter;
use crate::engine::{Event, EventKind, Outcome, Plan};
use crate::release::Release;

/// Why a call to the forge failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Nothing to comment on (no pull request for this commit): said once.
    Skip(String),
    /// Will not work in this run (no permission, not found): said once.
    Stop(String),
    /// May work at the next step (a 5xx, a timeout).
    Retry(String),
}

/// The three calls a sticky comment needs from a forge.
#[async_trait]
pub trait NoteApi: Send {
    /// The id of the comment that carries `marker`, if there is one.
    async fn find(&mut self, marker: &str) -> Result<Option<u64>, ApiError>;
    async fn create(&mut self, body: &str) -> Result<u64, ApiError>;
    async fn update(&mut self, id: u64, body: &str) -> Result<(), ApiError>;
}

pub struct StickyReporter<A> {
    api: A,
    marker: String,
    title: Option<String>,
    release: Release,
    plan: Plan,
    /// The `plan` command's text, shown in the comment.
    plan_text: Option<String>,
    timeline: Vec<Event>,
    id: Option<u64>,
    given_up: bool,
    /// The run, the gates' queries and the hand-off, shown in every version.
    links: Links,
    /// When (on the rollout's clock) the comment last showed a measurement.
    measured_at: Option<SystemTime>,
}

/// During a hold the comment shows the latest measurement at most this often:
/// often enough to watch, rarely enough for the forge's rate limits.
pub const MEASUREMENT_UPDATE: Duration = Duration::from_secs(30);

impl<A: NoteApi> StickyReporter<A> {
    pub fn new(
        api: A,
        marker: String,
        title: Option<String>,
        release: Release,
        plan: Plan,
    ) -> Self {
        Self {
            api,
            marker,
            title,
            release,
            plan,
            plan_text: None,
            timeline: Vec::new(),
            id: None,
            given_up: false,
            links: Links::default(),
            measured_at: None,
        }
    }

    pub fn with_links(mut self, links: Links) -> Self {
        self.links = links;
        self
    }

    pub fn with_plan_text(mut self, text: String) -> Self {
        self.plan_text = Some(text);
        self
    }

    /// Creates or updates the comment; errors come back as the warning to log.
    async fn publish(&mut self, body: &str) -> Result<(), String> {
        if self.given_up {
            return Ok(());
        }
        let body = &crate::secrets::mask(body);
        let result = match self.id {
            Some(id) => self.api.update(id, body).await,
            None => match self.api.find(&self.marker).await {
                Ok(Some(id)) => {
                    self.id = Some(id);
                    self.api.update(id, body).await
                }
                Ok(None) => self.api.create(body).await.map(|id| self.id = Some(id)),
                Err(error) => Err(error),
            },
        };
        match result {
            Ok(()) => Ok(()),
            Err(ApiError::Skip(message)) => {
                self.given_up = true;
                eprintln!("{}", crate::secrets::mask(&message));
                Ok(())
            }
            Err(ApiError::Stop(message)) => {
                self.given_up = true;
                Err(format!(
                    "{message}; the comment is not updated again in this run"
                ))
            }
            Err(ApiError::Retry(message)) => Err(message),
        }
    }

    fn render(&self, report: &Report, stage: Stage) -> Result<String, String> {
        comment::render(
            report,
            self.title.as_deref(),
            &self.marker,
            stage,
            self.plan_text.as_deref(),
        )
        .map_err(|error| format!("cannot render the comment: {error}"))
    }
}

/// Events worth a new version of the comment: one per step, not per measurement.
fn is_milestone(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Started { .. }
            | EventKind::Deployed { .. }
            | EventKind::WeightSet { .. }
            | EventKind::RollbackStarted { .. }
    )
}

#[async_trait]
impl<A: NoteApi> ForgeReporter for StickyReporter<A> {
    async fn update(&mut self, events: &[Event]) -> Result<(), String> {
        self.timeline.extend_from_slice(events);
        if self.given_up {
            return Ok(());
        }
        // A measurement is worth an update once the last one shown is old
        // enough; times are the events' (the rollout's clock), never the
        // wall clock, and nothing here makes the rollout wait.
        let measured = events
            .iter()
            .rev()
            .find_map(|event| matches!(event.kind, EventKind::Gate { .. }).then_some(event.at));
        let measurement_due = measured.is_some_and(|at| {
            self.measured_at.is_none_or(|shown| {
                at.duration_since(shown)
                    .is_ok_and(|since| since >= MEASUREMENT_UPDATE)
            })
        });
        if !measurement_due && !events.iter().any(|event| is_milestone(&event.kind)) {
            return Ok(());
        }
        if let Some(at) = measured {
            self.measured_at = Some(at);
        }
        // The outcome is not known yet; the live view never shows it.
        let report = Report::build(
            &self.release,
            &self.plan,
            Outcome::Planned,
            String::new(),
            self.timeline.clone(),
        )
        .with_links(self.links.clone());
        let body = self.render(&report, Stage::Live)?;
        self.publish(&body).await
    }

    async fn finish(&mut self, report: &Report) -> Result<(), String> {
        let report = report.clone().with_links(self.links.clone());
        let body = self.render(&report, Stage::Final)?;
        self.publish(&body).await
    }
}

//! What greenlight does for the CI system it runs in: the reporters it adds
//! (PR/MR comment, GitHub deployment) and what it publishes at the end
//! (outputs, job summary, JUnit, dotenv). None of it changes an outcome:
//! every failure here is a warning.

use std::path::{Path, PathBuf};

use super::github::report::{DeploymentReporter, GitHubApi, PullRequestComments};
use super::gitlab::report::MergeRequestNotes;
use super::{github, gitlab};
use crate::engine::{Outcome, Plan};
use crate::release::Release;
use crate::report::console::{ConsoleReporter, Sections};
use crate::report::links::Links;
use crate::report::live::{ForgeReporter, LiveReports, Log, Warnings};
use crate::report::sticky::StickyReporter;
use crate::report::webhook::Webhook;
use crate::report::{Report, Reporter, comment, junit, markdown};
use crate::spec::types::WebhookSpec;

/// The CI system, with what greenlight needs from it.
#[derive(Debug, Clone)]
pub enum Platform {
    GitHub(github::Settings),
    GitLab(gitlab::Settings),
    Local,
}

/// Which command is reporting: `run` makes a GitHub deployment, a command
/// run by hand (`promote`, `rollback`, `abort`) updates it, `plan` has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Run,
    Plan,
    ByHand,
}

/// What a reporter needs to know about the rollout before it starts.
pub struct Rollout<'a> {
    pub command: CommandKind,
    pub release: &'a Release,
    pub plan: &'a Plan,
    pub title: Option<&'a str>,
    /// The `plan` command's text, for the comment.
    pub plan_text: Option<String>,
    /// How long the final report may take (`report.finalTimeout`).
    pub final_limit: std::time::Duration,
    /// The chat notification (`report.webhook`), if any.
    pub webhook: Option<&'a WebhookSpec>,
    /// The run, the gates' queries and the hand-off commands.
    pub links: Links,
}

/// The files `--report` and `--summary` were written to.
pub struct Written<'a> {
    pub report: Option<&'a Path>,
    pub summary: Option<&'a Path>,
}

impl Platform {
    pub fn detect(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let facts = super::detect(lookup);
        match facts.provider.as_str() {
            "github" => Self::GitHub(github::Settings::from_env(lookup, &facts)),
            "gitlab" => Self::GitLab(gitlab::Settings::from_env(lookup, &facts)),
            _ => Self::Local,
        }
    }

    pub fn from_process_env() -> Self {
        Self::detect(&|name| std::env::var(name).ok())
    }

    /// The console first, then what this CI shows besides the log.
    pub fn reporters(&self, rollout: &Rollout<'_>) -> Vec<Box<dyn Reporter>> {
        let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(
            ConsoleReporter::new(self.sections()).with_links(rollout.links.clone()),
        )];
        reporters.extend(self.forge_reporters(rollout));
        reporters
    }

    /// How this CI's log shows warnings and errors.
    pub fn log(&self) -> Log {
        match self {
            Self::GitHub(_) => Log::GitHub,
            Self::GitLab(_) => Log::GitLab,
            Self::Local => Log::Plain,
        }
    }

    /// A reporting problem, in the log as this CI shows warnings.
    pub fn warn(&self, message: &str) {
        eprintln!("{}", self.log().warning(message));
    }

    /// How this CI folds the log into sections.
    pub fn sections(&self) -> Sections {
        match self {
            Self::GitHub(_) => Sections::GitHub,
            Self::GitLab(_) => Sections::GitLab,
            Self::Local => Sections::None,
        }
    }

    /// The forge reports behind one background task, so that the rollout
    /// never waits on the forge; none when there is nothing to report to.
    pub fn forge_reporters(&self, rollout: &Rollout<'_>) -> Vec<Box<dyn Reporter>> {
        let warnings = Warnings::to_log(self.log());
        let reporters = self.forge_publishers(rollout, &warnings);
        if reporters.is_empty() {
            return Vec::new();
        }
        vec![Box::new(LiveReports::start(
            reporters,
            rollout.final_limit,
            warnings,
        ))]
    }

    /// The GitHub deployment, the PR/MR comment and the chat message, when
    /// they are asked for and possible; otherwise a warning that says why not.
    /// Problems that do not stop a reporter are noted in `warnings`.
    pub fn forge_publishers(
        &self,
        rollout: &Rollout<'_>,
        warnings: &Warnings,
    ) -> Vec<Box<dyn ForgeReporter>> {
        let mut reporters = self.api_publishers(rollout, warnings);
        // A plan decides nothing: no chat message.
        if let Some(webhook) = rollout.webhook
            && rollout.command != CommandKind::Plan
        {
            match self.webhook(webhook, rollout) {
                Ok(webhook) => reporters.push(Box::new(webhook)),
                Err(error) => self.warn(&format!("{error}: no chat notification")),
            }
        }
        reporters
    }

    /// What goes through the forge's API.
    fn api_publishers(
        &self,
        rollout: &Rollout<'_>,
        warnings: &Warnings,
    ) -> Vec<Box<dyn ForgeReporter>> {
        let mut reporters: Vec<Box<dyn ForgeReporter>> = Vec::new();
        match self {
            Self::GitHub(settings) => {
                let deployment = settings.deployment && rollout.command != CommandKind::Plan;
                if !settings.comment && !deployment {
                    return reporters;
                }
                let api = match GitHubApi::new(settings) {
                    Ok(api) => api,
                    Err(error) => {
                        self.warn(&format!(
                            "{error}: no pull-request comment and no deployment"
                        ));
                        return reporters;
                    }
                };
                // The deployment status first: it is what GitHub shows beside
                // the commit, and the final report may run out of time.
                if deployment {
                    let reporter = DeploymentReporter::new(api.clone(), settings);
                    reporters.push(Box::new(match rollout.command {
                        CommandKind::ByHand => reporter.reusing(),
                        CommandKind::Run | CommandKind::Plan => reporter,
                    }));
                }
                if settings.comment {
                    let notes = PullRequestComments::new(api, settings, warnings.clone());
                    reporters.push(sticky(notes, rollout, &settings.environment));
                }
            }
            Self::GitLab(settings) if settings.comment => {
                match MergeRequestNotes::new(settings, warnings.clone()) {
                    Ok(Some(notes)) => {
                        reporters.push(sticky(notes, rollout, &settings.environment))
                    }
                    // Not a merge-request pipeline: nothing to write to.
                    Ok(None) => {}
                    Err(error) => self.warn(&error.to_string()),
                }
            }
            Self::GitLab(_) | Self::Local => {}
        }
        reporters
    }

    fn webhook(&self, spec: &WebhookSpec, rollout: &Rollout<'_>) -> Result<Webhook, String> {
        let url = crate::provider::secret_from_env(
            &crate::secrets::process_env,
            &spec.url_env,
            "the chat webhook URL",
        )
        .map_err(|error| error.to_string())?;
        Webhook::new(
            url,
            spec.format,
            rollout.title.map(str::to_owned),
            self.run_url(),
        )
    }

    /// The link to this job's run, for messages read outside the forge.
    fn run_url(&self) -> Option<String> {
        match self {
            Self::GitHub(settings) => settings.run_url.clone(),
            Self::GitLab(settings) => settings.run_url.clone(),
            Self::Local => None,
        }
    }

    /// Writes what this CI reads after the run: GitHub outputs and the job
    /// summary; GitLab's JUnit and dotenv reports.
    pub fn publish(&self, report: &Report, written: &Written<'_>, title: Option<&str>) {
        if let Some(line) = self.outcome_annotation(report) {
            eprintln!("{line}");
        }
        let result = match self {
            Self::GitHub(settings) => publish_github(settings, report, written, title),
            Self::GitLab(settings) => publish_gitlab(settings, report, written),
            Self::Local => Ok(()),
        };
        if let Err(error) = result {
            self.warn(&error);
        }
    }

    /// An outcome that needs a person, as an error this CI shows beside the
    /// run (`::error title=checkout rolled back::…` on GitHub Actions, a red
    /// line in GitLab's log); nothing on a success or outside CI.
    pub fn outcome_annotation(&self, report: &Report) -> Option<String> {
        let what = match report.outcome {
            Outcome::RolledBack => "rolled back",
            Outcome::Halted => "halted",
            Outcome::Failed => "failed",
            Outcome::Promoted | Outcome::Planned => return None,
        };
        if matches!(self, Self::Local) {
            return None;
        }
        let title = format!("{} {what}", report.name);
        let mut reason = report.reason.trim_end_matches('.').to_owned();
        if let Some(handoff) = crate::report::markdown::handoff(report) {
            reason.push_str(&format!(
                ". To finish by hand: {}",
                handoff
                    .commands
                    .iter()
                    .map(|line| format!("`{}`", line.command))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        Some(self.log().error(&title, &reason))
    }
}

fn sticky<A: crate::report::sticky::NoteApi + 'static>(
    api: A,
    rollout: &Rollout<'_>,
    environment: &str,
) -> Box<dyn ForgeReporter> {
    let reporter = StickyReporter::new(
        api,
        comment::marker(&rollout.release.name, environment),
        rollout.title.map(str::to_owned),
        rollout.release.clone(),
        rollout.plan.clone(),
    )
    .with_links(rollout.links.clone());
    match &rollout.plan_text {
        Some(text) => Box::new(reporter.with_plan_text(text.clone())),
        None => Box::new(reporter),
    }
}

/// The JSON report's spelling: `rolled_back`, not "rolled back".
fn outcome_key(outcome: Outcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn outputs(
    report: &Report,
    written: &Written<'_>,
    names: [&'static str; 5],
) -> Vec<(&'static str, String)> {
    let [outcome, stable, new, report_path, summary_path] = names;
    let mut pairs = vec![
        (outcome, outcome_key(report.outcome)),
        (stable, report.stable_version.clone()),
        (new, report.new_version.clone()),
    ];
    if let Some(path) = written.report {
        pairs.push((report_path, absolute(path).display().to_string()));
    }
    if let Some(path) = written.summary {
        pairs.push((summary_path, absolute(path).display().to_string()));
    }
    pairs
}

fn publish_github(
    settings: &github::Settings,
    report: &Report,
    written: &Written<'_>,
    title: Option<&str>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(path) = &settings.output {
        let mut pairs = outputs(
            report,
            written,
            [
                "outcome",
                "stable-version",
                "new-version",
                "report",
                "summary",
            ],
        );
        let ids = settings.published.ids();
        pairs.extend(ids.comment.map(|id| ("comment-id", id.to_string())));
        pairs.extend(ids.deployment.map(|id| ("deployment-id", id.to_string())));
        if let Err(error) = github::write_outputs(path, &pairs) {
            problems.push(error);
        }
    }
    if settings.summary
        && let Some(path) = &settings.step_summary
    {
        let room = github::step_summary_room(path);
        let appended = markdown::render_within(report, title, room)
            .map_err(|error| format!("cannot render the job summary: {error}"))
            .and_then(|text| github::append_step_summary(path, &text));
        if let Err(error) = appended {
            problems.push(error);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn publish_gitlab(
    settings: &gitlab::Settings,
    report: &Report,
    written: &Written<'_>,
) -> Result<(), String> {
    // Not GREENLIGHT_REPORT/GREENLIGHT_SUMMARY: later jobs get these as
    // variables, and GREENLIGHT_SUMMARY is already a switch.
    let mut pairs = outputs(
        report,
        written,
        [
            "GREENLIGHT_OUTCOME",
            "GREENLIGHT_STABLE_VERSION",
            "GREENLIGHT_NEW_VERSION",
            "GREENLIGHT_REPORT_PATH",
            "GREENLIGHT_SUMMARY_PATH",
        ],
    );
    if let Some(id) = settings.published.ids().comment {
        pairs.push(("GREENLIGHT_COMMENT_ID", id.to_string()));
    }
    let dotenv = crate::report::write_file(Path::new(gitlab::DOTENV_FILE), &gitlab::dotenv(&pairs));
    let junit = crate::report::write_file(Path::new(gitlab::JUNIT_FILE), &junit::render(report));
    match (dotenv, junit) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(error), Ok(())) | (Ok(()), Err(error)) => Err(error),
        (Err(first), Err(second)) => Err(format!("{first}; {second}")),
    }
}

//! Live progress on the console: one line per event with the numbers, colours
//! only on a terminal, and a collapsible section per step in CI logs
//! (`::group::` on GitHub Actions, `section_start` on GitLab CI).

use std::io::Write;

use anstyle::{AnsiColor, Style};
use async_trait::async_trait;

use super::gitlab_sections as gitlab;
use super::links::Links;
use super::{Report, Reporter, describe_event, markdown};
use crate::engine::{Event, EventKind};
use crate::judge::Verdict;

/// How the CI log folds sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sections {
    None,
    GitHub,
    GitLab,
}

pub struct ConsoleReporter {
    sections: Sections,
    /// The id of the section open now.
    open: Option<String>,
    /// For the hand-off commands at the end.
    links: Links,
}

impl ConsoleReporter {
    pub fn new(sections: Sections) -> Self {
        Self {
            sections,
            open: None,
            links: Links::default(),
        }
    }

    pub fn with_links(mut self, links: Links) -> Self {
        self.links = links;
        self
    }

    /// Section markers bypass anstream, which would strip GitLab's escape
    /// codes from a log that is not a terminal.
    fn close(&mut self, at: std::time::SystemTime) {
        let mut out = std::io::stderr();
        if let Some(id) = self.open.take() {
            let _ = match self.sections {
                Sections::GitHub => writeln!(out, "::endgroup::"),
                Sections::GitLab => writeln!(out, "{}", gitlab::section_end(&id, at)),
                Sections::None => Ok(()),
            };
        }
    }

    fn style(kind: &EventKind) -> Style {
        let colour = match kind {
            EventKind::Gate {
                verdict: Verdict::Pass,
                ..
            }
            | EventKind::Promoted { .. } => AnsiColor::Green,
            EventKind::Gate {
                verdict: Verdict::Fail,
                ..
            }
            | EventKind::RollbackStarted { .. }
            | EventKind::Failed { .. }
            | EventKind::DeployFailed { .. } => AnsiColor::Red,
            EventKind::Gate { .. } | EventKind::Halted { .. } | EventKind::Warning { .. } => {
                AnsiColor::Yellow
            }
            EventKind::Smoke(record) | EventKind::Hook(record)
                if record.verdict == Verdict::Fail =>
            {
                AnsiColor::Red
            }
            _ => return Style::new(),
        };
        Style::new().fg_color(Some(colour.into()))
    }
}

#[async_trait]
impl Reporter for ConsoleReporter {
    async fn event(&mut self, event: &Event) {
        let section = match &event.kind {
            EventKind::WeightSet {
                weight,
                step: Some(step),
            } => Some((
                format!("greenlight_step_{step}"),
                format!("Step {step}: {weight}"),
            )),
            EventKind::RollbackStarted { .. } => {
                Some(("greenlight_rollback".to_owned(), "Rollback".to_owned()))
            }
            EventKind::Promoted { .. } => {
                Some(("greenlight_promotion".to_owned(), "Promotion".to_owned()))
            }
            _ => None,
        };
        if let Some((id, title)) = section
            && self.sections != Sections::None
        {
            self.close(event.at);
            let mut raw = std::io::stderr();
            let _ = match self.sections {
                Sections::GitLab => {
                    writeln!(raw, "{}", gitlab::section_start(&id, event.at, &title))
                }
                _ => writeln!(raw, "::group::{title}"),
            };
            self.open = Some(id);
        }
        // anstream drops the colours when stderr is not a terminal (or NO_COLOR is set).
        let mut out = anstream::stderr().lock();
        let time = crate::clock::rfc3339_millis(event.at);
        let clock = time.get(11..23).unwrap_or(&time);
        let style = Self::style(&event.kind);
        let _ = writeln!(
            out,
            "{clock} {style}{}{style:#}",
            crate::secrets::mask(&describe_event(&event.kind))
        );
    }

    async fn finish(&mut self, report: &Report) -> Result<(), String> {
        let end = report
            .finished_at
            .unwrap_or_else(std::time::SystemTime::now);
        self.close(end);
        let mut out = anstream::stderr().lock();
        let headline = crate::secrets::mask(&markdown::headline(report).replace("**", ""));
        writeln!(out, "{headline}").map_err(|error| error.to_string())?;
        let report = report.clone().with_links(self.links.clone());
        if let Some(text) = handoff_text(&report) {
            write!(out, "{}", crate::secrets::mask(&text)).map_err(|error| error.to_string())?;
        }
        Ok(())
    }
}

/// The hand-off of a halted or failed rollout, for the log.
pub fn handoff_text(report: &Report) -> Option<String> {
    let handoff = markdown::handoff(report)?;
    let mut text = format!("To finish by hand: {}\n", handoff.situation);
    for line in &handoff.commands {
        text.push_str(&format!("  {}  # {}\n", line.command, line.does));
    }
    if let Some(dispatch) = &handoff.dispatch {
        text.push_str(&format!(
            "  or run them from the manual workflow: {dispatch}\n"
        ));
    }
    Some(text)
}

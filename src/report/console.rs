//! Live progress on the console: one line per event with the numbers, colours
//! only on a terminal, and `::group::` sections per step on GitHub Actions.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use async_trait::async_trait;

use super::{Report, Reporter, describe_event, markdown};
use crate::engine::{Event, EventKind};
use crate::judge::Verdict;

pub struct ConsoleReporter {
    github_groups: bool,
    group_open: bool,
}

impl ConsoleReporter {
    pub fn new(github_groups: bool) -> Self {
        Self {
            github_groups,
            group_open: false,
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
        // anstream drops the colours when stderr is not a terminal (or NO_COLOR is set).
        let mut out = anstream::stderr().lock();
        if self.github_groups {
            let title = match &event.kind {
                EventKind::WeightSet {
                    weight,
                    step: Some(step),
                } => Some(format!("Step {step}: {weight}")),
                EventKind::RollbackStarted { .. } => Some("Rollback".to_owned()),
                EventKind::Promoted { .. } => Some("Promotion".to_owned()),
                _ => None,
            };
            if let Some(title) = title {
                if self.group_open {
                    let _ = writeln!(out, "::endgroup::");
                }
                let _ = writeln!(out, "::group::{title}");
                self.group_open = true;
            }
        }
        let time = crate::clock::rfc3339_millis(event.at);
        let clock = time.get(11..23).unwrap_or(&time);
        let style = Self::style(&event.kind);
        let _ = writeln!(
            out,
            "{clock} {style}{}{style:#}",
            describe_event(&event.kind)
        );
    }

    async fn finish(&mut self, report: &Report) -> Result<(), String> {
        let mut out = anstream::stderr().lock();
        if self.group_open {
            let _ = writeln!(out, "::endgroup::");
            self.group_open = false;
        }
        let headline = markdown::headline(report).replace("**", "");
        writeln!(out, "{headline}").map_err(|error| error.to_string())
    }
}

//! The Markdown summary (`--summary PATH`, the job summary, PR comments),
//! rendered from a template embedded in the binary.

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::{Report, StepStatus, describe_event};
use crate::engine::Outcome;
use crate::engine::plan::StrategyKind;
use crate::judge::Verdict;
use crate::spec::duration::display;

const SUMMARY: &str = include_str!("templates/summary.md.j2");

#[derive(Serialize)]
struct Row {
    step: usize,
    weight: String,
    held: String,
    cells: Vec<String>,
    status: &'static str,
}

#[derive(Serialize)]
struct CheckRow {
    name: String,
    when: String,
    verdict: &'static str,
    detail: String,
}

#[derive(Serialize)]
struct EventLine {
    at: String,
    text: String,
}

/// The summary's first line: the outcome and why, in one sentence.
pub fn headline(report: &Report) -> String {
    let (icon, what) = match report.outcome {
        Outcome::Promoted => ("✅", "promoted"),
        Outcome::RolledBack => ("↩️", "rolled back"),
        Outcome::Halted => ("⏸️", "halted"),
        Outcome::Failed => ("❌", "failed"),
        Outcome::Planned => ("📋", "planned"),
    };
    let after = match report.outcome {
        Outcome::RolledBack => format!(" All traffic is back on {}.", report.stable_version),
        Outcome::Halted => " Traffic stays where it is until a person decides.".to_owned(),
        _ => String::new(),
    };
    let reason = report.reason.trim_end_matches('.');
    format!(
        "{icon} **{} {} {what}**: {reason}.{after}",
        report.name, report.new_version
    )
}

fn verdict_mark(verdict: Option<Verdict>) -> &'static str {
    match verdict {
        Some(Verdict::Pass) => "✅",
        Some(Verdict::Fail) => "❌",
        Some(Verdict::NoData) => "∅ no data",
        Some(Verdict::ProviderError) => "⚠️ provider error",
        Some(Verdict::Inconclusive) => "❔ too few samples",
        None => "",
    }
}

pub fn render(report: &Report, title: Option<&str>) -> Result<String, minijinja::Error> {
    let columns: Vec<String> = report
        .metrics()
        .into_iter()
        .map(|metric| {
            let threshold = report
                .steps
                .iter()
                .flat_map(|step| &step.gates)
                .find(|gate| gate.metric == metric)
                .map(|gate| gate.threshold.to_string())
                .unwrap_or_default();
            format!("{metric} ({threshold})")
        })
        .collect();
    let rows: Vec<Row> = report
        .steps
        .iter()
        .map(|step| Row {
            step: step.step,
            weight: step.weight.to_string(),
            held: step.held_ms.map_or_else(
                || "–".to_owned(),
                |held| display(std::time::Duration::from_millis(held)),
            ),
            cells: report
                .metrics()
                .into_iter()
                .map(
                    |metric| match step.gates.iter().find(|gate| gate.metric == metric) {
                        None => "–".to_owned(),
                        Some(gate) if gate.measurements == 0 && gate.verdict.is_none() => {
                            "–".to_owned()
                        }
                        Some(gate) => match gate.value {
                            Some(value) => {
                                format!(
                                    "{} {}",
                                    crate::judge::format_value(value),
                                    verdict_mark(gate.verdict)
                                )
                            }
                            None => verdict_mark(gate.verdict).to_owned(),
                        },
                    },
                )
                .collect(),
            status: match step.status {
                StepStatus::Passed => "passed",
                StepStatus::Failed => "**failed**",
                StepStatus::Halted => "**halted**",
                StepStatus::NotReached => "not reached",
            },
        })
        .collect();
    let checks: Vec<CheckRow> = report
        .checks
        .iter()
        .map(|check| {
            let record = &check.record;
            let step = record
                .step
                .map(|step| format!(" {step}"))
                .unwrap_or_default();
            CheckRow {
                name: format!("{} `{}`", check.kind, record.check),
                when: format!("{}{step}", record.stage.as_str()),
                verdict: verdict_mark(Some(record.verdict)),
                detail: record.detail.replace('|', "\\|").replace('\n', " "),
            }
        })
        .collect();
    let events: Vec<EventLine> = report
        .timeline
        .iter()
        .map(|event| EventLine {
            at: crate::clock::rfc3339_millis(event.at),
            text: describe_event(&event.kind),
        })
        .collect();
    let duration = match (report.started_at, report.finished_at) {
        (Some(start), Some(end)) => end.duration_since(start).ok().map(display),
        _ => None,
    };
    let mut environment = Environment::new();
    environment.add_template("summary.md", SUMMARY)?;
    environment.get_template("summary.md")?.render(context! {
        headline => headline(report),
        title => title.map(str::to_owned).unwrap_or_else(|| format!("greenlight: {}", report.name)),
        strategy => match report.strategy { StrategyKind::Canary => "canary", StrategyKind::BlueGreen => "blue/green" },
        stable_version => report.stable_version.as_str(),
        new_version => report.new_version.as_str(),
        duration => Value::from(Serde(duration)),
        columns => Value::from(Serde(columns)),
        rows => Value::from(Serde(rows)),
        checks => Value::from(Serde(checks)),
        events => Value::from(Serde(events)),
    })
}

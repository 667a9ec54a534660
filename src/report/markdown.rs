//! The Markdown summary (`--summary PATH`, the job summary, PR comments),
//! rendered from a template embedded in the binary.

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::{Report, StepStatus, describe_event};
use crate::duration::display;
use crate::engine::plan::StrategyKind;
use crate::engine::{EventKind, Outcome};
use crate::judge::Verdict;

const SUMMARY: &str = include_str!("templates/summary.md.j2");
const COMMENT: &str = include_str!("templates/comment.md.j2");

/// Which template, and what it shows beyond the report itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// `--summary` and the job summary.
    Summary,
    /// The sticky PR/MR comment (`comment.md.j2`, which extends the summary).
    Comment,
}

/// How much of the report to show.
#[derive(Debug, Clone, Default)]
pub struct View<'a> {
    pub title: Option<&'a str>,
    /// The rollout is still running: a progress line instead of the verdict.
    pub live: bool,
    /// Leave the timeline out (to stay under a size limit).
    pub without_timeline: bool,
    /// Extra template values (the comment's marker, chart, plan).
    pub extra: Option<Value>,
}

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

/// A comparison still watching is undecided, not short of samples.
fn comparison_mark(verdict: Option<Verdict>) -> &'static str {
    match verdict {
        Some(Verdict::Inconclusive) => "❔ undecided",
        verdict => verdict_mark(verdict),
    }
}

/// A URL that cannot end a Markdown link early.
fn markdown_url(url: &str) -> String {
    url.replace('(', "%28")
        .replace(')', "%29")
        .replace(' ', "%20")
}

/// Where traffic was last verified: the weight on the new version.
fn last_weight(report: &Report) -> Option<crate::traffic::Weight> {
    report
        .timeline
        .iter()
        .rev()
        .find_map(|event| match &event.kind {
            EventKind::WeightSet { weight, .. } | EventKind::RollbackCompleted { weight } => {
                Some(*weight)
            }
            _ => None,
        })
}

/// What a person does next after a halt or a failure: where traffic is and
/// the exact commands that finish the rollout either way.
#[derive(Debug, Clone, Serialize)]
pub struct Handoff {
    pub situation: String,
    pub commands: Vec<HandoffCommand>,
    pub dispatch: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HandoffCommand {
    pub command: String,
    /// What it does, in a few words.
    pub does: String,
}

/// The hand-off of a halted or failed rollout; `None` for the other
/// outcomes, or when the command that ran is not known.
pub fn handoff(report: &Report) -> Option<Handoff> {
    if !matches!(report.outcome, Outcome::Halted | Outcome::Failed) {
        return None;
    }
    let flags = report.links.handoff.as_ref()?;
    let situation = match last_weight(report) {
        Some(weight) => format!(
            "{weight} of traffic was last verified on {}; it stays there until a person decides.",
            report.new_version
        ),
        None => format!(
            "no traffic was moved to {}; nothing changes until a person decides.",
            report.new_version
        ),
    };
    Some(Handoff {
        situation,
        commands: vec![
            HandoffCommand {
                command: flags.command("promote"),
                does: format!("send all traffic to {}", report.new_version),
            },
            HandoffCommand {
                command: flags.command("rollback"),
                does: format!("put all traffic back on {}", report.stable_version),
            },
        ],
        dispatch: flags.dispatch.as_deref().map(markdown_url),
    })
}

/// The headline while the rollout runs: where it is, never a verdict.
pub fn live_headline(report: &Report) -> String {
    let current = current_step(report);
    let weight = last_weight(report).map(|weight| weight.to_string());
    let rolling_back = report
        .timeline
        .iter()
        .any(|event| matches!(event.kind, EventKind::RollbackStarted { .. }));
    let now = match (rolling_back, current, weight) {
        (true, _, _) => "rolling back".to_owned(),
        (false, Some(step), Some(weight)) => format!(
            "step {step} of {}, {weight} of traffic on {}",
            report.steps.len(),
            report.new_version
        ),
        (false, _, Some(weight)) => format!("{weight} of traffic on {}", report.new_version),
        (false, _, None) => format!(
            "deploying {} beside {}",
            report.new_version, report.stable_version
        ),
    };
    format!(
        "⏳ **{} {} rolling out**: {now}.",
        report.name, report.new_version
    )
}

/// The step whose weight is set but which has not completed yet.
fn current_step(report: &Report) -> Option<usize> {
    let mut current = None;
    for event in &report.timeline {
        match event.kind {
            EventKind::WeightSet {
                step: Some(step), ..
            } => current = Some(step),
            EventKind::StepCompleted { .. }
            | EventKind::RollbackStarted { .. }
            | EventKind::Halted { .. } => current = None,
            _ => {}
        }
    }
    current
}

pub fn render(report: &Report, title: Option<&str>) -> Result<String, minijinja::Error> {
    render_view(
        Template::Summary,
        report,
        &View {
            title,
            ..View::default()
        },
    )
}

/// The summary within `limit` bytes: whole, else without the timeline, else
/// cut (the headline, the verdict, comes first and always survives).
pub fn render_within(
    report: &Report,
    title: Option<&str>,
    limit: usize,
) -> Result<String, minijinja::Error> {
    let full = render(report, title)?;
    if full.len() <= limit {
        return Ok(full);
    }
    let brief = render_view(
        Template::Summary,
        report,
        &View {
            title,
            without_timeline: true,
            ..View::default()
        },
    )?;
    Ok(truncate(brief, limit, |text| text.len()))
}

/// Cuts `text` to `limit` (as `measure` counts) on a line boundary, with a note.
pub fn truncate(text: String, limit: usize, measure: impl Fn(&str) -> usize) -> String {
    const NOTE: &str =
        "\n\n_…cut to stay within the size limit; the JSON report has everything._\n";
    if measure(&text) <= limit {
        return text;
    }
    let budget = limit.saturating_sub(measure(NOTE));
    let mut kept = String::new();
    for line in text.split_inclusive('\n') {
        if measure(&kept) + measure(line) > budget {
            break;
        }
        kept.push_str(line);
    }
    if kept.is_empty() {
        // Not even the first line fits: keep what fits of it.
        for character in text.chars() {
            let mut buffer = [0; 4];
            if measure(&kept) + measure(character.encode_utf8(&mut buffer)) > budget {
                break;
            }
            kept.push(character);
        }
    }
    kept.push_str(NOTE);
    kept
}

pub fn render_view(
    template: Template,
    report: &Report,
    view: &View<'_>,
) -> Result<String, minijinja::Error> {
    let title = view.title;
    let live_step = if view.live {
        current_step(report)
    } else {
        None
    };
    let columns: Vec<String> = report
        .metrics()
        .into_iter()
        .map(|metric| {
            let threshold = report
                .steps
                .iter()
                .flat_map(|step| &step.gates)
                .find(|gate| gate.metric == metric)
                .map(|gate| {
                    if gate.evidence.is_some() || gate.threshold == crate::judge::Threshold::ANY {
                        "vs stable".to_owned()
                    } else {
                        gate.threshold.to_string()
                    }
                })
                .unwrap_or_default();
            match report.links.queries.get(metric) {
                Some(link) => format!("[{metric}]({}) ({threshold})", markdown_url(link)),
                None => format!("{metric} ({threshold})"),
            }
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
                        // A comparison's value is the ratio, and undecided is not "too few samples".
                        Some(gate) if gate.evidence.is_some() => {
                            let ratio = gate
                                .value
                                .map_or_else(String::new, |ratio| format!("×{ratio:.2} "));
                            format!("{ratio}{}", comparison_mark(gate.verdict))
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
                _ if live_step == Some(step.step) => "⏳ in progress",
                StepStatus::NotReached if report.outcome == Outcome::Planned && !view.live => {
                    "planned"
                }
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
    // Each comparison's evidence, and what a rollback cost.
    let mut evidence: Vec<String> = report
        .steps
        .iter()
        .flat_map(|step| {
            step.gates.iter().filter_map(move |gate| {
                let text = gate.evidence.as_ref()?;
                Some(format!(
                    "step {} `{}`: {text} {}",
                    step.step,
                    gate.metric,
                    comparison_mark(gate.verdict)
                ))
            })
        })
        .collect();
    if let Some(blast_radius) = report.blast_radius {
        evidence.push(format!("blast radius: {}", blast_radius.text()));
    }
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
    environment.add_template("comment.md", COMMENT)?;
    let name = match template {
        Template::Summary => "summary.md",
        Template::Comment => "comment.md",
    };
    let base = context! {
        headline => if view.live { live_headline(report) } else { headline(report) },
        run_url => report.links.run.as_deref().map(markdown_url),
        handoff => Value::from(Serde(if view.live { None } else { handoff(report) })),
        timeline => !view.without_timeline,
        title => title.map(str::to_owned).unwrap_or_else(|| format!("greenlight: {}", report.name)),
        strategy => match report.strategy { StrategyKind::Canary => "canary", StrategyKind::BlueGreen => "blue/green" },
        stable_version => report.stable_version.as_str(),
        new_version => report.new_version.as_str(),
        duration => Value::from(Serde(duration)),
        columns => Value::from(Serde(columns)),
        rows => Value::from(Serde(rows)),
        checks => Value::from(Serde(checks)),
        events => Value::from(Serde(events)),
        evidence => Value::from(Serde(evidence)),
    };
    let context = match &view.extra {
        Some(extra) => context! { ..extra.clone(), ..base },
        None => base,
    };
    environment.get_template(name)?.render(context)
}

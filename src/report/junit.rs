//! The JUnit report GitLab shows in its test tabs (`greenlight-junit.xml`):
//! one test case for the rollout, one per smoke check, one per gate per step.
//!
//! A gate's verdict maps onto JUnit so that nothing is mistaken for a pass:
//! `fail` is a `<failure>`; `no data`, `provider error` and `inconclusive`
//! (too few samples) are `<error>`s, typed `no_data`, `provider_error` and
//! `inconclusive` (the check could not be judged, which is not the same as
//! failing it); a step the rollout never reached is `<skipped>`. A gate's
//! time is how long its step held, also when the step failed or halted.
//! The file is valid against the common JUnit schema (Jenkins' `junit-10.xsd`
//! shape), which `tests/junit.xsd` models.

use std::fmt::Write;

use super::{Report, StepStatus};
use crate::engine::{EventKind, Outcome};
use crate::judge::Verdict;

enum CaseResult {
    Pass,
    Failure { kind: &'static str, message: String },
    Error { kind: &'static str, message: String },
    Skipped(String),
}

struct Case {
    classname: String,
    name: String,
    seconds: f64,
    result: CaseResult,
    output: String,
}

/// Escapes text for XML and drops the control characters XML 1.0 forbids.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(character),
            control if control < ' ' => {}
            other => escaped.push(other),
        }
    }
    escaped
}

fn verdict_result(verdict: Verdict, message: String) -> CaseResult {
    match verdict {
        Verdict::Pass => CaseResult::Pass,
        Verdict::Fail => CaseResult::Failure {
            kind: "fail",
            message,
        },
        Verdict::NoData => CaseResult::Error {
            kind: "no_data",
            message,
        },
        Verdict::ProviderError => CaseResult::Error {
            kind: "provider_error",
            message,
        },
        Verdict::Inconclusive => CaseResult::Error {
            kind: "inconclusive",
            message,
        },
    }
}

fn rollout_case(report: &Report, seconds: f64) -> Case {
    let headline = super::markdown::headline(report).replace("**", "");
    let result = match report.outcome {
        Outcome::Promoted => CaseResult::Pass,
        Outcome::Planned => CaseResult::Skipped("a plan: nothing was changed".to_owned()),
        Outcome::RolledBack => CaseResult::Failure {
            kind: "rolled_back",
            message: report.reason.clone(),
        },
        Outcome::Failed => CaseResult::Error {
            kind: "failed",
            message: report.reason.clone(),
        },
        Outcome::Halted => CaseResult::Error {
            kind: "halted",
            message: report.reason.clone(),
        },
    };
    Case {
        classname: format!("greenlight.{}", report.name),
        name: format!("rollout {} → {}", report.stable_version, report.new_version),
        seconds,
        result,
        output: headline,
    }
}

/// Every measurement of `metric` in `step`, one line each.
fn measurements(report: &Report, step: usize, metric: &str) -> Vec<String> {
    report
        .timeline
        .iter()
        .filter(|event| {
            matches!(&event.kind, EventKind::Gate { step: s, metric: m, .. } if *s == step && m == metric)
        })
        .map(|event| {
            format!(
                "{} {}",
                crate::clock::rfc3339_millis(event.at),
                super::describe_event(&event.kind)
            )
        })
        .collect()
}

fn cases(report: &Report) -> Vec<Case> {
    let duration = match (report.started_at, report.finished_at) {
        (Some(start), Some(end)) => end.duration_since(start).map_or(0.0, |d| d.as_secs_f64()),
        _ => 0.0,
    };
    let mut cases = vec![rollout_case(report, duration)];
    for check in &report.checks {
        let record = &check.record;
        let step = record
            .step
            .map(|step| format!(" after step {step}"))
            .unwrap_or_default();
        let output = match &record.output {
            Some(printed) => format!("{}\n{printed}", record.detail),
            None => record.detail.clone(),
        };
        cases.push(Case {
            classname: format!("greenlight.{}.{}", report.name, check.kind),
            name: format!("{} ({}{step})", record.check, record.stage.as_str()),
            seconds: record.elapsed_ms as f64 / 1000.0,
            result: verdict_result(record.verdict, record.detail.clone()),
            output,
        });
    }
    let reached = report
        .steps
        .iter()
        .filter(|step| step.status != StepStatus::NotReached)
        .count();
    for step in &report.steps {
        for gate in &step.gates {
            let lines = measurements(report, step.step, &gate.metric);
            let result = match (step.status, gate.verdict) {
                (StepStatus::NotReached, None) if report.outcome == Outcome::Planned => {
                    CaseResult::Skipped("planned".to_owned())
                }
                (StepStatus::NotReached, None) => CaseResult::Skipped(format!(
                    "not reached: the rollout ended after step {reached}"
                )),
                (_, None) => CaseResult::Skipped("not measured in this step".to_owned()),
                (_, Some(verdict)) => verdict_result(
                    verdict,
                    lines
                        .iter()
                        .rev()
                        .find(|line| line.ends_with(verdict.as_str()))
                        .cloned()
                        .unwrap_or_else(|| verdict.as_str().to_owned()),
                ),
            };
            cases.push(Case {
                classname: format!(
                    "greenlight.{}.step {} ({})",
                    report.name, step.step, step.weight
                ),
                name: format!("{} ({})", gate.metric, gate.threshold),
                seconds: step.held_ms.map_or(0.0, |held| held as f64 / 1000.0),
                result,
                output: lines.join("\n"),
            });
        }
    }
    cases
}

pub fn render(report: &Report) -> String {
    let cases = cases(report);
    let count =
        |pick: fn(&CaseResult) -> bool| cases.iter().filter(|case| pick(&case.result)).count();
    let failures = count(|result| matches!(result, CaseResult::Failure { .. }));
    let errors = count(|result| matches!(result, CaseResult::Error { .. }));
    let skipped = count(|result| matches!(result, CaseResult::Skipped(_)));
    let total: f64 = cases.first().map_or(0.0, |case| case.seconds);
    let counts = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\"",
        cases.len()
    );
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // `skipped` is a <testsuite> attribute only in the common schema.
    let _ = writeln!(
        xml,
        "<testsuites name=\"greenlight\" {counts} time=\"{total:.3}\">"
    );
    let timestamp = report
        .started_at
        .map(|at| format!(" timestamp=\"{}\"", crate::clock::rfc3339_millis(at)))
        .unwrap_or_default();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" {counts} skipped=\"{skipped}\" time=\"{total:.3}\"{timestamp}>",
        escape(&format!("greenlight {}", report.name))
    );
    for case in &cases {
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            escape(&case.classname),
            escape(&case.name),
            case.seconds
        );
        match &case.result {
            CaseResult::Pass => {}
            CaseResult::Failure { kind, message } => {
                let _ = write!(
                    xml,
                    "\n      <failure type=\"{kind}\" message=\"{}\"/>",
                    escape(message)
                );
            }
            CaseResult::Error { kind, message } => {
                let _ = write!(
                    xml,
                    "\n      <error type=\"{kind}\" message=\"{}\"/>",
                    escape(message)
                );
            }
            CaseResult::Skipped(message) => {
                let _ = write!(xml, "\n      <skipped message=\"{}\"/>", escape(message));
            }
        }
        if !case.output.is_empty() {
            let _ = write!(
                xml,
                "\n      <system-out>{}</system-out>",
                escape(&case.output)
            );
        }
        let closing = if matches!(case.result, CaseResult::Pass) && case.output.is_empty() {
            "</testcase>\n"
        } else {
            "\n    </testcase>\n"
        };
        xml.push_str(closing);
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            escape("a<b & \"c\"\u{1b}[0m"),
            "a&lt;b &amp; &quot;c&quot;[0m"
        );
    }
}

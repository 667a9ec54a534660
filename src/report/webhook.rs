//! The chat notification (`report.webhook`): one message when a command that
//! moves traffic ends, with the summary's headline, the link to the run and
//! each step's numbers, shaped for Slack, Microsoft Teams or plain JSON. It
//! rides with the forge reports behind [`super::live::LiveReports`], so it is
//! off the traffic path and within the final report's time limit.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::live::{CALL_TIMEOUT, CONNECT_TIMEOUT, ForgeReporter};
use super::{Report, StepStatus};
use crate::engine::Event;
use crate::judge::Verdict;
use crate::secrets::Secret;
use crate::spec::types::WebhookFormat;

/// Slack cuts a section's text at 3,000 characters; Teams cards stay readable.
const STEPS_LIMIT: usize = 2_900;

/// What a message says, whatever its format.
struct Message {
    /// The summary's headline, without Markdown.
    headline: String,
    /// `title · v1 → v2`.
    subtitle: String,
    run_url: Option<String>,
    /// One line per step with its numbers.
    steps: Vec<String>,
}

/// The message for `report`: a JSON body in `format`.
pub fn payload(
    format: WebhookFormat,
    report: &Report,
    title: Option<&str>,
    run_url: Option<&str>,
) -> Value {
    let message = Message {
        headline: super::markdown::headline(report).replace("**", ""),
        subtitle: format!(
            "{} · {} → {}",
            title.map_or_else(|| format!("greenlight: {}", report.name), str::to_owned),
            report.stable_version,
            report.new_version
        ),
        run_url: run_url.map(str::to_owned),
        steps: report.steps.iter().map(step_line).collect(),
    };
    let body = match format {
        WebhookFormat::Slack => slack(&message),
        WebhookFormat::Teams => teams(&message),
        WebhookFormat::Json => json!({
            "headline": message.headline,
            "outcome": report.outcome,
            "reason": report.reason,
            "service": report.name,
            "stableVersion": report.stable_version,
            "newVersion": report.new_version,
            "title": title,
            "runUrl": message.run_url,
            "steps": report.steps,
        }),
    };
    crate::secrets::mask_json(&body)
}

/// `Step 1 · 10% · held 30s · error-rate 0.004 ✅ · passed`.
fn step_line(step: &super::StepDigest) -> String {
    let held = step.held_ms.map_or_else(
        || "–".to_owned(),
        |held| crate::duration::display(std::time::Duration::from_millis(held)),
    );
    let mut parts = vec![
        format!("Step {}", step.step),
        step.weight.to_string(),
        format!("held {held}"),
    ];
    for gate in &step.gates {
        let value = gate.value.map(crate::judge::format_value);
        let mark = match gate.verdict {
            Some(Verdict::Pass) => "✅",
            Some(Verdict::Fail) => "❌",
            Some(Verdict::NoData) => "no data",
            Some(Verdict::ProviderError) => "provider error",
            Some(Verdict::Inconclusive) => "undecided",
            None => "not measured",
        };
        parts.push(match value {
            Some(value) => format!("{} {value} {mark}", gate.metric),
            None => format!("{} {mark}", gate.metric),
        });
    }
    parts.push(
        match step.status {
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::Halted => "halted",
            StepStatus::NotReached => "not reached",
        }
        .to_owned(),
    );
    parts.join(" · ")
}

fn steps_text(message: &Message) -> String {
    crate::text::shorten(&message.steps.join("\n"), STEPS_LIMIT)
}

/// Slack's mrkdwn: `&`, `<` and `>` are escaped, links are `<url|text>`.
fn slack(message: &Message) -> Value {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut text = format!(
        "*{}*\n{}",
        escape(&message.headline),
        escape(&message.subtitle)
    );
    if let Some(url) = &message.run_url {
        text.push_str(&format!(" · <{}|Open the run>", escape(url)));
    }
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
    if !message.steps.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": escape(&steps_text(message))},
        }));
    }
    // `text` is what notifications and clients without blocks show.
    json!({"text": message.headline, "blocks": blocks})
}

/// An Adaptive Card in the message a Teams Workflows webhook expects.
fn teams(message: &Message) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": message.headline, "weight": "Bolder", "wrap": true}),
        json!({"type": "TextBlock", "text": message.subtitle, "isSubtle": true, "wrap": true}),
    ];
    if !message.steps.is_empty() {
        body.push(json!({"type": "TextBlock", "text": steps_text(message), "wrap": true}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(url) = &message.run_url {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open the run", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": card,
        }],
    })
}

/// Posts the message when the command ends; nothing before.
pub struct Webhook {
    http: reqwest::Client,
    url: Secret,
    format: WebhookFormat,
    title: Option<String>,
    run_url: Option<String>,
}

impl Webhook {
    pub fn new(
        url: Secret,
        format: WebhookFormat,
        title: Option<String>,
        run_url: Option<String>,
    ) -> Result<Self, String> {
        // main.rs installs ring for the process; a library caller may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("greenlight/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|error| format!("cannot build the chat webhook client: {error}"))?;
        Ok(Self {
            http,
            url,
            format,
            title,
            run_url,
        })
    }
}

#[async_trait]
impl ForgeReporter for Webhook {
    async fn update(&mut self, _events: &[Event]) -> Result<(), String> {
        Ok(())
    }

    async fn finish(&mut self, report: &Report) -> Result<(), String> {
        // The report's own run link when the command set one.
        let run_url = report.links.run.as_deref().or(self.run_url.as_deref());
        let body = payload(self.format, report, self.title.as_deref(), run_url);
        // The URL is the secret: errors never name it.
        let response = self
            .http
            .post(self.url.expose())
            .json(&body)
            .send()
            .await
            .map_err(|error| {
                format!(
                    "the chat webhook did not take the message: {}",
                    error.without_url()
                )
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(crate::secrets::mask(&format!(
            "the chat webhook answered {status}: {}",
            crate::text::shorten(text.trim(), 200)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Outcome;
    use crate::engine::plan::StrategyKind;
    use crate::judge::Threshold;
    use crate::report::{GateDigest, StepDigest};
    use crate::traffic::Weight;

    fn rolled_back() -> Report {
        let gate = |value, verdict| GateDigest {
            metric: "error-rate".into(),
            threshold: Threshold::ANY,
            value: Some(value),
            measurements: 2,
            verdict: Some(verdict),
            evidence: None,
        };
        Report {
            outcome: Outcome::RolledBack,
            reason: "error-rate 0.31 is above 0.05 at step 2".into(),
            name: "checkout".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
            strategy: StrategyKind::Canary,
            started_at: None,
            finished_at: None,
            steps: vec![
                StepDigest {
                    step: 1,
                    weight: Weight::new(10).unwrap(),
                    planned_hold_ms: 30_000,
                    held_ms: Some(30_000),
                    gates: vec![gate(0.004, Verdict::Pass)],
                    status: StepStatus::Passed,
                },
                StepDigest {
                    step: 2,
                    weight: Weight::new(50).unwrap(),
                    planned_hold_ms: 30_000,
                    held_ms: None,
                    gates: vec![gate(0.31, Verdict::Fail)],
                    status: StepStatus::Failed,
                },
            ],
            checks: Vec::new(),
            blast_radius: None,
            timeline: Vec::new(),
            links: Default::default(),
        }
    }

    const RUN: &str = "https://github.com/acme/shop/actions/runs/7";

    #[test]
    fn slack_gets_mrkdwn_with_the_headline_link_and_numbers() {
        let body = payload(WebhookFormat::Slack, &rolled_back(), None, Some(RUN));
        assert_eq!(
            body["text"],
            "↩️ checkout v2 rolled back: error-rate 0.31 is above 0.05 at step 2. All traffic is back on v1."
        );
        assert_eq!(
            body["blocks"][0]["text"]["text"],
            format!(
                "*{}*\ngreenlight: checkout · v1 → v2 · <{RUN}|Open the run>",
                body["text"].as_str().unwrap()
            )
        );
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "Step 1 · 10% · held 30s · error-rate 0.004 ✅ · passed\nStep 2 · 50% · held – · error-rate 0.31 ❌ · failed"
        );
    }

    #[test]
    fn teams_gets_an_adaptive_card_with_a_link_to_the_run() {
        let body = payload(
            WebhookFormat::Teams,
            &rolled_back(),
            Some("Shop"),
            Some(RUN),
        );
        assert_eq!(body["type"], "message");
        let card = &body["attachments"][0]["content"];
        assert_eq!(
            body["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][1]["text"], "Shop · v1 → v2");
        assert!(
            card["body"][2]["text"]
                .as_str()
                .unwrap()
                .contains("error-rate 0.31 ❌")
        );
        assert_eq!(card["actions"][0]["url"], RUN);
    }

    #[test]
    fn json_has_the_reports_own_fields() {
        let body = payload(WebhookFormat::Json, &rolled_back(), None, None);
        assert_eq!(body["outcome"], "rolled_back");
        assert_eq!(body["service"], "checkout");
        assert_eq!(body["runUrl"], Value::Null);
        assert_eq!(body["steps"][1]["gates"][0]["value"], 0.31);
        assert!(
            body["headline"]
                .as_str()
                .unwrap()
                .starts_with("↩️ checkout v2 rolled back")
        );
    }

    #[test]
    fn slack_text_is_escaped() {
        let mut report = rolled_back();
        report.reason = "a <b> & c".into();
        let body = payload(WebhookFormat::Slack, &report, None, None);
        let text = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.contains("a &lt;b&gt; &amp; c"), "{text}");
    }
}

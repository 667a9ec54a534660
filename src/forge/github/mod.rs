//! The GitHub Actions runtime protocol: workflow commands (`::add-mask::`),
//! the event payload, `GITHUB_OUTPUT` and the job summary file. The reporters
//! that talk to GitHub's API are in [`report`].

pub mod report;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::secrets::Secret;
use crate::template::CiFacts;

/// Where a token can come from: the action's contract first, then the usual
/// name for workflows that run the binary themselves.
pub const TOKEN_VARIABLES: [&str; 2] = ["GREENLIGHT_GITHUB_TOKEN", "GITHUB_TOKEN"];

/// GitHub drops a step summary above 1 MiB whole, so ours stays under it.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// What the binary needs from a GitHub Actions job.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token: Option<Secret>,
    /// Keep the sticky pull-request comment (`GREENLIGHT_COMMENT`, default true).
    pub comment: bool,
    /// Append to the job summary (`GREENLIGHT_SUMMARY`, default true).
    pub summary: bool,
    /// Record a GitHub deployment (`GREENLIGHT_DEPLOYMENT`, default false).
    pub deployment: bool,
    pub environment: String,
    pub environment_url: Option<String>,
    /// `GITHUB_API_URL`: api.github.com, or `https://HOST/api/v3` on GHES.
    pub api_url: String,
    /// `owner/name`.
    pub repository: Option<String>,
    pub sha: Option<String>,
    pub run_url: Option<String>,
    pub pr: Option<u64>,
    pub output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
}

impl Settings {
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>, facts: &CiFacts) -> Self {
        Self {
            token: TOKEN_VARIABLES
                .iter()
                .find_map(|name| Secret::new(lookup(name))),
            comment: flag(lookup, "GREENLIGHT_COMMENT", true),
            summary: flag(lookup, "GREENLIGHT_SUMMARY", true),
            deployment: flag(lookup, "GREENLIGHT_DEPLOYMENT", false),
            environment: super::environment(lookup),
            environment_url: lookup("GREENLIGHT_ENVIRONMENT_URL").filter(|url| !url.is_empty()),
            api_url: lookup("GITHUB_API_URL")
                .filter(|url| !url.is_empty())
                .unwrap_or_else(|| "https://api.github.com".to_owned()),
            repository: lookup("GITHUB_REPOSITORY").filter(|name| name.contains('/')),
            sha: facts.sha.clone(),
            run_url: facts.run_url.clone(),
            pr: facts.pr,
            output: lookup("GITHUB_OUTPUT")
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            step_summary: lookup("GITHUB_STEP_SUMMARY")
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// A problem with what the workflow gave greenlight, as a `::warning::`.
fn warn(message: &str) {
    eprintln!("{}", crate::report::live::Log::GitHub.warning(message));
}

/// A `true|false` switch; anything else keeps the default, with a warning.
pub(super) fn flag(lookup: &dyn Fn(&str) -> Option<String>, name: &str, default: bool) -> bool {
    match lookup(name).as_deref().map(str::trim) {
        None | Some("") => default,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(value) => {
            warn(&format!(
                "{name}={value:?} is neither true nor false; using {default}"
            ));
            default
        }
    }
}

/// What greenlight reads from the event that started the workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPayload {
    /// `pull_request.number` on pull-request events.
    pub pr: Option<u64>,
    /// `inputs` of a `workflow_dispatch` event, as strings.
    pub inputs: BTreeMap<String, String>,
}

impl EventPayload {
    pub fn parse(text: &str) -> Result<Self, String> {
        let payload: serde_json::Value = serde_json::from_str(text)
            .map_err(|error| format!("the event payload is not JSON: {error}"))?;
        let pr = payload
            .get("pull_request")
            .and_then(|pull| pull.get("number"))
            .and_then(serde_json::Value::as_u64);
        let inputs = payload
            .get("inputs")
            .and_then(serde_json::Value::as_object)
            .map(|inputs| {
                inputs
                    .iter()
                    .map(|(name, value)| {
                        let value = match value {
                            serde_json::Value::String(text) => text.clone(),
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (name.clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self { pr, inputs })
    }

    /// Reads `GITHUB_EVENT_PATH`; a missing or broken file is a warning, since
    /// the rollout itself does not depend on it.
    pub fn read(path: &Path) -> Self {
        let parsed = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the event payload: {error}"))
            .and_then(|text| Self::parse(&text));
        parsed.unwrap_or_else(|error| {
            warn(&format!("{error} ({})", path.display()));
            Self::default()
        })
    }
}

/// A heredoc delimiter nobody can predict or smuggle into a value.
fn delimiter(value: &str) -> String {
    loop {
        let state = RandomState::new();
        let candidate = format!(
            "ghadelimiter_{:016x}{:016x}",
            state.hash_one(value),
            state.hash_one(std::process::id())
        );
        if !value.contains(&candidate) {
            return candidate;
        }
    }
}

/// One `GITHUB_OUTPUT` entry: `name=value`, or a heredoc for multiline values.
pub fn output_entry(name: &str, value: &str) -> String {
    if value.contains('\n') || value.contains('\r') {
        let delimiter = delimiter(value);
        format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
    } else {
        format!("{name}={value}\n")
    }
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(crate::secrets::mask(text).as_bytes()))
        .map_err(|error| format!("cannot append to {}: {error}", path.display()))
}

pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> Result<(), String> {
    let text: String = outputs
        .iter()
        .map(|(name, value)| output_entry(name, value))
        .collect();
    append(path, &text)
}

/// Appends `markdown` to the job summary, which the runner may already have
/// filled in part for this step.
pub fn append_step_summary(path: &Path, markdown: &str) -> Result<(), String> {
    append(path, markdown)
}

/// Bytes left in this step's summary file.
pub fn step_summary_room(path: &Path) -> usize {
    let used = std::fs::metadata(path).map_or(0, |meta| meta.len());
    STEP_SUMMARY_LIMIT.saturating_sub(usize::try_from(used).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_outputs_use_a_fresh_delimiter() {
        assert_eq!(output_entry("outcome", "promoted"), "outcome=promoted\n");
        let entry = output_entry("report", "a\nb");
        let (head, rest) = entry.split_once('\n').unwrap();
        let delimiter = head.strip_prefix("report<<").unwrap();
        assert!(delimiter.len() > 40, "{delimiter}");
        assert_eq!(rest, format!("a\nb\n{delimiter}\n"));
        assert_ne!(delimiter, super::delimiter("a\nb"));
    }

    #[test]
    fn the_payload_gives_the_pr_and_the_dispatch_inputs() {
        let pr = EventPayload::parse(r#"{"pull_request": {"number": 42}}"#).unwrap();
        assert_eq!(pr.pr, Some(42));
        let dispatch =
            EventPayload::parse(r#"{"inputs": {"version": "v3", "dry": true, "n": null}}"#)
                .unwrap();
        assert_eq!(dispatch.pr, None);
        assert_eq!(dispatch.inputs["version"], "v3");
        assert_eq!(dispatch.inputs["dry"], "true");
        assert_eq!(dispatch.inputs["n"], "");
        assert!(EventPayload::parse("not json").is_err());
    }
}

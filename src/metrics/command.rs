//! `query: {command: …}`: a metric from any script that prints a number.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Measurement, MetricSource, QuerySettings, SharedSettings};
use crate::field::{FieldPath, Problem, require_text};
use crate::process::run_script;
use crate::provider::{ProviderContext, ProviderError};
use crate::release::Release;

/// `query: {command: …}`: a shell command run with `sh -c`, with the rollout
/// context in its environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct CommandQuery(pub String);

crate::text::text_setting!(CommandQuery);

impl QuerySettings for CommandQuery {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn check(&self, path: FieldPath, _shared: SharedSettings<'_>, problems: &mut Vec<Problem>) {
        require_text(&self.0, path, problems);
    }

    fn build(
        &self,
        _shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<Box<dyn MetricSource>, ProviderError> {
        Ok(Box::new(CommandMetric {
            script: self.0.clone(),
            release: context.release.clone(),
        }))
    }
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// A metric printed by a shell command run with the rollout context in its environment.
pub struct CommandMetric {
    pub script: String,
    pub release: Release,
}

#[async_trait]
impl MetricSource for CommandMetric {
    fn describe(&self) -> String {
        format!("command `{}`", self.script)
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        let finished = run_script(&self.script, &self.release.env(), TIMEOUT, "").await?;
        let printed = finished.stdout.trim();
        if printed.is_empty() {
            return Ok(Measurement::NoData);
        }
        // NaN and infinities are passed on: the domain check reports them.
        printed.parse::<f64>().map(Measurement::Value).map_err(|_| {
            ProviderError::new(format!(
                "`{}` printed `{printed}`, not a number",
                self.script
            ))
            .with_hint("print one number, or nothing when there is no data")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(script: &str) -> CommandMetric {
        let release = Release {
            name: "web".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
        };
        CommandMetric {
            script: script.to_owned(),
            release,
        }
    }

    #[tokio::test]
    async fn numbers_nan_and_silence() {
        assert_eq!(
            metric("echo 0.25").measure().await,
            Ok(Measurement::Value(0.25))
        );
        assert!(matches!(
            metric("echo NaN").measure().await,
            Ok(Measurement::Value(v)) if v.is_nan()
        ));
        assert_eq!(metric("true").measure().await, Ok(Measurement::NoData));
        assert!(metric("echo lots").measure().await.is_err());
    }
}

//! `query: {counts: …}`: per-version request and error counts built from any
//! number sources (Prometheus, HTTP JSON, commands), for comparison gates and
//! for rate thresholds that must know their sample size.

use async_trait::async_trait;

use super::{Measurement, MetricSource};
use crate::judge::Counts;
use crate::judge::evidence::VersionCounts;
use crate::provider::ProviderError;

/// The requests and errors of one version, each from a source of its own.
pub struct VersionSources {
    pub requests: Box<dyn MetricSource>,
    pub errors: Box<dyn MetricSource>,
}

pub struct CountsSource {
    new: VersionSources,
    stable: Option<VersionSources>,
}

impl CountsSource {
    /// The sources of each count are checked against `MetricDomain::NonNegative`
    /// by whoever builds them; a count is never negative, NaN or infinite.
    pub fn new(new: VersionSources, stable: Option<VersionSources>) -> Self {
        Self { new, stable }
    }
}

/// One count: a finite number ≥ 0, rounded (`increase()` extrapolates to fractions).
async fn count(source: &dyn MetricSource, what: &str) -> Result<Option<u64>, ProviderError> {
    match source.measure().await? {
        Measurement::NoData => Ok(None),
        Measurement::Value(value) if value.is_finite() && value >= 0.0 => {
            Ok(Some(value.round() as u64))
        }
        Measurement::Value(value) => Err(ProviderError::new(format!(
            "{what} ({}) must be a count: a finite number, 0 or more; got {value}",
            source.describe()
        ))),
        Measurement::Counts(_) => Err(ProviderError::new(format!(
            "{what} ({}) must be one number, not per-version counts",
            source.describe()
        ))),
    }
}

async fn version_counts(
    sources: &VersionSources,
    version: &str,
) -> Result<Option<Counts>, ProviderError> {
    let requests = count(sources.requests.as_ref(), &format!("{version} requests")).await?;
    let errors = count(sources.errors.as_ref(), &format!("{version} errors")).await?;
    match (requests, errors) {
        (Some(requests), errors) => {
            let events = errors.unwrap_or(0);
            if events > requests {
                return Err(ProviderError::new(format!(
                    "{version}: {events} errors out of {requests} requests; check that both queries cover the same requests and window"
                )));
            }
            Ok(Some(Counts { requests, events }))
        }
        (None, _) => Ok(None),
    }
}

#[async_trait]
impl MetricSource for CountsSource {
    fn describe(&self) -> String {
        format!(
            "counts of {} and {}",
            self.new.requests.describe(),
            self.new.errors.describe()
        )
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        // An error query with no data means no errors once requests are known
        // (`sum(increase(...{code=~"5.."}))` is empty when nothing failed).
        let Some(new) = version_counts(&self.new, "new version").await? else {
            return Ok(Measurement::NoData);
        };
        let stable = match &self.stable {
            Some(sources) => Some(
                version_counts(sources, "stable version")
                    .await?
                    .unwrap_or_default(),
            ),
            None => None,
        };
        if new.requests == 0 {
            return Ok(Measurement::NoData);
        }
        Ok(Measurement::Counts(VersionCounts {
            new,
            stable,
            slower_than_ms: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::command::CommandMetric;
    use crate::release::Release;

    fn command(script: &str) -> Box<dyn MetricSource> {
        let release = Release {
            name: "web".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
        };
        Box::new(CommandMetric {
            script: script.to_owned(),
            release,
        })
    }

    fn source(new: (&str, &str), stable: Option<(&str, &str)>) -> CountsSource {
        let version = |(requests, errors): (&str, &str)| VersionSources {
            requests: command(requests),
            errors: command(errors),
        };
        CountsSource {
            new: version(new),
            stable: stable.map(version),
        }
    }

    #[tokio::test]
    async fn four_queries_make_per_version_counts() {
        let measured = source(("echo 1000", "echo 20.4"), Some(("echo 9000", "echo 90")))
            .measure()
            .await;
        assert_eq!(
            measured,
            Ok(Measurement::Counts(VersionCounts {
                new: Counts {
                    requests: 1_000,
                    events: 20
                },
                stable: Some(Counts {
                    requests: 9_000,
                    events: 90
                }),
                slower_than_ms: None,
            }))
        );
    }

    #[tokio::test]
    async fn silence_means_no_errors_but_no_requests_means_no_data() {
        let no_errors = source(("echo 500", "true"), None).measure().await;
        assert_eq!(
            no_errors.map(Measurement::as_number),
            Ok(Measurement::Value(0.0))
        );
        assert_eq!(
            source(("true", "echo 3"), None).measure().await,
            Ok(Measurement::NoData)
        );
        assert_eq!(
            source(("echo 0", "echo 0"), None).measure().await,
            Ok(Measurement::NoData)
        );
    }

    #[tokio::test]
    async fn impossible_counts_are_provider_errors() {
        let more_errors = source(("echo 10", "echo 11"), None).measure().await;
        assert!(
            more_errors
                .is_err_and(|error| error.to_string().contains("11 errors out of 10 requests"))
        );
        assert!(source(("echo -5", "echo 0"), None).measure().await.is_err());
        assert!(
            source(("echo 10", "echo 1"), Some(("echo inf", "echo 0")))
                .measure()
                .await
                .is_err()
        );
    }
}

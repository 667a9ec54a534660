//! Where an observation enters the engine: a value that is not a number a
//! gate can compare (NaN, ±infinity) or that the query cannot return (a rate
//! below 0, a negative latency) is a provider error naming the query, never a
//! value a threshold could pass.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Measurement, MetricSource};
use crate::provider::ProviderError;

/// The values a metric can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MetricDomain {
    /// A share from 0 to 1 (an error rate, a success ratio).
    Rate,
    /// Zero or more (a latency, a count, a duration).
    NonNegative,
    /// Any finite number.
    Any,
}

/// Why `value` is not in `domain`, if it is not.
pub fn outside(value: f64, domain: MetricDomain) -> Option<String> {
    if value.is_nan() {
        return Some("NaN is not a measurement".to_owned());
    }
    if value.is_infinite() {
        return Some(format!("{value} is not a measurement"));
    }
    match domain {
        MetricDomain::Rate if !(0.0..=1.0).contains(&value) => {
            Some(format!("{value} is outside the domain `rate` (0 to 1)"))
        }
        MetricDomain::NonNegative if value < 0.0 => {
            Some(format!("{value} is outside the domain `nonNegative` (≥ 0)"))
        }
        _ => None,
    }
}

/// A metric source whose values are checked against a domain.
pub struct InDomain {
    source: Box<dyn MetricSource>,
    domain: MetricDomain,
}

impl InDomain {
    pub fn new(source: Box<dyn MetricSource>, domain: MetricDomain) -> Self {
        Self { source, domain }
    }
}

#[async_trait]
impl MetricSource for InDomain {
    fn describe(&self) -> String {
        self.source.describe()
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        let measurement = self.source.measure().await?;
        let Measurement::Value(value) = measurement else {
            return Ok(measurement);
        };
        match outside(value, self.domain) {
            None => Ok(measurement),
            Some(why) => Err(ProviderError::new(format!(
                "{} returned a broken value: {why}",
                self.source.describe()
            ))
            .with_hint(if value.is_nan() {
                "NaN is usually 0/0 (no requests in the window): make the query return nothing then, e.g. divide by `(sum(rate(...)) > 0)`, so `noData` applies"
            } else {
                "fix the query, or declare its `domain` (rate, nonNegative, any)"
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(f64);

    #[async_trait]
    impl MetricSource for Fixed {
        fn describe(&self) -> String {
            "query `errors`".to_owned()
        }

        async fn measure(&self) -> Result<Measurement, ProviderError> {
            Ok(Measurement::Value(self.0))
        }
    }

    async fn measured(value: f64, domain: MetricDomain) -> Result<Measurement, ProviderError> {
        InDomain::new(Box::new(Fixed(value)), domain)
            .measure()
            .await
    }

    #[tokio::test]
    async fn non_finite_values_are_errors_in_every_domain() {
        for domain in [
            MetricDomain::Rate,
            MetricDomain::NonNegative,
            MetricDomain::Any,
        ] {
            for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let error = measured(value, domain).await.unwrap_err();
                assert!(
                    error.message.starts_with("query `errors` returned"),
                    "{error}"
                );
            }
        }
    }

    #[tokio::test]
    async fn domains_bound_the_values() {
        assert!(measured(-1.0, MetricDomain::Rate).await.is_err());
        assert!(measured(1.5, MetricDomain::Rate).await.is_err());
        assert!(measured(-0.1, MetricDomain::NonNegative).await.is_err());
        assert_eq!(
            measured(-1.0, MetricDomain::Any).await,
            Ok(Measurement::Value(-1.0))
        );
        assert_eq!(
            measured(1.0, MetricDomain::Rate).await,
            Ok(Measurement::Value(1.0))
        );
        assert_eq!(
            measured(0.0, MetricDomain::NonNegative).await,
            Ok(Measurement::Value(0.0))
        );
    }
}

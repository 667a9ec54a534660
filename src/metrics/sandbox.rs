//! `query: {sandbox: …}`: what the demo's proxy saw of the new version.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Measurement, MetricSource};
use crate::provider::ProviderError;
use crate::sandbox::{Sandbox, Side};
use crate::spec::types::SandboxStat;

pub struct SandboxMetric {
    sandbox: Arc<Sandbox>,
    stat: SandboxStat,
    window: Duration,
}

impl SandboxMetric {
    pub fn new(sandbox: Arc<Sandbox>, stat: SandboxStat, window: Duration) -> Self {
        Self {
            sandbox,
            stat,
            window,
        }
    }
}

#[async_trait]
impl MetricSource for SandboxMetric {
    fn describe(&self) -> String {
        format!("sandbox {:?} over the last {:?}", self.stat, self.window)
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        let window = self.sandbox.stats().window_last(Side::New, self.window);
        // No requests in the window is "no data", never a perfect score.
        let value = match self.stat {
            SandboxStat::ErrorRate => window.error_rate,
            SandboxStat::P99LatencyMs => window.p99.map(|p99| p99.as_secs_f64() * 1000.0),
        };
        Ok(value.map_or(Measurement::NoData, Measurement::Value))
    }
}

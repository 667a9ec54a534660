//! Analysis semantics: how measurements of one metric add up to "go on",
//! "roll back" or "halt" under the spec's limits.

use crate::judge::Verdict;
use crate::metrics::Measurement;
use crate::provider::ProviderError;
use crate::spec::types::NoDataPolicy;

use super::plan::{AnalysisPolicy, Gate};

/// Counters of one metric across the whole rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub failures: u32,
    pub consecutive_errors: u32,
    pub consecutive_no_data: u32,
}

/// What one measurement means for the rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Continue,
    RollBack(String),
    Halt(String),
}

/// One measurement, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub verdict: Verdict,
    pub value: Option<f64>,
    pub error: Option<String>,
    /// Whether it counts towards the step's minimum samples.
    pub is_sample: bool,
    pub decision: Decision,
}

pub fn judge(
    policy: &AnalysisPolicy,
    gate: &Gate,
    tally: &mut Tally,
    measured: &Result<Measurement, ProviderError>,
) -> Judged {
    let metric = &gate.metric;
    match measured {
        Ok(Measurement::Value(value)) => {
            tally.consecutive_errors = 0;
            tally.consecutive_no_data = 0;
            let verdict = gate.threshold.judge(*value);
            let mut decision = Decision::Continue;
            if verdict == Verdict::Fail {
                tally.failures += 1;
                if tally.failures >= policy.failure_limit {
                    decision = Decision::RollBack(format!(
                        "`{metric}` was {}, outside {} ({} failed measurement(s), failureLimit {})",
                        crate::judge::format_value(*value),
                        gate.threshold,
                        tally.failures,
                        policy.failure_limit
                    ));
                }
            }
            Judged {
                verdict,
                value: Some(*value),
                error: None,
                is_sample: true,
                decision,
            }
        }
        Ok(Measurement::NoData) => {
            tally.consecutive_errors = 0;
            tally.consecutive_no_data += 1;
            let streak = tally.consecutive_no_data;
            let mut decision = Decision::Continue;
            if streak >= policy.no_data_limit {
                let what = format!("`{metric}` had no data {streak} time(s) in a row");
                decision = match policy.no_data {
                    NoDataPolicy::Halt => Decision::Halt(format!("{what} (noData: halt)")),
                    NoDataPolicy::Fail => {
                        tally.failures += 1;
                        if tally.failures >= policy.failure_limit {
                            Decision::RollBack(format!("{what} (noData: fail)"))
                        } else {
                            Decision::Continue
                        }
                    }
                    NoDataPolicy::Ignore => Decision::Continue,
                };
            }
            Judged {
                verdict: Verdict::NoData,
                value: None,
                error: None,
                is_sample: false,
                decision,
            }
        }
        Err(error) => {
            tally.consecutive_errors += 1;
            let streak = tally.consecutive_errors;
            let decision = if streak >= policy.consecutive_error_limit {
                Decision::Halt(format!(
                    "`{metric}`: the metric provider failed {streak} time(s) in a row: {error}"
                ))
            } else {
                Decision::Continue
            };
            Judged {
                verdict: Verdict::ProviderError,
                value: None,
                error: Some(error.to_string()),
                is_sample: false,
                decision,
            }
        }
    }
}

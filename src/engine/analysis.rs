//! Analysis semantics: how measurements of one metric add up to "go on",
//! "roll back" or "halt" under the spec's limits.

use crate::judge::evidence::{Evidence, VersionCounts};
use crate::judge::{Call, RateComparison, Verdict};
use crate::metrics::Measurement;
use crate::provider::ProviderError;
use crate::spec::types::NoDataPolicy;

use super::plan::{AnalysisPolicy, Comparison, Counted, Gate};

/// Counters of one metric across the whole rollout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub failures: u32,
    pub consecutive_errors: u32,
    pub consecutive_no_data: u32,
    /// A comparison gate's evidence: every window of every step adds to it.
    pub comparison: Option<RateComparison>,
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
    /// Requests behind the value, when the source counted them.
    pub requests: Option<u64>,
    pub evidence: Option<Evidence>,
}

impl Judged {
    fn plain(verdict: Verdict, value: Option<f64>, is_sample: bool, decision: Decision) -> Self {
        Self {
            verdict,
            value,
            error: None,
            is_sample,
            decision,
            requests: None,
            evidence: None,
        }
    }
}

/// A comparison gate's running evidence, created on first use.
pub fn comparison<'a>(tally: &'a mut Tally, compare: &Comparison) -> &'a mut RateComparison {
    tally
        .comparison
        .get_or_insert_with(|| RateComparison::new(compare.test))
}

fn compare(gate: &Gate, compare: &Comparison, tally: &mut Tally, counts: &VersionCounts) -> Judged {
    let test = comparison(tally, compare);
    test.observe(counts.new, counts.stable.unwrap_or_default());
    let what = match (compare.counts, counts.slower_than_ms) {
        (Counted::SlowRequests, Some(bound)) => {
            format!(
                "share slower than {}ms",
                crate::judge::format_value(bound.round())
            )
        }
        (Counted::SlowRequests, None) => "share of slow requests".to_owned(),
        (Counted::Errors, _) => "error rate".to_owned(),
    };
    let evidence = Evidence::of(test, &what);
    let (verdict, decision) = match test.call() {
        Call::Regressed => {
            tally.failures += 1;
            let reason = format!(
                "`{}` is worse on the new version: {}",
                gate.metric, evidence.text
            );
            (Verdict::Fail, Decision::RollBack(reason))
        }
        Call::NotWorse => (Verdict::Pass, Decision::Continue),
        Call::Undecided | Call::TooFewRequests => (Verdict::Inconclusive, Decision::Continue),
    };
    Judged {
        verdict,
        value: evidence.ratio,
        error: None,
        is_sample: true,
        decision,
        requests: Some(evidence.new_requests),
        evidence: Some(evidence),
    }
}

pub fn judge(
    policy: &AnalysisPolicy,
    gate: &Gate,
    tally: &mut Tally,
    measured: &Result<Measurement, ProviderError>,
) -> Judged {
    let metric = &gate.metric;
    match measured {
        Ok(Measurement::Counts(counts)) if gate.compare.is_some() || counts.new.requests > 0 => {
            tally.consecutive_errors = 0;
            tally.consecutive_no_data = 0;
            if let Some(settings) = &gate.compare {
                return compare(gate, settings, tally, counts);
            }
            let requests = counts.new.requests;
            if gate.min_requests.is_some_and(|min| requests < min) {
                // Too few requests to trust the rate either way: not a sample.
                let mut judged = Judged::plain(
                    Verdict::Inconclusive,
                    counts.new.rate(),
                    false,
                    Decision::Continue,
                );
                judged.requests = Some(requests);
                return judged;
            }
            let mut judged = judge(
                policy,
                gate,
                tally,
                &Ok(counts
                    .new
                    .rate()
                    .map_or(Measurement::NoData, Measurement::Value)),
            );
            judged.requests = Some(requests);
            judged
        }
        Ok(Measurement::Counts(_)) => judge(policy, gate, tally, &Ok(Measurement::NoData)),
        Ok(Measurement::Value(_)) if gate.compare.is_some() => judge(
            policy,
            gate,
            tally,
            &Err(ProviderError::new(
                "a comparison gate needs per-version counts, and this query returned one number",
            )),
        ),
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
            Judged::plain(verdict, Some(*value), true, decision)
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
            Judged::plain(Verdict::NoData, None, false, decision)
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
            let mut judged = Judged::plain(Verdict::ProviderError, None, false, decision);
            judged.error = Some(error.to_string());
            judged
        }
    }
}

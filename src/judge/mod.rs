//! Turning observations into verdicts: thresholds on one number, and
//! sequential new-versus-stable comparisons that stay valid at every look.

pub mod evidence;
pub mod sequential;
pub mod simulate;
mod threshold;

pub use sequential::{Call, CompareConfig, Counts, Margin, RateComparison};
pub use threshold::Threshold;

use serde::Serialize;

/// What one measurement, or a whole gate, came to.
///
/// Kept apart on purpose: "the metric failed", "there was no data", "the
/// provider errored" and "too few samples" call for different actions, and
/// confusing them is the commonest complaint about rollout controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NoData,
    ProviderError,
    /// Not enough samples to decide.
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NoData => "no data",
            Verdict::ProviderError => "provider error",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A measured value, short: 0.0123, 250, 1.5e-5.
pub fn format_value(value: f64) -> String {
    if value != 0.0 && value.abs() < 1e-4 {
        return format!("{value:.2e}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

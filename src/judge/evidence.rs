//! What a comparison gate saw, in numbers and in one sentence a reviewer can
//! check: "error rate 2.1% vs 1.0%, ratio 2.1 (99% interval 1.4–3.2), after
//! 4,810 requests to the new version".

use serde::Serialize;

use super::sequential::{Counts, RateComparison};

/// Per-version counts over one window, as a metric source reports them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VersionCounts {
    pub new: Counts,
    /// Absent for sources that only count the new version (rate thresholds).
    pub stable: Option<Counts>,
    /// For latency gates: a request is an event when slower than this many ms.
    pub slower_than_ms: Option<f64>,
}

/// A comparison gate's estimates after a look, for the timeline and reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub new_requests: u64,
    pub new_events: u64,
    pub stable_requests: u64,
    pub stable_events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// The anytime-valid interval of the ratio, at the gate's 1 − alpha.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_low: Option<f64>,
    /// `None` when the data does not bound the ratio from above yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_high: Option<f64>,
    pub confidence: f64,
    pub text: String,
}

impl Evidence {
    /// `what` names the rate: "error rate", or "share slower than 182 ms".
    pub fn of(comparison: &RateComparison, what: &str) -> Self {
        let (new, stable) = comparison.totals();
        let confidence = 1.0 - comparison.config().alpha;
        let interval = comparison.interval();
        let ratio = comparison.ratio();
        let rates = match (new.rate(), stable.rate()) {
            (Some(new), Some(stable)) => format!("{what} {} vs {}", percent(new), percent(stable)),
            (Some(new), None) => format!("{what} {} (stable had no requests)", percent(new)),
            _ => format!("{what}: no requests to the new version yet"),
        };
        let bounds = match (ratio, interval) {
            (Some(ratio), Some((low, high))) => format!(
                ", ratio {} ({} interval {}–{})",
                short(ratio),
                percent(confidence),
                short(low),
                if high.is_finite() {
                    short(high)
                } else {
                    "∞".to_owned()
                }
            ),
            _ => ", too few events to bound the ratio".to_owned(),
        };
        Self {
            new_requests: new.requests,
            new_events: new.events,
            stable_requests: stable.requests,
            stable_events: stable.events,
            new_rate: new.rate(),
            stable_rate: stable.rate(),
            ratio,
            ratio_low: interval.map(|(low, _)| low),
            ratio_high: interval
                .map(|(_, high)| high)
                .filter(|high| high.is_finite()),
            confidence,
            text: format!(
                "{rates}{bounds}, after {} requests to the new version",
                thousands(new.requests)
            ),
        }
    }
}

/// The new version's requests and how many of them failed, up to a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BlastRadius {
    pub requests: u64,
    pub failed: u64,
}

impl BlastRadius {
    pub fn text(self) -> String {
        format!(
            "the new version served {} requests, {} of them failed",
            thousands(self.requests),
            thousands(self.failed)
        )
    }
}

/// 0.0213 → "2.1%", 0.00012 → "0.012%".
pub fn percent(rate: f64) -> String {
    let value = rate * 100.0;
    let text = if value == 0.0 || value >= 10.0 {
        format!("{value:.0}")
    } else if value >= 0.1 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    format!("{text}%")
}

fn short(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// 4810 → "4,810".
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{CompareConfig, Margin};

    #[test]
    fn the_sentence_gives_both_rates_the_interval_and_the_sample_size() {
        let mut comparison = RateComparison::new(CompareConfig {
            alpha: 0.01,
            margin: Margin::Relative(0.5),
            min_requests: 0,
        });
        comparison.observe(
            Counts {
                requests: 4_810,
                events: 101,
            },
            Counts {
                requests: 20_000,
                events: 200,
            },
        );
        let evidence = Evidence::of(&comparison, "error rate");
        assert!(
            evidence
                .text
                .starts_with("error rate 2.1% vs 1.0%, ratio 2.1 (99% interval 1."),
            "{}",
            evidence.text
        );
        assert!(
            evidence
                .text
                .ends_with("after 4,810 requests to the new version")
        );
        let (low, high) = (
            evidence.ratio_low.unwrap_or(0.0),
            evidence.ratio_high.unwrap_or(0.0),
        );
        assert!(
            low > 1.0 && low < 2.1 && high > 2.1 && high < 4.0,
            "{low}–{high}"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(percent(0.00012), "0.01%");
    }
}

use std::fmt;

use serde::Serialize;

use super::Verdict;

/// Bounds a metric must stay within; either may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Threshold {
    /// No bound: a comparison gate's (its limit is relative to stable).
    pub const ANY: Threshold = Threshold {
        min: None,
        max: None,
    };

    /// Pass when `min <= value <= max`. NaN never passes.
    pub fn judge(&self, value: f64) -> Verdict {
        let above_min = self.min.is_none_or(|min| value >= min);
        let below_max = self.max.is_none_or(|max| value <= max);
        if above_min && below_max && !value.is_nan() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(min), Some(max)) => write!(f, "{min} ≤ x ≤ {max}"),
            (Some(min), None) => write!(f, "≥ {min}"),
            (None, Some(max)) => write!(f, "≤ {max}"),
            (None, None) => f.write_str("any"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_nan_fails() {
        let threshold = Threshold {
            min: Some(0.5),
            max: Some(1.0),
        };
        assert_eq!(threshold.judge(0.5), Verdict::Pass);
        assert_eq!(threshold.judge(1.0), Verdict::Pass);
        assert_eq!(threshold.judge(1.01), Verdict::Fail);
        assert_eq!(threshold.judge(0.49), Verdict::Fail);
        assert_eq!(threshold.judge(f64::NAN), Verdict::Fail);
        assert_eq!(
            Threshold {
                min: None,
                max: Some(0.01)
            }
            .to_string(),
            "≤ 0.01"
        );
    }
}

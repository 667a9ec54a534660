//! Interpreting the body of `/api/v1/query` (Prometheus HTTP API, "Format overview" and
//! "Expression query result formats").
//!
//! Rules:
//! * a vector with exactly one sample, or a scalar, is a value;
//! * an empty vector is no data — never zero: nothing matched the selector;
//! * `NaN`, `+Inf` and `-Inf` are passed on as they are: the metric's domain check turns them
//!   into a provider error that names the query (a gate never compares them);
//! * several series, a range vector (matrix), a string or a native histogram are errors that
//!   say how to rewrite the query.

use serde::Deserialize;
use serde_json::Value;

use crate::metrics::Measurement;

#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

/// What the body says, before it is turned into a provider error with the address.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Measured {
        measurement: Measurement,
        warnings: Vec<String>,
    },
    /// `status: error`, with Prometheus's `errorType` and `error` verbatim.
    Rejected { error_type: String, error: String },
    /// A well-formed answer greenlight cannot use as one number; the text says why and how to fix
    /// the query.
    Unusable(String),
    /// Not a Prometheus API answer at all.
    NotPrometheus(String),
}

pub fn interpret(body: &str) -> Answer {
    let envelope: Envelope = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(e) => {
            return Answer::NotPrometheus(format!("the body is not Prometheus API JSON ({e})"));
        }
    };
    if envelope.status == "error" {
        return Answer::Rejected {
            error_type: envelope.error_type.unwrap_or_else(|| "unknown".to_owned()),
            error: envelope.error.unwrap_or_default(),
        };
    }
    if envelope.status != "success" {
        return Answer::NotPrometheus(format!("unknown status {:?}", envelope.status));
    }
    let Some(data) = envelope.data else {
        return Answer::NotPrometheus("a success without `data`".to_owned());
    };
    let measured = |measurement| Answer::Measured {
        measurement,
        warnings: envelope.warnings.clone(),
    };
    match data.result_type.as_str() {
        "scalar" => match sample_value(&data.result) {
            Ok(m) => measured(m),
            Err(e) => Answer::NotPrometheus(e),
        },
        "vector" => {
            let Some(series) = data.result.as_array() else {
                return Answer::NotPrometheus("a vector result that is not a list".to_owned());
            };
            match series.as_slice() {
                [] => measured(Measurement::NoData),
                [one] => match one.get("value") {
                    Some(value) => match sample_value(value) {
                        Ok(m) => measured(m),
                        Err(e) => Answer::NotPrometheus(e),
                    },
                    None if one.get("histogram").is_some() => Answer::Unusable(
                        "the query returned a native histogram, not a number; wrap it, e.g. in histogram_quantile(0.99, …) or histogram_count(…)".to_owned(),
                    ),
                    None => Answer::NotPrometheus("a sample without `value`".to_owned()),
                },
                many => Answer::Unusable(format!(
                    "the query returned {} series, a gate needs exactly one; aggregate them, e.g. sum(…) or max(…)",
                    many.len()
                )),
            }
        }
        "matrix" => Answer::Unusable(
            "the query returned a range vector; use an instant vector, e.g. rate(metric[1m]) instead of metric[1m]".to_owned(),
        ),
        "string" => Answer::Unusable("the query returned a string, not a number".to_owned()),
        other => Answer::NotPrometheus(format!("unknown resultType {other:?}")),
    }
}

/// `[ <unix_time>, "<value>" ]`; values are strings because JSON has no NaN or Inf.
fn sample_value(pair: &Value) -> Result<Measurement, String> {
    let text = pair
        .as_array()
        .and_then(|p| p.get(1))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("a sample that is not [time, \"value\"]: {pair}"))?;
    let value = match text {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("a sample value {text:?} that is not a number"))?,
    };
    Ok(Measurement::Value(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(body: &str) -> Measurement {
        match interpret(body) {
            Answer::Measured { measurement, .. } => measurement,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_sample_is_a_value() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1435781451.781,"0.25"]}]}}"#;
        assert_eq!(value(body), Measurement::Value(0.25));
    }

    #[test]
    fn scalar_is_a_value() {
        let body =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"3"]}}"#;
        assert_eq!(value(body), Measurement::Value(3.0));
    }

    #[test]
    fn empty_vector_is_no_data_and_nan_is_passed_on() {
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(value(empty), Measurement::NoData);
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert!(matches!(value(nan), Measurement::Value(v) if v.is_nan()));
    }

    #[test]
    fn infinities_are_values() {
        let inf = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}"#;
        assert_eq!(value(inf), Measurement::Value(f64::INFINITY));
        let neg = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"-Inf"]}}"#;
        assert_eq!(value(neg), Measurement::Value(f64::NEG_INFINITY));
    }

    #[test]
    fn several_series_say_how_many_and_hint_sum() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"0"]}]}}"#;
        match interpret(body) {
            Answer::Unusable(text) => {
                assert!(
                    text.contains("2 series") && text.contains("sum(…)"),
                    "{text}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_are_kept_verbatim() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}"#;
        assert_eq!(
            interpret(body),
            Answer::Rejected {
                error_type: "bad_data".into(),
                error: "invalid parameter \"query\": 1:5: parse error: unexpected end of input"
                    .into()
            }
        );
    }

    #[test]
    fn warnings_are_passed_on() {
        let body = r#"{"status":"success","warnings":["w1"],"data":{"resultType":"scalar","result":[1,"1"]}}"#;
        assert_eq!(
            interpret(body),
            Answer::Measured {
                measurement: Measurement::Value(1.0),
                warnings: vec!["w1".into()]
            }
        );
    }

    #[test]
    fn matrix_string_histogram_and_garbage_are_not_values() {
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(interpret(matrix), Answer::Unusable(t) if t.contains("range vector")));
        let hist = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"1"}]}]}}"#;
        assert!(matches!(interpret(hist), Answer::Unusable(t) if t.contains("histogram")));
        assert!(matches!(interpret("<html>"), Answer::NotPrometheus(_)));
        let bad = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"abc"]}}"#;
        assert!(matches!(interpret(bad), Answer::NotPrometheus(_)));
    }
}

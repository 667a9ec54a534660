//! Conformance: `PrometheusSource` against the example bodies of Prometheus's own OpenAPI
//! document (`prometheus/openapi_3.1_golden.yaml`), served as Prometheus would serve them.
//! Runs only when `GREENLIGHT_REFERENCE` points at the reference folder.

use std::sync::Arc;
use std::time::Duration;

use greenlight::metrics::prometheus::{PrometheusAuth, PrometheusConfig, PrometheusSource};
use greenlight::metrics::{Measurement, MetricSource};
use greenlight::provider::ProviderError;
use serde_json::Value;

use crate::support::http_server::{HttpServer, Response};
use crate::support::net::http_client;
use crate::support::reference::{read, reference_dir};

/// The `/query` examples, by name, as JSON bodies.
fn query_examples(dir: &std::path::Path) -> (Value, Value) {
    let text = read(dir, "prometheus/openapi_3.1_golden.yaml");
    let document: Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("the OpenAPI document does not parse: {e}"));
    let responses = &document["paths"]["/query"]["get"]["responses"];
    let success = responses["200"]["content"]["application/json"]["examples"].clone();
    let error = responses["default"]["content"]["application/json"]["examples"].clone();
    assert!(
        success.is_object() && error.is_object(),
        "no /query examples"
    );
    (success, error)
}

/// Measures against a server that answers every request with `body`.
async fn measure(status: u16, body: &Value) -> Result<Measurement, ProviderError> {
    let body = body.to_string();
    let server = HttpServer::start(Arc::new(move |_| Response::json(status, body.clone()))).await;
    PrometheusSource::new(
        PrometheusConfig {
            address: server.url(""),
            query: "up".into(),
            timeout: Duration::from_secs(2),
            auth: PrometheusAuth::None,
        },
        http_client(),
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("cannot build the source: {e}"))
    .measure()
    .await
}

#[tokio::test]
async fn prometheus_source_reads_the_upstream_query_examples() {
    let Some(dir) = reference_dir() else { return };
    let (success, error) = query_examples(&dir);

    let scalar = &success["scalarResult"]["value"];
    assert_eq!(
        measure(200, scalar).await.unwrap(),
        Measurement::Value(42.0)
    );

    // The upstream vector has two series: a gate needs one, and says how to get it.
    let vector = &success["vectorResult"]["value"];
    let err = measure(200, vector).await.unwrap_err();
    assert!(err.message.contains("returned 2 series"), "{}", err.message);
    let mut one = vector.clone();
    if let Some(result) = one["data"]["result"].as_array_mut() {
        result.truncate(1);
    }
    assert_eq!(measure(200, &one).await.unwrap(), Measurement::Value(1.0));
    let mut empty = vector.clone();
    empty["data"]["result"] = Value::Array(Vec::new());
    assert_eq!(measure(200, &empty).await.unwrap(), Measurement::NoData);

    let matrix = &success["matrixResult"]["value"];
    let err = measure(200, matrix).await.unwrap_err();
    assert!(err.message.contains("range vector"), "{}", err.message);

    // Prometheus answers `internal` errors with HTTP 500; its words are quoted.
    let not_ready = &error["tsdbNotReady"]["value"];
    let err = measure(500, not_ready).await.unwrap_err();
    assert!(
        err.message
            .ends_with("HTTP 500 Internal Server Error, internal: TSDB not ready"),
        "{}",
        err.message
    );
}

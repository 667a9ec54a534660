//! The HAProxy router and the Prometheus and HTTP JSON metric sources against real programs:
//! haproxy and prometheus from Debian, and the sandbox's app servers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use greenlight::duration::Span;
use greenlight::metrics::http::{HttpJsonSource, HttpQuery};
use greenlight::metrics::prometheus::{PrometheusAuth, PrometheusConfig, PrometheusSource};
use greenlight::metrics::{Measurement, MetricSource};
use greenlight::provider::ProviderError;
use greenlight::router::Router;
use greenlight::router::haproxy::{
    HaproxyConfig, HaproxyRouter, RuntimeApiAddress, ServerAdminState,
};
use greenlight::sandbox::{AppServer, Faults};
use greenlight::traffic::{Side, Weight};

use crate::support::haproxy::{BACKEND, Haproxy};
use crate::support::http_server::{HttpServer, Response};
use crate::support::net::{http_client, refusing_address};
use crate::support::prometheus::Prometheus;
use crate::support::rollout::{HaproxyRollout, Steps, describe};
use crate::support::wait;

fn pct(p: u8) -> Weight {
    Weight::new(p).unwrap()
}

async fn app(version: &str, faults: Faults) -> AppServer {
    AppServer::start(version, faults)
        .await
        .unwrap_or_else(|e| panic!("cannot start app {version}: {e}"))
}

/// HAProxy in front of `stable` and `new` app servers, all healthy, all traffic on stable.
struct Setup {
    haproxy: Haproxy,
    stable: Vec<AppServer>,
    new: Vec<AppServer>,
}

impl Setup {
    async fn start(stable: usize, new: usize) -> Setup {
        let mut stable_apps = Vec::new();
        for _ in 0..stable {
            stable_apps.push(app("stable", Faults::NONE).await);
        }
        let mut new_apps = Vec::new();
        for _ in 0..new {
            new_apps.push(app("new", Faults::NONE).await);
        }
        let servers =
            |prefix: &str, apps: &[AppServer], weight: u16| -> Vec<(String, SocketAddr, u16)> {
                apps.iter()
                    .enumerate()
                    .map(|(i, a)| (format!("{prefix}{}", i + 1), a.addr(), weight))
                    .collect()
            };
        let (s, n) = (
            servers("stable", &stable_apps, 256),
            servers("new", &new_apps, 0),
        );
        let haproxy = Haproxy::start(&s, &n).await;
        Setup {
            haproxy,
            stable: stable_apps,
            new: new_apps,
        }
    }

    fn config(&self, socket: RuntimeApiAddress) -> HaproxyConfig {
        HaproxyConfig::new(
            socket,
            BACKEND,
            (1..=self.stable.len())
                .map(|i| format!("stable{i}"))
                .collect(),
            (1..=self.new.len()).map(|i| format!("new{i}")).collect(),
        )
    }

    fn router(&self) -> HaproxyRouter {
        HaproxyRouter::new(self.config(RuntimeApiAddress::Unix(self.haproxy.socket.clone())))
            .unwrap()
    }

    /// Sends `n` requests through HAProxy's frontend; returns how many answered "new".
    async fn send(&self, n: usize) -> usize {
        let client = http_client();
        let mut on_new = 0;
        for _ in 0..n {
            let body = client
                .get(format!("http://{}/", self.haproxy.web))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            on_new += usize::from(body.contains("from new"));
        }
        on_new
    }
}

/// The weights `plan` announces, as (server, weight).
fn planned(router: &HaproxyRouter, weight: Weight) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = router
        .plan(weight)
        .iter()
        .map(|line| {
            // "set server app/<name> weight <n>"
            let words: Vec<&str> = line.split(' ').collect();
            let server = words[2].split_once('/').unwrap().1.to_owned();
            (server, words[4].parse().unwrap())
        })
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<(String, u16)>) -> Vec<(String, u16)> {
    v.sort();
    v
}

#[tokio::test]
async fn haproxy_weights_are_set_and_read_back_through_the_real_socket() {
    let setup = Setup::start(2, 2).await;
    let router = setup.router();
    assert_eq!(router.weight().await.unwrap(), Weight::ZERO);
    for p in [10, 50, 99, 100, 0] {
        router.set_weight(pct(p)).await.unwrap();
        assert_eq!(router.weight().await.unwrap(), pct(p));
        // HAProxy itself agrees with the plan, server by server.
        assert_eq!(
            sorted(setup.haproxy.weights()),
            planned(&router, pct(p)),
            "at {p}%"
        );
    }
}

#[tokio::test]
async fn haproxy_every_percentage_round_trips_over_tcp() {
    let setup = Setup::start(1, 3).await;
    let router = HaproxyRouter::new(
        setup.config(RuntimeApiAddress::Tcp(setup.haproxy.admin_tcp.to_string())),
    )
    .unwrap();
    for p in 0..=100 {
        router.set_weight(pct(p)).await.unwrap();
        assert_eq!(router.weight().await.unwrap(), pct(p));
        let total: u16 = setup.haproxy.weights().iter().map(|(_, w)| w).sum();
        assert_eq!(total, 256, "at {p}%");
    }
}

#[tokio::test]
async fn haproxy_traffic_follows_the_weights() {
    let setup = Setup::start(1, 1).await;
    let router = setup.router();
    assert_eq!(setup.send(10).await, 0);
    router.set_weight(Weight::FULL).await.unwrap();
    assert_eq!(setup.send(10).await, 10);
    router.set_weight(pct(50)).await.unwrap();
    // roundrobin with equal weights alternates exactly.
    assert_eq!(setup.send(10).await, 5);
    assert!(setup.stable[0].request_count() > 0 && setup.new[0].request_count() > 0);
}

#[tokio::test]
async fn haproxy_read_back_counts_servers_out_of_rotation_as_zero() {
    let setup = Setup::start(1, 1).await;
    let router = setup.router();
    router.set_weight(pct(50)).await.unwrap();
    router
        .set_state("new1", ServerAdminState::Drain)
        .await
        .unwrap();
    assert_eq!(router.weight().await.unwrap(), Weight::ZERO);
    // A drained server (greenlight's own doing) comes back when it gets weight again.
    router.set_weight(pct(20)).await.unwrap();
    assert_eq!(router.weight().await.unwrap(), pct(20));

    // Maintenance is someone else's decision: left alone, and the change is refused.
    router
        .set_state("new1", ServerAdminState::Maint)
        .await
        .unwrap();
    assert_eq!(router.weight().await.unwrap(), Weight::ZERO);
    let err = router.set_weight(pct(30)).await.unwrap_err();
    assert!(
        err.message.contains("new1 weight 77 (in maintenance)"),
        "{}",
        err.message
    );
    router
        .set_state("new1", ServerAdminState::Ready)
        .await
        .unwrap();
    assert_eq!(router.weight().await.unwrap(), pct(30));
}

#[tokio::test]
async fn haproxy_refusals_quote_haproxy_and_unknown_servers_are_named() {
    let setup = Setup::start(1, 1).await;
    let router = setup.router();
    let err = router
        .set_state("ghost", ServerAdminState::Maint)
        .await
        .unwrap_err();
    assert!(
        err.message
            .ends_with("refused `set server app/ghost state maint`: \"No such server.\""),
        "{}",
        err.message
    );

    let mut config = setup.config(RuntimeApiAddress::Unix(setup.haproxy.socket.clone()));
    config.new_servers = vec!["ghost".into()];
    let ghost = HaproxyRouter::new(config).unwrap();
    let err = ghost.set_weight(pct(10)).await.unwrap_err();
    assert!(
        err.message.contains("has no server ghost"),
        "{}",
        err.message
    );
    assert_eq!(
        err.hint.as_deref(),
        Some("the backend's servers are: stable1, new1")
    );
    // Nothing changed.
    assert_eq!(
        sorted(setup.haproxy.weights()),
        vec![("new1".into(), 0), ("stable1".into(), 256)]
    );

    let mut config = setup.config(RuntimeApiAddress::Unix(setup.haproxy.socket.clone()));
    config.backend = "nope".into();
    let err = HaproxyRouter::new(config)
        .unwrap()
        .weight()
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("refused `show servers state nope`: \"Can't find backend.\""),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn haproxy_socket_without_admin_level_is_refused_with_a_hint() {
    let setup = Setup::start(1, 1).await;
    let user = HaproxyRouter::new(
        setup.config(RuntimeApiAddress::Unix(setup.haproxy.user_socket.clone())),
    )
    .unwrap();
    assert_eq!(
        user.weight().await.unwrap(),
        Weight::ZERO,
        "reading needs no admin level"
    );
    let err = user.set_weight(pct(10)).await.unwrap_err();
    assert!(
        err.message.contains("\"Permission denied\""),
        "{}",
        err.message
    );
    let hint = err.hint.unwrap_or_default();
    assert!(hint.contains("user.sock level admin"), "{hint}");
    assert_eq!(
        sorted(setup.haproxy.weights()),
        vec![("new1".into(), 0), ("stable1".into(), 256)]
    );
}

fn assert_names_socket(err: &ProviderError, socket: &str) {
    let prefix = format!("cannot connect to the HAProxy runtime API at {socket}: ");
    assert!(err.message.starts_with(&prefix), "{}", err.message);
    let hint = err.hint.as_deref().unwrap_or_default();
    assert!(hint.contains("level admin"), "{hint}");
}

#[tokio::test]
async fn haproxy_unreachable_socket_is_an_error_naming_it() {
    let mut setup = Setup::start(1, 1).await;
    let router = setup.router();
    let tcp = HaproxyRouter::new(
        setup.config(RuntimeApiAddress::Tcp(setup.haproxy.admin_tcp.to_string())),
    )
    .unwrap();
    router.weight().await.unwrap();
    setup.haproxy.stop();

    let socket = setup.haproxy.socket.display().to_string();
    assert_names_socket(&router.weight().await.unwrap_err(), &socket);
    assert_names_socket(&router.set_weight(pct(10)).await.unwrap_err(), &socket);
    assert_names_socket(
        &tcp.weight().await.unwrap_err(),
        &setup.haproxy.admin_tcp.to_string(),
    );
}

/// Starts a request through HAProxy that the slow stable server holds open, and waits until
/// HAProxy counts the session.
async fn hold_a_session(setup: &Setup, router: &HaproxyRouter) -> tokio::task::JoinHandle<u16> {
    let url = format!("http://{}/", setup.haproxy.web);
    let request = tokio::spawn(async move {
        http_client()
            .get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    });
    wait::until(
        "a session on stable1",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || async {
            match router.current_sessions("stable1").await {
                Ok(1) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    request
}

#[tokio::test]
async fn haproxy_drain_counts_open_sessions_until_the_last_one_ends_then_weight_undrains() {
    let setup = Setup::start(1, 1).await;
    let router = setup.router();
    setup.stable[0]
        .set_faults(Faults::slow(Duration::from_millis(800)))
        .unwrap();
    let request = hold_a_session(&setup, &router).await;
    router.set_weight(Weight::FULL).await.unwrap();
    assert_eq!(router.drain(Side::Stable).await.unwrap(), Some(1));
    assert!(
        setup
            .haproxy
            .command("show servers state app")
            .contains(" stable1 127.0.0.1 2 8 "),
        "stable1 is in drain (admin state 8)"
    );
    // Polled as the engine does; draining again is harmless.
    wait::until(
        "stable1 to drain",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            match router.drain(Side::Stable).await {
                Ok(Some(0)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(request.await.unwrap(), 200, "the drained session completed");
    // The next rollout gives stable1 weight again: greenlight's drain is undone.
    router.set_weight(pct(50)).await.unwrap();
    assert_eq!(router.weight().await.unwrap(), pct(50));
    assert!(
        router.plan_drain(Side::New)
            == vec![
                "set server app/new1 state drain".to_owned(),
                "`show stat app 4 -1` until scur of new1 is 0".to_owned()
            ]
    );
}

// ---------------------------------------------------------------- Prometheus, real server

fn prometheus_source(prometheus: &Prometheus, query: &str) -> PrometheusSource {
    PrometheusSource::new(
        PrometheusConfig {
            address: prometheus.url(),
            query: query.to_owned(),
            timeout: Duration::from_secs(5),
            auth: PrometheusAuth::None,
        },
        http_client(),
        &|_| None,
    )
    .unwrap()
}

/// Polls `source` until it measures a value satisfying `ok`.
async fn measure_until(source: &PrometheusSource, ok: impl Fn(f64) -> bool) -> f64 {
    wait::until(
        &source.describe(),
        Duration::from_secs(20),
        Duration::from_millis(250),
        || async {
            match source.measure().await {
                Ok(Measurement::Value(v)) if ok(v) => Ok(v),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
    .0
}

#[tokio::test]
async fn prometheus_reads_haproxy_exporter_metrics() {
    let setup = Setup::start(1, 1).await;
    let prometheus = Prometheus::start(setup.haproxy.metrics).await;
    let router = setup.router();

    router.set_weight(pct(10)).await.unwrap();
    let weight = prometheus_source(
        &prometheus,
        r#"haproxy_server_weight{proxy="app",server="new1"}"#,
    );
    assert_eq!(measure_until(&weight, |v| v == 26.0).await, 26.0);

    // The new version fails every request while it takes half the traffic.
    setup.new[0].set_faults(Faults::failing(1.0)).unwrap();
    router.set_weight(pct(50)).await.unwrap();
    let web = setup.haproxy.web;
    let traffic = tokio::spawn(async move {
        let client = http_client();
        loop {
            let _ = client.get(format!("http://{web}/")).send().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let errors = prometheus_source(
        &prometheus,
        r#"sum(rate(haproxy_backend_http_responses_total{proxy="app",code="5xx"}[5s]))"#,
    );
    let per_server = prometheus_source(
        &prometheus,
        r#"sum(rate(haproxy_server_http_responses_total{proxy="app",server="new1",code="5xx"}[5s])) / sum(rate(haproxy_server_http_responses_total{proxy="app",server="new1"}[5s]))"#,
    );
    assert!(measure_until(&errors, |v| v > 0.0).await > 0.0);
    assert_eq!(measure_until(&per_server, |v| v == 1.0).await, 1.0);
    traffic.abort();
}

#[tokio::test]
async fn prometheus_no_data_several_series_and_bad_queries() {
    let setup = Setup::start(1, 1).await;
    let prometheus = Prometheus::start(setup.haproxy.metrics).await;

    let empty = prometheus_source(
        &prometheus,
        r#"haproxy_server_weight{proxy="no-such-backend"}"#,
    );
    assert_eq!(empty.measure().await.unwrap(), Measurement::NoData);

    // Passed on as it is; the metric's domain check makes it a provider error.
    let zero_over_zero = prometheus_source(&prometheus, "0/0");
    assert!(matches!(
        zero_over_zero.measure().await.unwrap(),
        Measurement::Value(v) if v.is_nan()
    ));

    let several = prometheus_source(&prometheus, r#"haproxy_server_weight{proxy="app"}"#);
    let err = several.measure().await.unwrap_err();
    assert!(err.message.contains("returned 2 series"), "{}", err.message);
    assert!(err.message.contains("sum(…)"), "{}", err.message);

    let bad = prometheus_source(&prometheus, "sum(rate(");
    let err = bad.measure().await.unwrap_err();
    let expected = format!(
        "Prometheus at {}/: HTTP 400 Bad Request, bad_data: ",
        prometheus.url()
    );
    assert!(err.message.starts_with(&expected), "{}", err.message);
    assert!(err.message.contains("parse error"), "{}", err.message);
}

#[tokio::test]
async fn prometheus_stopped_is_a_provider_error_naming_the_address() {
    let setup = Setup::start(1, 1).await;
    let mut prometheus = Prometheus::start(setup.haproxy.metrics).await;
    let up = prometheus_source(&prometheus, r#"up{job="haproxy"}"#);
    assert_eq!(up.measure().await.unwrap(), Measurement::Value(1.0));
    prometheus.stop();
    let err = up.measure().await.unwrap_err();
    let expected = format!(
        "cannot connect to Prometheus at {}/api/v1/query: ",
        prometheus.url()
    );
    assert!(err.message.starts_with(&expected), "{}", err.message);
    assert!(err.message.contains("refused"), "{}", err.message);
}

// ------------------------------------------------- Prometheus API answers from a local server

async fn fake_prometheus(response: Response) -> HttpServer {
    HttpServer::start(Arc::new(move |_| response.clone())).await
}

const ONE_SAMPLE: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.5"]}]}}"#;

#[tokio::test]
async fn prometheus_sends_the_query_timeout_and_credentials() {
    let server = fake_prometheus(Response::json(200, ONE_SAMPLE)).await;
    let env = |name: &str| Some(format!("value-of-{name}"));
    let config = |auth| PrometheusConfig {
        address: server.url(""),
        query: "sum(up)".into(),
        timeout: Duration::from_millis(1500),
        auth,
    };
    let bearer = PrometheusSource::new(
        config(PrometheusAuth::Bearer {
            token_env: "PROM_TOKEN".into(),
        }),
        http_client(),
        &env,
    )
    .unwrap();
    assert_eq!(bearer.measure().await.unwrap(), Measurement::Value(0.5));
    let basic = PrometheusSource::new(
        config(PrometheusAuth::Basic {
            username_env: "U".into(),
            password_env: "P".into(),
        }),
        http_client(),
        &env,
    )
    .unwrap();
    basic.measure().await.unwrap();

    let requests = server.requests();
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/api/v1/query");
    assert_eq!(requests[0].body, "query=sum%28up%29&timeout=1500ms");
    assert_eq!(
        requests[0].headers["authorization"],
        "Bearer value-of-PROM_TOKEN"
    );
    // base64("value-of-U:value-of-P")
    assert_eq!(
        requests[1].headers["authorization"],
        "Basic dmFsdWUtb2YtVTp2YWx1ZS1vZi1Q"
    );
}

#[tokio::test]
async fn prometheus_timeout_5xx_and_non_prometheus_answers_are_provider_errors() {
    let slow =
        fake_prometheus(Response::json(200, ONE_SAMPLE).delayed(Duration::from_secs(5))).await;
    let source = |address: String, timeout| {
        PrometheusSource::new(
            PrometheusConfig {
                address,
                query: "up".into(),
                timeout,
                auth: PrometheusAuth::None,
            },
            http_client(),
            &|_| None,
        )
        .unwrap()
    };
    let started = std::time::Instant::now();
    let err = source(slow.url(""), Duration::from_millis(100))
        .measure()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        err.message,
        format!(
            "Prometheus at {}/api/v1/query did not answer within 100ms",
            slow.url("")
        )
    );

    let gateway = fake_prometheus(Response::text(502, "upstream connect error")).await;
    let err = source(gateway.url(""), Duration::from_secs(2))
        .measure()
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "Prometheus at {}/: HTTP 502 Bad Gateway: upstream connect error",
            gateway.url("")
        )
    );
    assert!(err.hint.is_some());

    let overloaded = fake_prometheus(Response::json(
        503,
        r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#,
    ))
    .await;
    let err = source(overloaded.url(""), Duration::from_secs(2))
        .measure()
        .await
        .unwrap_err();
    assert!(
        err.message.ends_with(
            "HTTP 503 Service Unavailable, timeout: query timed out in expression evaluation"
        ),
        "{}",
        err.message
    );

    let html = fake_prometheus(Response::text(200, "<html>grafana</html>")).await;
    let err = source(html.url(""), Duration::from_secs(2))
        .measure()
        .await
        .unwrap_err();
    assert!(
        err.message.contains("not from the Prometheus API"),
        "{}",
        err.message
    );
}

// ---------------------------------------------------------------------------- HTTP JSON

#[tokio::test]
async fn http_json_source_reads_numbers_and_tells_no_data_from_errors() {
    let server = HttpServer::start(Arc::new(|request| match request.path.as_str() {
        "/status" => Response::json(
            200,
            r#"{"errors":{"rate":0.02,"text":"0.5","none":null,"flag":true},"series":[]}"#,
        ),
        "/broken" => Response::json(200, "{not json"),
        _ => Response::text(500, "internal error"),
    }))
    .await;
    let env = |name: &str| (name == "API_KEY").then(|| "k-123".to_owned());
    let source = |path: &str, pointer: &str| {
        HttpJsonSource::new(
            &HttpQuery {
                url: server.url(path),
                headers: BTreeMap::from([("X-Api-Key".to_owned(), "API_KEY".to_owned())]),
                pointer: pointer.to_owned(),
                timeout: Span::from_secs(2),
            },
            http_client(),
            &env,
        )
        .unwrap()
    };
    let measure = |path: &'static str, pointer: &'static str| {
        let s = source(path, pointer);
        async move { s.measure().await }
    };
    assert_eq!(
        measure("/status", "/errors/rate").await.unwrap(),
        Measurement::Value(0.02)
    );
    assert_eq!(
        measure("/status", "/errors/text").await.unwrap(),
        Measurement::Value(0.5)
    );
    assert_eq!(
        measure("/status", "/errors/none").await.unwrap(),
        Measurement::NoData
    );
    assert_eq!(
        measure("/status", "/series/0/value").await.unwrap(),
        Measurement::NoData
    );
    let err = measure("/status", "/errors/flag").await.unwrap_err();
    assert!(
        err.message
            .ends_with("found the boolean true, not a number"),
        "{}",
        err.message
    );
    let err = measure("/broken", "/x").await.unwrap_err();
    assert!(
        err.message.contains("the body is not JSON"),
        "{}",
        err.message
    );
    let err = measure("/missing?key=hidden", "/x").await.unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "metrics endpoint {}: HTTP 500 Internal Server Error: internal error",
            server.url("/missing")
        )
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.headers["x-api-key"] == "k-123")
    );
}

#[tokio::test]
async fn http_json_source_unreachable_names_the_address() {
    // Bound but not listening for the whole test: connections to it are refused.
    let (_socket, refusing) = refusing_address();
    let port = refusing.port();
    let source = HttpJsonSource::new(
        &HttpQuery {
            url: format!("http://127.0.0.1:{port}/x?token=secret"),
            headers: BTreeMap::new(),
            pointer: "/v".into(),
            timeout: Span::from_secs(2),
        },
        http_client(),
        &|_: &str| None,
    )
    .unwrap();
    let err = source.measure().await.unwrap_err();
    assert!(
        err.message.starts_with(&format!(
            "cannot connect to the metrics endpoint at http://127.0.0.1:{port}/x: "
        )),
        "{}",
        err.message
    );
    assert!(!err.message.contains("secret"));
}

#[test]
fn the_example_haproxy_and_prometheus_configs_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/haproxy");
    let checks = [
        ("haproxy", vec!["-c", "-f", "haproxy.cfg"]),
        ("promtool", vec!["check", "config", "prometheus.yml"]),
    ];
    for (program, args) in checks {
        let path = crate::support::process::require_program(program, "haproxy prometheus");
        let output = std::process::Command::new(path)
            .args(&args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} rejects the example:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

// ------------------------------------------------- whole rollouts through the real binary

fn events(report: &serde_json::Value, kind: &str) -> usize {
    report["timeline"].as_array().map_or(0, |timeline| {
        timeline.iter().filter(|e| e["kind"] == kind).count()
    })
}

/// HAProxy itself: all weight on new1, and stable1 left in drain (admin state 8).
fn assert_all_on_new_and_stable_drained(rollout: &HaproxyRollout) {
    assert_eq!(rollout.weights(), (0, 256));
    assert!(
        rollout
            .haproxy
            .command("show servers state app")
            .contains(" stable1 127.0.0.1 2 8 "),
        "stable1 is left in drain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_of_a_healthy_version_is_promoted_and_haproxy_agrees() {
    let rollout = HaproxyRollout::start(Faults::NONE).await;
    let spec = rollout.spec(
        &rollout.admin_socket(),
        HaproxyRollout::error_rate(),
        &Steps::default(),
    );
    let output = rollout.run(&spec).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = rollout.report();
    assert_eq!(report["outcome"], "promoted");
    // Every step measured real data (a value), not "no data".
    let gates: Vec<&serde_json::Value> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "gate")
        .collect();
    assert!(gates.len() >= 4, "{gates:?}");
    assert!(
        gates
            .iter()
            .all(|g| g["verdict"] == "pass" && g["value"].is_number()),
        "{gates:?}"
    );
    assert_eq!(events(&report, "drained"), 1);
    assert_all_on_new_and_stable_drained(&rollout);
    assert_eq!(rollout.target_log(), "deploy v2\nretire v1\n");
}

/// `promote` is a short plan of the same engine: it drains the old servers in
/// HAProxy and waits for the wait-until gate before it retires the old version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_by_hand_drains_the_old_servers_and_waits_for_the_wait_until_gates() {
    let rollout = HaproxyRollout::start(Faults::NONE).await;
    let steps = Steps {
        before_retire: Some(
            r#"sum(haproxy_server_current_sessions{proxy="app",server=~"{{ servers.stable | join("|") }}"})"#,
        ),
        ..Steps::default()
    };
    let spec = rollout.spec(
        &rollout.admin_socket(),
        HaproxyRollout::error_rate(),
        &steps,
    );
    let output = rollout.run_verb("promote", &spec).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = rollout.report();
    assert_eq!(report["outcome"], "promoted");
    let kinds: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["weight_set", "promoted", "drained", "wait_gate", "retired"],
        "{report}"
    );
    assert_all_on_new_and_stable_drained(&rollout);
    assert_eq!(rollout.target_log(), "retire v1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_of_a_version_failing_20_percent_is_rolled_back_in_haproxy() {
    let rollout = HaproxyRollout::start(Faults::failing(0.2)).await;
    let spec = rollout.spec(
        &rollout.admin_socket(),
        HaproxyRollout::error_rate(),
        &Steps::default(),
    );
    let output = rollout.run(&spec).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let report = rollout.report();
    assert_eq!(report["outcome"], "rolled_back");
    // The value depends on where the rate window falls; the 20% fault puts it far above 5%.
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("`error-rate` was 0.") && reason.contains("outside ≤ 0.05"),
        "{reason}"
    );
    assert_eq!(events(&report, "promoted"), 0);
    assert_eq!(
        rollout.weights(),
        (256, 0),
        "stable at full weight, new at 0"
    );
    assert_eq!(rollout.target_log(), "deploy v2\nretire v2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_halts_when_prometheus_stops_in_the_middle_and_never_promotes() {
    let mut rollout = HaproxyRollout::start(Faults::NONE).await;
    let steps = Steps {
        hold: "20s",
        ..Steps::default()
    };
    let spec = rollout.spec(
        &rollout.admin_socket(),
        HaproxyRollout::error_rate(),
        &steps,
    );
    let child = rollout
        .command(&spec)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Step 1 is live once HAProxy gives new1 its 20% (51 of 256).
    wait::until(
        "step 1's weights in HAProxy",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            std::future::ready(match rollout.weights() {
                (205, 51) => Ok(()),
                other => Err(format!("{other:?}")),
            })
        },
    )
    .await;
    rollout.prometheus.stop();
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("greenlight halts within the error limit")
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let report = rollout.report();
    assert_eq!(report["outcome"], "halted");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("`error-rate`: the metric provider failed 3 time(s) in a row: cannot connect to Prometheus at "),
        "{reason}"
    );
    assert_eq!(events(&report, "promoted"), 0);
    assert_eq!(rollout.weights(), (205, 51), "traffic stays where it was");
    assert_eq!(rollout.target_log(), "deploy v2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_with_an_unreachable_socket_exits_1_naming_it_and_changes_nothing() {
    let rollout = HaproxyRollout::start(Faults::NONE).await;
    let missing = rollout
        .dir
        .path()
        .join("no-such.sock")
        .display()
        .to_string();
    let spec = rollout.spec(&missing, HaproxyRollout::error_rate(), &Steps::default());
    let output = rollout.run(&spec).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot connect to the HAProxy runtime API at {missing}: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(rollout.weights(), (256, 0));
    assert_eq!(rollout.target_log(), "", "nothing was deployed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_with_bad_promql_names_the_metric_and_quotes_prometheus() {
    let rollout = HaproxyRollout::start(Faults::NONE).await;
    let steps = Steps {
        consecutive_error_limit: 1,
        ..Steps::default()
    };
    let spec = rollout.spec(
        &rollout.admin_socket(),
        "sum(rate(haproxy_server_http_responses_total[3s]",
        &steps,
    );
    let output = rollout.run(&spec).await;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let reason = rollout.report()["reason"].as_str().unwrap().to_owned();
    let expected = format!(
        "`error-rate`: the metric provider failed 1 time(s) in a row: Prometheus at {}/: HTTP 400 Bad Request, bad_data: ",
        rollout.prometheus.url()
    );
    assert!(reason.starts_with(&expected), "{reason}");
    // Prometheus's own words.
    assert!(reason.contains("parse error"), "{reason}");
    assert!(String::from_utf8_lossy(&output.stderr).contains(&expected));
    assert_eq!(
        rollout.weights(),
        (205, 51),
        "halted where it was, never promoted"
    );
}

/// The comparison gate fed by four PromQL counts (requests and 5xx of each
/// version's servers), on real HAProxy and Prometheus: 20% failures on the new
/// version against none on stable roll back, and the decision shows its evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_with_a_prometheus_comparison_gate_rolls_a_failing_version_back() {
    let rollout = HaproxyRollout::start(Faults::failing(0.2)).await;
    let steps = Steps {
        hold: "9s",
        ..Steps::default()
    };
    let spec_path = rollout.spec(&rollout.admin_socket(), "unused", &steps);
    let count = |side: &str, code: &str| {
        format!(
            r#"sum(increase(haproxy_server_http_responses_total{{proxy="app",server=~"{{{{ servers.{side} | join("|") }}}}"{code}}}[3s]))"#
        )
    };
    let gate = format!(
        "  interval: 3s\n  metrics:\n    - name: errors\n      compare: stable\n      minRequests: 50\n      query:\n        counts:\n          new: {{requests: {{prometheus: '{}'}}, errors: {{prometheus: '{}'}}}}\n          stable: {{requests: {{prometheus: '{}'}}, errors: {{prometheus: '{}'}}}}\n",
        count("new", ""),
        count("new", r#",code="5xx""#),
        count("stable", ""),
        count("stable", r#",code="5xx""#),
    );
    let original = std::fs::read_to_string(&spec_path).unwrap();
    let metrics_start = original.find("  metrics:\n").unwrap();
    let state_start = original.find("state:\n").unwrap();
    let spec = format!(
        "{}{gate}{}",
        original[..metrics_start].replace("  interval: 1s\n", ""),
        &original[state_start..]
    );
    std::fs::write(&spec_path, spec).unwrap();

    let output = rollout.run(&spec_path).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let report = rollout.report();
    assert_eq!(report["outcome"], "rolled_back");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("`errors` is worse on the new version: error rate ")
            && reason.contains(" vs 0%"),
        "{reason}"
    );
    assert!(
        report["blast_radius"]["failed"].as_u64() > Some(0),
        "{report}"
    );
    assert_eq!(
        rollout.weights(),
        (256, 0),
        "stable at full weight, new at 0"
    );
}

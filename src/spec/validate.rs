//! Rules the types cannot express. Each problem names its field so the loader
//! can point at `file:line:column`.

use super::path::FieldPath;
use super::template::BUILT_IN;
use super::types::*;
use crate::metrics::SharedSettings;

pub(super) use crate::field::require_text;
pub use crate::field::{Problem, problem};

/// Two pool names, each a name that fits in an id (`/svc-{{ pool.new }}`), and different.
fn check_pools(pools: &[String; 2], path: FieldPath, problems: &mut Vec<Problem>) {
    for (index, name) in pools.iter().enumerate() {
        let fits = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !fits {
            problems.push(
                problem(
                    path.index(index),
                    format!("`{name}` is not a pool name: use letters, digits, `-`, `_` or `.`"),
                )
                .hint("e.g. `pools: [blue, green]`"),
            );
        }
    }
    if pools[0] == pools[1] {
        problems.push(problem(
            path.index(1),
            format!(
                "both pools are `{}`: releases alternate between two different places",
                pools[1]
            ),
        ));
    }
}

/// All problems in document order; the loader reports the first.
pub fn validate(spec: &RolloutSpec) -> Vec<Problem> {
    let root = FieldPath::root();
    let mut problems = Vec::new();
    if spec.metadata.name.trim().is_empty() || spec.metadata.name.contains(char::is_whitespace) {
        problems.push(
            problem(
                root.key("metadata").key("name"),
                "the name must be non-empty and contain no spaces",
            )
            .hint("use the service's name, e.g. `checkout`"),
        );
    }
    for name in spec.vars.keys() {
        if BUILT_IN.contains(&name.as_str()) {
            problems.push(problem(
                root.key("vars").key(name.clone()),
                format!("`{name}` is set by greenlight itself and cannot be a variable"),
            ));
        }
    }
    if let Some(pools) = &spec.pools {
        check_pools(pools, root.key("pools"), &mut problems);
    }
    check_providers(spec, &mut problems);
    let analysis_on = spec.analysis.is_some();
    match &spec.strategy {
        StrategySpec::Canary(canary) => check_canary(
            canary,
            analysis_on,
            root.key("strategy").key("canary"),
            &mut problems,
        ),
        StrategySpec::BlueGreen(blue_green) => {
            let path = root.key("strategy").key("blueGreen");
            for (phase, name) in [
                (&blue_green.preview, "preview"),
                (&blue_green.post_promotion, "postPromotion"),
            ] {
                if let Some(phase) = phase {
                    check_step_analysis(
                        phase.analysis,
                        analysis_on,
                        path.key(name).key("analysis"),
                        &mut problems,
                    );
                }
            }
        }
        StrategySpec::Migrate(migrate) => check_migrate(
            spec,
            migrate,
            root.key("strategy").key("migrate"),
            &mut problems,
        ),
    }
    for (index, check) in spec.smoke.iter().enumerate() {
        check_check(check, root.key("smoke").index(index), &mut problems);
    }
    let hooks = &spec.hooks;
    for (field, checks) in [
        ("preRollout", &hooks.pre_rollout),
        ("beforeTraffic", &hooks.before_traffic),
        ("afterStep", &hooks.after_step),
        ("beforePromotion", &hooks.before_promotion),
        ("postRollout", &hooks.post_rollout),
        ("onRollback", &hooks.on_rollback),
    ] {
        for (index, check) in checks.iter().enumerate() {
            let path = root.key("hooks").key(field).index(index);
            if check.after_each_step {
                problems.push(
                    problem(
                        path.key("afterEachStep"),
                        "`afterEachStep` is for smoke checks",
                    )
                    .hint("hooks.afterStep already runs after every step"),
                );
            }
            check_check(check, path, &mut problems);
        }
    }
    if let Some(analysis) = &spec.analysis {
        check_analysis(analysis, root.key("analysis"), &mut problems);
    }
    if let Some(webhook) = &spec.report.webhook {
        check_webhook(webhook, root.key("report").key("webhook"), &mut problems);
    }
    problems
}

fn check_webhook(webhook: &WebhookSpec, path: FieldPath, problems: &mut Vec<Problem>) {
    // Never echoed: a URL given here by mistake is the secret itself.
    let name = &webhook.url_env;
    let is_variable_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_variable_name {
        problems.push(
            problem(
                path.key("urlEnv"),
                "name the environment variable that holds the webhook URL (letters, digits and `_`), not the URL itself",
            )
            .hint("e.g. `urlEnv: SLACK_WEBHOOK_URL`, set from a masked CI secret: the URL itself never goes in the spec"),
        );
    }
}

fn check_providers(spec: &RolloutSpec, problems: &mut Vec<Problem>) {
    let root = FieldPath::root();
    spec.target.check(root.key("target"), problems);
    spec.router.check(root.key("router"), problems);
    if let (Some(router), StrategySpec::Canary(canary)) = (spec.router.switches(), &spec.strategy) {
        check_all_or_nothing(canary, router, root.key("strategy").key("canary"), problems);
    }
}

/// A router that moves traffic all at once has no weight between 0 and 100.
fn check_all_or_nothing(
    canary: &CanarySpec,
    router: &str,
    path: FieldPath,
    problems: &mut Vec<Problem>,
) {
    let hint = "use `strategy: blueGreen`, or a router that splits by weight";
    match &canary.steps {
        Some(steps) => {
            for (index, step) in steps.iter().enumerate() {
                if (1..=99).contains(&step.weight) {
                    problems.push(
                        problem(
                            path.key("steps").index(index).key("weight"),
                            format!(
                                "{router} sends all traffic or none; it cannot send {}%",
                                step.weight
                            ),
                        )
                        .hint(hint),
                    );
                }
            }
        }
        None => {
            if canary.step.is_some_and(|step| step != 100) {
                problems.push(
                    problem(
                        path.key("step"),
                        format!("{router} sends all traffic or none; a ramp needs weights"),
                    )
                    .hint(hint),
                );
            }
        }
    }
}

fn check_weight(weight: i64, field: FieldPath, problems: &mut Vec<Problem>) -> bool {
    let valid = (0..=100).contains(&weight);
    if !valid {
        problems.push(
            problem(
                field,
                format!("weight must be between 0 and 100, got {weight}"),
            )
            .hint("weights are the percentage of traffic sent to the new version"),
        );
    }
    valid
}

fn check_canary(
    canary: &CanarySpec,
    analysis_on: bool,
    path: FieldPath,
    problems: &mut Vec<Problem>,
) {
    let linear = canary.step.is_some() || canary.every.is_some() || canary.max.is_some();
    match (&canary.steps, linear) {
        (Some(_), true) => problems.push(problem(
            path.key("steps"),
            "give either `steps` or a linear ramp (`step`, `every`, `max`), not both",
        )),
        (None, false) => problems.push(
            problem(
                path.clone(),
                "a canary needs `steps`, or `step` and `every` for a linear ramp",
            )
            .hint("e.g. `steps: [{weight: 10, hold: 1m}, {weight: 50, hold: 5m}]`"),
        ),
        (Some(steps), false) => {
            if steps.is_empty() {
                problems.push(problem(path.key("steps"), "at least one step is needed"));
            }
            let mut previous: Option<i64> = None;
            for (index, step) in steps.iter().enumerate() {
                let step_path = path.key("steps").index(index);
                if check_weight(step.weight, step_path.key("weight"), problems) {
                    if let Some(previous) = previous.filter(|previous| step.weight <= *previous) {
                        problems.push(
                            problem(
                                step_path.key("weight"),
                                format!(
                                    "weights must increase: step {} has {} after {previous}",
                                    index + 1,
                                    step.weight
                                ),
                            )
                            .hint("each step sends more traffic to the new version than the one before"),
                        );
                    }
                    previous = Some(step.weight);
                }
                check_step_analysis(
                    step.analysis,
                    analysis_on,
                    step_path.key("analysis"),
                    problems,
                );
            }
        }
        (None, true) => {
            let step = canary.step.unwrap_or(0);
            if canary.step.is_none() {
                problems.push(problem(
                    path.key("step"),
                    "a linear ramp needs `step`, the percentage added each time",
                ));
            } else if !(1..=100).contains(&step) {
                problems.push(problem(
                    path.key("step"),
                    format!("step must be between 1 and 100, got {step}"),
                ));
            }
            if canary.every.is_none() {
                problems.push(problem(
                    path.key("every"),
                    "a linear ramp needs `every`, how long each step holds",
                ));
            }
            if let Some(max) = canary.max
                && check_weight(max, path.key("max"), problems)
                && max < step
            {
                problems.push(problem(
                    path.key("max"),
                    format!("max ({max}) is below step ({step})"),
                ));
            }
        }
    }
}

fn check_step_analysis(
    analysis: Option<bool>,
    analysis_on: bool,
    field: FieldPath,
    problems: &mut Vec<Problem>,
) {
    if analysis == Some(true) && !analysis_on {
        problems.push(
            problem(
                field,
                "analysis is on for this step but the spec has no `analysis` section",
            )
            .hint("add `analysis.metrics`, or remove `analysis: true`"),
        );
    }
}

fn check_check(check: &Check, path: FieldPath, problems: &mut Vec<Problem>) {
    if check.attempts == Some(0) {
        problems.push(problem(path.key("attempts"), "must be at least 1"));
    }
    match (&check.http, &check.command) {
        (Some(_), Some(_)) => problems.push(problem(
            path.key("command"),
            "a check is either `http` or `command`, not both",
        )),
        (None, None) => problems.push(
            problem(
                path.clone(),
                format!("check `{}` needs `http` or `command`", check.name),
            )
            .hint("e.g. `http: {url: 'http://checkout-preview/healthz'}`"),
        ),
        (Some(http), None) => check_http(http, path.key("http"), problems),
        (None, Some(command)) => require_text(command, path.key("command"), problems),
    }
}

fn check_http(http: &HttpCheck, path: FieldPath, problems: &mut Vec<Problem>) {
    if !(http.url.starts_with("http://") || http.url.starts_with("https://")) {
        problems.push(problem(
            path.key("url"),
            format!("`{}` is not an http:// or https:// URL", http.url),
        ));
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if http.method.is_empty() || !http.method.chars().all(token) {
        problems.push(problem(
            path.key("method"),
            format!("`{}` is not an HTTP method", http.method),
        ));
    }
    for name in http.headers.keys().chain(http.headers_from_env.keys()) {
        if name.is_empty() || !name.chars().all(token) {
            problems.push(problem(
                path.key("headers"),
                format!("`{name}` is not a header name"),
            ));
        }
    }
    let expect = path.key("expect");
    if !(100..=599).contains(&http.expect.status) {
        problems.push(problem(
            expect.key("status"),
            format!("{} is not an HTTP status", http.expect.status),
        ));
    }
    if let Some(pattern) = &http.expect.body_matches
        && let Err(error) = regex::Regex::new(pattern)
    {
        problems.push(problem(
            expect.key("bodyMatches"),
            format!("not a valid regular expression: {error}"),
        ));
    }
    if let Some(json) = &http.expect.json
        && !(json.pointer.is_empty() || json.pointer.starts_with('/'))
    {
        problems.push(
            problem(
                expect.key("json").key("pointer"),
                format!("`{}` is not a JSON pointer", json.pointer),
            )
            .hint("JSON pointers start with `/`, e.g. `/status`"),
        );
    }
}

fn check_analysis(analysis: &AnalysisSpec, path: FieldPath, problems: &mut Vec<Problem>) {
    if analysis.metrics.is_empty() {
        problems.push(
            problem(
                path.key("metrics"),
                "analysis is on but no metric is defined",
            )
            .hint("add a metric with a `query` and a `min` or `max`, or remove `analysis`"),
        );
    }
    for (field, value) in [
        ("failureLimit", analysis.failure_limit),
        ("consecutiveErrorLimit", analysis.consecutive_error_limit),
        ("noDataLimit", analysis.no_data_limit),
    ] {
        if value == 0 {
            problems.push(problem(path.key(field), "must be at least 1"));
        }
    }
    if let Some(prometheus) = &analysis.prometheus {
        prometheus.check(path.key("prometheus"), problems);
    }
    let shared = SharedSettings {
        prometheus: analysis.prometheus.as_ref(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for (index, gate) in analysis.before_retire.iter().enumerate() {
        let gate_path = path.key("beforeRetire").index(index);
        if !seen.insert(gate.name.as_str()) {
            problems.push(problem(
                gate_path.key("name"),
                format!("wait gate `{}` is defined twice", gate.name),
            ));
        }
        gate.query.check(gate_path.key("query"), shared, problems);
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, metric) in analysis.metrics.iter().enumerate() {
        let metric_path = path.key("metrics").index(index);
        if !seen.insert(metric.name.as_str()) {
            problems.push(problem(
                metric_path.key("name"),
                format!("metric `{}` is defined twice", metric.name),
            ));
        }
        if metric.compare.is_some() {
            check_comparison(metric, &metric_path, problems);
        } else if let Some(field) = [
            ("maxIncrease", metric.max_increase.is_some()),
            ("alpha", metric.alpha.is_some()),
            ("inconclusive", metric.inconclusive.is_some()),
        ]
        .into_iter()
        .find_map(|(field, set)| set.then_some(field))
        {
            problems.push(
                problem(
                    metric_path.key(field),
                    format!("`{field}` only applies to a comparison gate"),
                )
                .hint("add `compare: stable`, or remove it"),
            );
        }
        if metric.min_requests.is_some() && !metric.query.settings().counts_requests() {
            problems.push(
                problem(
                    metric_path.key("minRequests"),
                    "`minRequests` needs a query that counts requests",
                )
                .hint("use `query: {counts: …}` or the sandbox's `error_rate`, `errors` or `slow_requests`"),
            );
        }
        match (metric.min, metric.max) {
            _ if metric.compare.is_some() => {}
            (None, None) => problems.push(
                problem(
                    metric_path.clone(),
                    format!("metric `{}` has no threshold", metric.name),
                )
                .hint("add `max:` (fail above) or `min:` (fail below)"),
            ),
            (Some(min), Some(max)) if min > max => problems.push(problem(
                metric_path.key("min"),
                format!("min ({min}) is above max ({max}); no value could pass"),
            )),
            _ => {}
        }
        metric
            .query
            .check(metric_path.key("query"), shared, problems);
    }
}

fn check_comparison(metric: &MetricSpec, path: &FieldPath, problems: &mut Vec<Problem>) {
    let compares = metric.query.settings().counts_each_version();
    if !compares {
        problems.push(
            problem(
                path.key("query"),
                format!(
                    "metric `{}` compares with stable but its query does not count each version",
                    metric.name
                ),
            )
            .hint("use `counts: {new: {requests, errors}, stable: {requests, errors}}`, or the sandbox's `errors` or `slow_requests`"),
        );
    }
    for (field, set) in [("min", metric.min.is_some()), ("max", metric.max.is_some())] {
        if set {
            problems.push(
                problem(
                    path.key(field),
                    format!("`{field}` does not apply to a comparison gate"),
                )
                .hint("the gate's limit is `maxIncrease` over the stable version; remove it"),
            );
        }
    }
    if let Some(alpha) = metric.alpha
        && !(alpha > 0.0 && alpha < 0.5)
    {
        problems.push(
            problem(
                path.key("alpha"),
                format!("alpha {alpha} must be above 0 and below 0.5"),
            )
            .hint("0.01 fails a healthy version in about 1 rollout in 100 at most"),
        );
    }
}

/// A migration moves tasks, so it needs a target that knows them and a router
/// that can take one out of the load balancer.
fn check_migrate(
    spec: &RolloutSpec,
    migrate: &MigrateSpec,
    path: FieldPath,
    problems: &mut Vec<Problem>,
) {
    if !spec.target.settings().kills_single_tasks() {
        problems.push(
            problem(
                path.clone(),
                "a migration kills the old version's tasks one batch at a time: it needs `target: marathon`",
            )
            .hint("use `canary` or `blueGreen` with this target"),
        );
    }
    if !spec.router.settings().serves_single_tasks() {
        problems.push(
            problem(
                path.clone(),
                "a migration takes single tasks out of the load balancer: it needs `router: edgelb`",
            )
            .hint("use `canary` or `blueGreen` with this router"),
        );
    }
    if migrate.batch_size == 0 {
        problems.push(problem(path.key("batchSize"), "must be at least 1 task"));
    }
    if let Some(drain) = &migrate.drain {
        let shared = SharedSettings {
            prometheus: spec
                .analysis
                .as_ref()
                .and_then(|analysis| analysis.prometheus.as_ref()),
        };
        drain
            .query
            .check(path.key("drain").key("query"), shared, problems);
        if !drain.max.is_finite() {
            problems.push(problem(
                path.key("drain").key("max"),
                "must be a finite number",
            ));
        }
    }
}

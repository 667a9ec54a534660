//! Judges compared on the same seeded request streams: greenlight's sequential
//! comparison, a Flagger-style threshold checked at every interval, and a
//! Kayenta-style fixed-horizon Mann-Whitney at 0.98.
//!
//!     cargo bench --bench judge            # 2,000 runs per A/A row, 1,000 otherwise
//!     cargo bench --bench judge -- 200     # quicker: 200 runs per row
//!
//! Prints one Markdown table (docs/benchmarks.md, section "Judge").

use greenlight::judge::simulate::{
    Behaviour, Metric, Rollout, Verdict, binomial_interval, default_config, fixed_horizon,
    sequential, threshold,
};

struct Scenario {
    name: String,
    rollout: Rollout,
    behaviour: Behaviour,
    metric: Metric,
    /// A/A: any failure is a false alarm.
    healthy: bool,
}

/// The generic rollout: 20 requests/s, measured every minute, steps 5/10/20/40%
/// of 10 minutes each: at most ~9,000 requests to the new version in all.
fn generic(rate: f64) -> Rollout {
    Rollout {
        rate,
        interval: 60.0,
        steps: vec![(0.05, 10), (0.1, 10), (0.2, 10), (0.4, 10)],
    }
}

/// `greenlight demo`: ~200 requests/s, measured every second, 10/25/50/100% for 6s each.
fn demo() -> Rollout {
    Rollout {
        rate: 200.0,
        interval: 1.0,
        steps: vec![(0.1, 6), (0.25, 6), (0.5, 6), (1.0, 6)],
    }
}

fn scenarios() -> Vec<Scenario> {
    let mut list = Vec::new();
    let mut add = |name: String, rollout: Rollout, behaviour: Behaviour, metric, healthy| {
        list.push(Scenario {
            name,
            rollout,
            behaviour,
            metric,
            healthy,
        })
    };
    for baseline in [0.001, 0.01] {
        let label = if baseline < 0.005 { "0.1%" } else { "1%" };
        add(
            format!("A/A errors {label}"),
            generic(20.0),
            Behaviour::healthy(baseline),
            Metric::Errors,
            true,
        );
    }
    let mut noisy = Behaviour::healthy(0.01);
    noisy.noise = 0.5;
    add(
        "A/A errors 1%, noisy baseline".into(),
        generic(20.0),
        noisy,
        Metric::Errors,
        true,
    );
    let mut drifting = Behaviour::healthy(0.01);
    drifting.drift = 0.03;
    add(
        "A/A errors 1%, drifting ×3 over the rollout".into(),
        generic(20.0),
        drifting,
        Metric::Errors,
        true,
    );
    add(
        "A/A errors 1%, low traffic (1 req/s)".into(),
        generic(1.0),
        Behaviour::healthy(0.01),
        Metric::Errors,
        true,
    );
    add(
        "A/A latency".into(),
        generic(20.0),
        Behaviour::healthy(0.01),
        Metric::Latency,
        true,
    );
    for baseline in [0.001, 0.01] {
        let label = if baseline < 0.005 { "0.1%" } else { "1%" };
        for factor in [1.5, 2.0, 5.0] {
            let mut bad = Behaviour::healthy(baseline);
            bad.new_error = baseline * factor;
            add(
                format!("errors {factor}× at {label}"),
                generic(20.0),
                bad,
                Metric::Errors,
                false,
            );
        }
    }
    let mut noisy_bad = noisy;
    noisy_bad.new_error = 0.02;
    add(
        "errors 2× at 1%, noisy baseline".into(),
        generic(20.0),
        noisy_bad,
        Metric::Errors,
        false,
    );
    for (label, factor) in [("+20%", 1.2), ("+50%", 1.5)] {
        let mut slow = Behaviour::healthy(0.01);
        slow.new_latency_factor = factor;
        add(
            format!("latency {label} p99"),
            generic(20.0),
            slow,
            Metric::Latency,
            false,
        );
    }
    add(
        "demo: healthy (1% vs 1%, both gates)".into(),
        demo(),
        Behaviour::healthy(0.01),
        Metric::Both,
        true,
    );
    let mut demo_bad = Behaviour::healthy(0.01);
    demo_bad.new_error = 0.05;
    add(
        "demo: 5% vs 1% (both gates)".into(),
        demo(),
        demo_bad,
        Metric::Both,
        false,
    );
    list
}

/// One judge, run on the stream of one seed.
type Judge<'a> = Box<dyn Fn(u64) -> Verdict + 'a>;

struct Row {
    failed: u64,
    runs: u64,
    requests: Vec<u64>,
    seconds: Vec<f64>,
    failures: Vec<u64>,
}

fn run(runs: u64, judge: impl Fn(u64) -> Verdict) -> Row {
    let mut row = Row {
        failed: 0,
        runs,
        requests: Vec::new(),
        seconds: Vec::new(),
        failures: Vec::new(),
    };
    for seed in 0..runs {
        let verdict = judge(seed);
        if verdict.failed {
            row.failed += 1;
            row.requests.push(verdict.new_requests);
            row.seconds.push(verdict.seconds);
            row.failures.push(verdict.new_failures);
        }
    }
    row
}

fn median<T: Copy + PartialOrd>(values: &mut [T]) -> Option<T> {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len() / 2).copied()
}

fn main() {
    let base_runs: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1_000);
    let config = default_config();
    println!(
        "| Scenario | Judge | Runs | Failed (95% CI) | Median new-version requests to detect | Median time to detect | Median blast radius (failed requests) |"
    );
    println!("|---|---|---:|---|---:|---:|---:|");
    for scenario in scenarios() {
        let runs = if scenario.healthy {
            base_runs * 2
        } else {
            base_runs
        };
        let (rollout, behaviour, metric) = (&scenario.rollout, scenario.behaviour, scenario.metric);
        let max_error_rate = behaviour.stable_error * 1.5;
        let max_p99 = behaviour.stable_p99_ms() * 1.5;
        let judges: [(&str, Judge); 3] = [
            (
                "greenlight sequential",
                Box::new(move |seed| sequential(rollout, behaviour, metric, seed, config)),
            ),
            (
                "threshold every interval (1.5× baseline)",
                Box::new(move |seed| {
                    threshold(rollout, behaviour, metric, seed, max_error_rate, max_p99)
                }),
            ),
            (
                "fixed-horizon Mann-Whitney 0.98",
                Box::new(move |seed| fixed_horizon(rollout, behaviour, metric, seed)),
            ),
        ];
        for (name, judge) in judges {
            let mut row = run(runs, judge);
            let (low, high) = binomial_interval(row.failed, row.runs, 0.95);
            let share = row.failed as f64 / row.runs as f64;
            let dash = || "–".to_owned();
            let (requests, seconds, failures) = if scenario.healthy {
                (dash(), dash(), dash())
            } else {
                (
                    median(&mut row.requests).map_or_else(dash, |value| value.to_string()),
                    median(&mut row.seconds).map_or_else(dash, |value| format!("{value:.0}s")),
                    median(&mut row.failures).map_or_else(dash, |value| value.to_string()),
                )
            };
            println!(
                "| {} | {name} | {} | {:.2}% ({:.2}–{:.2}%) | {requests} | {seconds} | {failures} |",
                scenario.name,
                row.runs,
                share * 100.0,
                low * 100.0,
                high * 100.0,
            );
        }
    }
    println!(
        "\nOffered to the new version in all: generic rollout ≈ {:.0} requests, demo ≈ {:.0}.",
        generic(20.0).new_requests_offered(),
        demo().new_requests_offered()
    );
}

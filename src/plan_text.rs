//! `greenlight plan`: every step in order, with the exact change each provider
//! would make.

use std::fmt::Write;

use crate::deploy::Target;
use crate::duration::display;
use crate::engine::Plan;
use crate::release::Release;
use crate::router::Router;
use crate::spec::types::{Check, RolloutSpec};
use crate::state::StateStore;
use crate::traffic::{Side, Weight};

pub fn render(
    spec: &RolloutSpec,
    plan: &Plan,
    release: &Release,
    target: &dyn Target,
    router: &dyn Router,
    store: &dyn StateStore,
) -> String {
    let mut out = String::new();
    let strategy = plan.strategy.as_str();
    let _ = writeln!(
        out,
        "Plan: {} {} → {} ({strategy}, {} step(s)); nothing has been changed.",
        release.name,
        release.stable_version,
        release.new_version,
        plan.steps.len()
    );
    let mut number = 0;
    let mut item = |out: &mut String, title: String, lines: Vec<String>| {
        number += 1;
        let _ = writeln!(out, "\n{number}. {title}");
        for line in lines {
            let _ = writeln!(out, "     {line}");
        }
    };
    let hooks = &spec.hooks;
    let checks = |title: &str, checks: Vec<&Check>| -> Option<(String, Vec<String>)> {
        (!checks.is_empty()).then(|| {
            (
                title.to_owned(),
                checks.into_iter().map(describe_check).collect(),
            )
        })
    };

    if let Some((title, lines)) = checks(
        "pre-rollout hooks; a failure stops here, before any change",
        hooks.pre_rollout.iter().collect(),
    ) {
        item(&mut out, title, lines);
    }
    let deploy = if plan.migration.is_some() {
        target.plan_launch(&release.new_version)
    } else {
        target.plan_deploy(&release.new_version)
    };
    item(
        &mut out,
        format!("deploy {} with {}", release.new_version, target.describe()),
        deploy,
    );
    let before_traffic = spec.smoke.iter().chain(&hooks.before_traffic).collect();
    if let Some((title, lines)) = checks(
        "smoke checks and before-traffic hooks; a failure rolls back",
        before_traffic,
    ) {
        item(&mut out, title, lines);
    }
    let after_step: Vec<&Check> = spec
        .smoke
        .iter()
        .filter(|check| check.after_each_step)
        .chain(&hooks.after_step)
        .collect();
    if let Some(migration) = &plan.migration {
        for (title, lines) in migration_items(migration, release, target, router) {
            item(&mut out, title, lines);
        }
    }
    for (index, step) in plan.steps.iter().enumerate() {
        let mut title = format!(
            "step {}: send {} to {} and hold {}",
            index + 1,
            step.weight,
            release.new_version,
            display(step.hold)
        );
        if let Some(analysis) = plan.analysis.as_ref().filter(|_| step.analyse) {
            let gates: Vec<String> = analysis
                .gates
                .iter()
                .map(|gate| match &gate.compare {
                    Some(compare) => format!("{} ({})", gate.metric, compare.describe()),
                    None => format!("{} ({})", gate.metric, gate.threshold),
                })
                .collect();
            let _ = write!(
                title,
                ", measuring {} every {}",
                gates.join(", "),
                display(analysis.interval)
            );
        }
        let mut lines = router.plan(step.weight);
        lines.push(format!(
            "read the weight back from {} and expect {}",
            router.describe(),
            step.weight
        ));
        lines.extend(
            after_step
                .iter()
                .map(|check| format!("then {}", describe_check(check))),
        );
        item(&mut out, title, lines);
    }
    if let Some((title, lines)) = checks(
        "before-promotion hooks; a failure halts",
        hooks.before_promotion.iter().collect(),
    ) {
        item(&mut out, title, lines);
    }
    if plan
        .steps
        .last()
        .is_none_or(|step| step.weight != Weight::FULL)
    {
        item(
            &mut out,
            format!("promote: send 100% to {}", release.new_version),
            router.plan(Weight::FULL),
        );
    }
    if let Some((title, lines)) = checks(
        "post-rollout hooks; failures are warnings",
        hooks.post_rollout.iter().collect(),
    ) {
        item(&mut out, title, lines);
    }
    let delay = if plan.scale_down_delay.is_zero() {
        String::new()
    } else {
        format!(" after {}", display(plan.scale_down_delay))
    };
    let mut retire = drain_lines(plan, router, Side::Stable);
    retire.extend(
        plan.before_retire
            .iter()
            .map(|gate| wait_line(gate, &format!("halt and keep {}", release.stable_version))),
    );
    retire.extend(target.plan_retire(&release.stable_version));
    item(
        &mut out,
        format!("retire {}{delay}", release.stable_version),
        retire,
    );
    let (first, restore) = match plan.migration {
        Some(_) => (
            format!("bring {} back to its task count, ", release.stable_version),
            target.plan_restore(&release.stable_version),
        ),
        None => (String::new(), Vec::new()),
    };
    let _ = writeln!(
        out,
        "\nIf a gate, smoke check or hook fails: {first}send 0% to {} and verify it, then:",
        release.new_version
    );
    let rollback = restore
        .into_iter()
        .chain(router.plan(Weight::ZERO))
        .chain(hooks.on_rollback.iter().map(describe_check))
        .chain(drain_lines(plan, router, Side::New))
        .chain(target.plan_retire(&release.new_version));
    for line in rollback {
        let _ = writeln!(out, "     {line}");
    }
    if plan.migration.is_some() {
        let _ = writeln!(
            out,
            "Once the migration has killed a task of {}, a failure halts instead: {0} is no longer whole; `greenlight rollback` brings it back to its task count first.",
            release.stable_version
        );
    }
    let _ = writeln!(
        out,
        "Progress and the lock are kept in {}.",
        store.describe()
    );
    out
}

/// The migration's items: the new version joins the balancer, then one item
/// per batch of the stable version's tasks, counted from its app definition.
fn migration_items(
    migration: &crate::engine::plan::MigrationPlan,
    release: &Release,
    target: &dyn Target,
    router: &dyn Router,
) -> Vec<(String, Vec<String>)> {
    let stable = &release.stable_version;
    let mut items = vec![(
        format!(
            "migration: list the tasks of {stable} and add {} to the load balancer beside them",
            release.new_version
        ),
        router.plan_route_tasks("every task"),
    )];
    let size = migration.batch_size.max(1);
    let drain = migration.drain.as_ref().map(|gate| {
        format!(
            "for each task of the batch: {}",
            wait_line(gate, "halt, the task out of the load balancer and running")
        )
    });
    let batch_lines = |keep: Option<&str>| {
        let mut lines = match keep {
            Some(keep) => router.plan_route_tasks(keep),
            // The last batch leaves the new version alone in the balancer.
            None => router.plan(crate::traffic::Weight::FULL),
        };
        lines.extend(drain.clone());
        lines.extend(target.plan_kill(stable));
        lines
    };
    match target.planned_tasks(stable) {
        Some(tasks) => {
            let tasks = usize::try_from(tasks).unwrap_or(usize::MAX);
            let batches = tasks.div_ceil(size);
            for batch in 0..batches {
                let first = batch * size + 1;
                let last = ((batch + 1) * size).min(tasks);
                let left = tasks - last;
                let which = if first == last {
                    format!("task {first}")
                } else {
                    format!("tasks {first}–{last}")
                };
                items.push((
                    format!(
                        "migration batch {} of {batches}: take {which} of {tasks} of {stable} out, drain, kill",
                        batch + 1
                    ),
                    batch_lines((left > 0).then(|| format!("the {left} task(s) left")).as_deref()),
                ));
            }
        }
        None => items.push((
            format!("migration: repeat for each {size} task(s) of {stable} until none is left"),
            batch_lines(Some("the tasks left")),
        )),
    }
    items
}

/// "wait until jobs ≤ 0 (measured every 10s; after 10m {then})".
fn wait_line(gate: &crate::engine::plan::WaitGate, then: &str) -> String {
    format!(
        "wait until {} ≤ {} (measured every {}; after {} {then})",
        gate.metric,
        crate::judge::format_value(gate.max),
        display(gate.waiting.interval),
        display(gate.waiting.timeout),
    )
}

fn describe_check(check: &Check) -> String {
    let what = match (&check.http, &check.command) {
        (Some(http), _) => format!(
            "{} {} expecting {}",
            http.method.to_ascii_uppercase(),
            http.url,
            http.expect.status
        ),
        (None, Some(command)) => format!("run `{command}` expecting exit 0"),
        (None, None) => "nothing".to_owned(),
    };
    format!(
        "`{}`: {what}, retried for up to {}",
        check.name, check.timeout
    )
}

/// The router's drain commands with the plan's bound, when the plan drains.
fn drain_lines(plan: &Plan, router: &dyn Router, side: Side) -> Vec<String> {
    let Some(drain) = plan.drain else {
        return Vec::new();
    };
    let mut lines = router.plan_drain(side);
    if let Some(last) = lines.last_mut() {
        last.push_str(&format!(
            " (every {}, at most {})",
            display(drain.interval),
            display(drain.timeout)
        ));
    }
    lines
}

/// Adds, under the plan's first line, which pool serves the stable version
/// and which one the new version goes to (fixed pools only), with the places
/// a router lists for each side.
pub fn with_pools(
    text: String,
    context: &crate::template::TemplateContext,
    release: &Release,
) -> String {
    let Some(pool) = &context.pool else {
        return text;
    };
    let places = |side: fn(&crate::spec::template::Servers) -> &Vec<String>| {
        context
            .servers
            .as_ref()
            .map(|servers| format!(" ({})", side(servers).join(", ")))
            .unwrap_or_default()
    };
    let line = format!(
        "Pools: {} serves from pool {}{}; {} goes to the idle pool {}{}.",
        release.stable_version,
        pool.stable,
        places(|servers| &servers.stable),
        release.new_version,
        pool.new,
        places(|servers| &servers.new),
    );
    match text.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{line}\n{rest}"),
        None => format!("{text}\n{line}\n"),
    }
}

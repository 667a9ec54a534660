//! Checks of the Kubernetes target and of the routers that switch all at once (the
//! Kubernetes ones and Edge-LB) that the types cannot express, made before anything is written.

use super::path::FieldPath;
use super::types::*;
use super::validate::{Problem, problem, require_text};

pub fn check(spec: &RolloutSpec, problems: &mut Vec<Problem>) {
    let root = FieldPath::root();
    if let TargetSpec::Kubernetes(target) = &spec.target {
        let path = root.key("target").key("kubernetes").key("manifests");
        if target.manifests.is_empty() {
            problems.push(problem(
                path.clone(),
                "list at least one manifest file or folder",
            ));
        }
        for (index, entry) in target.manifests.iter().enumerate() {
            require_text(entry, path.index(index), problems);
        }
    }
    let router = root.key("router");
    let switch = match &spec.router {
        RouterSpec::Command(_) | RouterSpec::Sandbox(_) | RouterSpec::Haproxy(_) => None,
        RouterSpec::Service(service) => {
            let path = router.key("service");
            require_text(&service.name, path.key("name"), problems);
            Some(check_service(service, &path, problems))
        }
        RouterSpec::GatewayApi(route) => {
            let path = router.key("gatewayApi");
            require_text(&route.route, path.key("route"), problems);
            both(
                &route.stable_service,
                &route.new_service,
                &path,
                "stableService",
                "newService",
                problems,
            );
            None
        }
        RouterSpec::Contour(proxy) => {
            let path = router.key("contour");
            require_text(&proxy.proxy, path.key("proxy"), problems);
            match (&proxy.weights, &proxy.delegation) {
                (Some(pair), None) => {
                    both(
                        &pair.stable,
                        &pair.new,
                        &path.key("weights"),
                        "stable",
                        "new",
                        problems,
                    );
                    None
                }
                (None, Some(pair)) => {
                    both(
                        &pair.stable,
                        &pair.new,
                        &path.key("delegation"),
                        "stable",
                        "new",
                        problems,
                    );
                    Some("Contour delegation")
                }
                (Some(_), Some(_)) => {
                    problems.push(problem(
                        path.key("delegation"),
                        "give `weights` or `delegation`, not both",
                    ));
                    None
                }
                (None, None) => {
                    problems.push(
                        problem(path, "give `weights` (canary) or `delegation` (blue/green)")
                            .hint("e.g. `weights: {stable: 'web-{{ stable_version }}', new: 'web-{{ version }}'}`"),
                    );
                    None
                }
            }
        }
        RouterSpec::Openshift(route) => {
            let path = router.key("openshift");
            require_text(&route.route, path.key("route"), problems);
            both(
                &route.stable_service,
                &route.new_service,
                &path,
                "stableService",
                "newService",
                problems,
            );
            route.switch.then_some("an OpenShift Route switch")
        }
        // Its settings are checked by the router itself (`RouterSpec::check`).
        RouterSpec::Edgelb(edgelb) => {
            (edgelb.mode == EdgeLbMode::Switch).then_some("an Edge-LB service switch")
        }
    };
    if let (Some(router), StrategySpec::Canary(canary)) = (switch, &spec.strategy) {
        check_all_or_nothing(canary, router, root.key("strategy").key("canary"), problems);
    }
}

/// Blue/green by selectors, or red/black by a label: one of the two.
fn check_service(
    service: &ServiceRouter,
    path: &FieldPath,
    problems: &mut Vec<Problem>,
) -> &'static str {
    let selectors = !service.stable_selector.is_empty() || !service.new_selector.is_empty();
    match &service.red_black {
        None => {
            if service.new_selector.is_empty() {
                problems.push(
                    problem(path.key("newSelector"), "an empty selector selects nothing").hint(
                        "give `stableSelector` and `newSelector` (blue/green), or `redBlack`",
                    ),
                );
            }
            "a Service selector"
        }
        Some(_) if selectors => {
            let key = if service.stable_selector.is_empty() {
                "newSelector"
            } else {
                "stableSelector"
            };
            problems.push(
                problem(
                    path.key(key),
                    "give selectors (blue/green) or `redBlack`, not both",
                )
                .hint("in red/black the Service's selector stays as it is; drop the selectors"),
            );
            "a Service selector"
        }
        Some(red_black) => {
            let path = path.key("redBlack");
            if red_black.label.is_empty() {
                problems.push(
                    problem(
                        path.key("label"),
                        "name the label the Service selects, e.g. `{serving: \"true\"}`",
                    )
                    .hint("an empty label would leave the Service selecting every pod"),
                );
            }
            for (key, value) in &red_black.label {
                require_text(key, path.key("label"), problems);
                require_text(value, path.key("label").key(key), problems);
            }
            both(
                &red_black.stable_deployment,
                &red_black.new_deployment,
                &path,
                "stableDeployment",
                "newDeployment",
                problems,
            );
            "a red/black Service label"
        }
    }
}

/// Both names are needed; whether they differ depends on the versions, which
/// `validate` may not know, so the routers check that when they run.
fn both(
    stable: &str,
    new: &str,
    path: &FieldPath,
    stable_key: &str,
    new_key: &str,
    problems: &mut Vec<Problem>,
) {
    require_text(stable, path.key(stable_key), problems);
    require_text(new, path.key(new_key), problems);
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

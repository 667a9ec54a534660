//! What the real API server would reject, written down from the upstream CRDs
//! and OpenAPI documents (the conformance suite checks our objects against
//! the documents themselves). A violation is the 422 message the server gives.

use serde_json::Value;

/// Gateway API HTTPRoute v1: `rules` and `backendRefs` maxItems 16, `weight` 0–1000000.
const HTTP_ROUTE_MAX_RULES: usize = 16;
const HTTP_ROUTE_MAX_BACKEND_REFS: usize = 16;
const HTTP_ROUTE_MAX_WEIGHT: i64 = 1_000_000;
/// OpenShift Route v1: `alternateBackends` maxItems 3, weights 0–256.
const ROUTE_MAX_ALTERNATES: usize = 3;
const ROUTE_MAX_WEIGHT: i64 = 256;

fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn too_many(field: &str, count: usize, max: usize, problems: &mut Vec<String>) {
    if count > max {
        problems.push(format!(
            "{field}: Too many: {count}: must have at most {max} items"
        ));
    }
}

fn weight_in(field: &str, entry: &Value, max: i64, problems: &mut Vec<String>) {
    if let Some(weight) = entry.get("weight") {
        match weight.as_i64() {
            Some(weight) if (0..=max).contains(&weight) => {}
            Some(weight) if weight < 0 => problems.push(format!(
                "{field}.weight: Invalid value: {weight}: {field}.weight in body should be greater than or equal to 0"
            )),
            _ => problems.push(format!(
                "{field}.weight: Invalid value: {weight}: {field}.weight in body should be less than or equal to {max}"
            )),
        }
    }
}

/// Every rule `object` breaks; empty when the server would accept it.
pub fn violations(kind: &str, object: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let name_ok = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_some_and(|name| !name.is_empty() && name.len() <= 253);
    if !name_ok {
        problems.push("metadata.name: Required value: name is required".to_owned());
    }
    let spec = object.get("spec").cloned().unwrap_or_default();
    match kind {
        "HTTPRoute" => {
            let rules = items(&spec, "rules");
            too_many(
                "spec.rules",
                rules.len(),
                HTTP_ROUTE_MAX_RULES,
                &mut problems,
            );
            for (r, rule) in rules.iter().enumerate() {
                let refs = items(rule, "backendRefs");
                let field = format!("spec.rules[{r}].backendRefs");
                too_many(
                    &field,
                    refs.len(),
                    HTTP_ROUTE_MAX_BACKEND_REFS,
                    &mut problems,
                );
                for (b, backend) in refs.iter().enumerate() {
                    weight_in(
                        &format!("{field}[{b}]"),
                        backend,
                        HTTP_ROUTE_MAX_WEIGHT,
                        &mut problems,
                    );
                }
            }
        }
        "Route" => {
            let alternates = items(&spec, "alternateBackends");
            too_many(
                "spec.alternateBackends",
                alternates.len(),
                ROUTE_MAX_ALTERNATES,
                &mut problems,
            );
            for (index, backend) in alternates.iter().enumerate() {
                weight_in(
                    &format!("spec.alternateBackends[{index}]"),
                    backend,
                    ROUTE_MAX_WEIGHT,
                    &mut problems,
                );
            }
            match spec.get("to") {
                Some(to) => weight_in("spec.to", to, ROUTE_MAX_WEIGHT, &mut problems),
                None => problems.push("spec.to: Required value".to_owned()),
            }
        }
        "HTTPProxy" | "IngressRoute" => {
            for (r, route) in items(&spec, "routes").iter().enumerate() {
                for (s, service) in items(route, "services").iter().enumerate() {
                    weight_in(
                        &format!("spec.routes[{r}].services[{s}]"),
                        service,
                        i64::MAX,
                        &mut problems,
                    );
                }
            }
        }
        "Service" => {
            if let Some(selector) = spec.get("selector")
                && !selector
                    .as_object()
                    .is_some_and(|labels| labels.values().all(Value::is_string))
            {
                problems.push("spec.selector: Invalid value: must be a map of strings".to_owned());
            }
        }
        _ => {}
    }
    problems
}

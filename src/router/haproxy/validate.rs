//! What `router: haproxy` asks of its spec beyond the types: a runtime API
//! address, HAProxy names, each server on one side only, and weights HAProxy
//! accepts.

use super::spec::HaproxyRouterSpec;
use super::{MAX_SERVER_WEIGHT, MIN_WEIGHT_PER_SIDE, RuntimeApiAddress, is_valid_name};
use crate::field::FieldPath;
use crate::field::{Problem, problem};

pub fn check(spec: &HaproxyRouterSpec, path: FieldPath, problems: &mut Vec<Problem>) {
    if let Err(error) = spec.socket.parse::<RuntimeApiAddress>() {
        problems.push(
            problem(path.key("socket"), error.to_string())
                .hint("the address of a `stats socket ... level admin` line of haproxy.cfg"),
        );
    }
    let name_hint = "HAProxy names use only letters, digits, '-', '_', '.' and ':'";
    if !is_valid_name(&spec.backend) {
        problems.push(
            problem(
                path.key("backend"),
                format!("{:?} is not a valid HAProxy backend name", spec.backend),
            )
            .hint(name_hint),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for side in ["stableServers", "newServers"] {
        let servers = if side == "stableServers" {
            &spec.stable_servers
        } else {
            &spec.new_servers
        };
        if servers.is_empty() {
            problems.push(
                problem(path.key(side), "list at least one server")
                    .hint("the `server` names of the backend in haproxy.cfg"),
            );
        }
        for (index, server) in servers.iter().enumerate() {
            let field = path.key(side).index(index);
            if !is_valid_name(server) {
                problems.push(
                    problem(
                        field,
                        format!("{server:?} is not a valid HAProxy server name"),
                    )
                    .hint(name_hint),
                );
            } else if !seen.insert(server.as_str()) {
                problems.push(problem(
                    field,
                    format!("server {server} is listed twice (a server is either stable or new)"),
                ));
            }
        }
    }
    if !(MIN_WEIGHT_PER_SIDE..=MAX_SERVER_WEIGHT).contains(&spec.weight_per_side) {
        problems.push(
            problem(
                path.key("weightPerSide"),
                format!(
                    "must be between {MIN_WEIGHT_PER_SIDE} and {MAX_SERVER_WEIGHT}, got {}",
                    spec.weight_per_side
                ),
            )
            .hint(format!(
                "HAProxy weights stop at {MAX_SERVER_WEIGHT}; below {MIN_WEIGHT_PER_SIDE} two percentages could map to the same weights"
            )),
        );
    }
}

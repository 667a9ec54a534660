//! The secrets a spec makes the run hold: the values of every environment
//! variable it names as a credential, and the userinfo of every URL it holds.

use reqwest::Url;

use super::types::{Check, RolloutSpec, StrategySpec};
use crate::secrets::{
    Credential, EnvLookup, Masker, add_mask_commands, current, process_env, remember,
};

/// Header names whose literal values in a spec are credentials.
const CREDENTIAL_HEADERS: [&str; 5] = ["authorization", "cookie", "token", "key", "secret"];

/// A masker for every secret `spec` names. Variables that are not set are
/// skipped: the provider that needs one reports it.
pub fn secrets_of(spec: &RolloutSpec, env: EnvLookup<'_>) -> Masker {
    let mut masker = Masker::default();
    // Each metric source declares the credentials its settings name; a
    // migration's drain gate is a query too.
    let analysis = spec.analysis.as_ref();
    let drain = match &spec.strategy {
        StrategySpec::Migrate(migrate) => migrate.drain.as_ref().map(|gate| &gate.query),
        _ => None,
    };
    let server = analysis
        .and_then(|analysis| analysis.prometheus.as_ref())
        .into_iter()
        .flat_map(|prometheus| prometheus.credentials());
    let queries = analysis
        .into_iter()
        .flat_map(|analysis| {
            let gates = analysis.before_retire.iter().map(|gate| &gate.query);
            analysis
                .metrics
                .iter()
                .map(|metric| &metric.query)
                .chain(gates)
        })
        .chain(drain)
        .flat_map(|query| query.settings().credentials());
    for credential in server.chain(queries) {
        credential.mask_with(env, &mut masker);
    }
    for check in checks(spec) {
        if let Some(http) = &check.http {
            for name in http.headers_from_env.values() {
                Credential::Variable(name).mask_with(env, &mut masker);
            }
            for (header, value) in &http.headers {
                let header = header.to_ascii_lowercase();
                if CREDENTIAL_HEADERS.iter().any(|word| header.contains(word)) {
                    masker.add(value.clone());
                    // `Bearer x` and `Basic x`: the credential alone too.
                    if let Some((_, credential)) = value.trim().split_once(' ') {
                        masker.add(credential.trim().to_owned());
                    }
                }
            }
        }
    }
    if let Some(webhook) = &spec.report.webhook {
        Credential::Variable(&webhook.url_env).mask_with(env, &mut masker);
    }
    if let Ok(document) = serde_json::to_value(spec) {
        add_url_userinfo(&document, &mut masker);
    }
    masker
}

fn checks(spec: &RolloutSpec) -> impl Iterator<Item = &Check> {
    let hooks = &spec.hooks;
    spec.smoke
        .iter()
        .chain(&hooks.pre_rollout)
        .chain(&hooks.before_traffic)
        .chain(&hooks.after_step)
        .chain(&hooks.before_promotion)
        .chain(&hooks.post_rollout)
        .chain(&hooks.on_rollback)
}

/// `user:password@` of any URL anywhere in the spec (a Prometheus address, a
/// check, a template variable).
fn add_url_userinfo(value: &serde_json::Value, masker: &mut Masker) {
    match value {
        serde_json::Value::String(text) if text.contains("://") => {
            for word in text.split_whitespace() {
                let Ok(url) = Url::parse(word) else { continue };
                match (url.username(), url.password()) {
                    ("", None) => {}
                    (user, None) => masker.add(decoded(user)),
                    (user, Some(password)) => {
                        masker.add_basic_auth(&decoded(user), &decoded(password));
                        masker.add(format!("{user}:{password}"));
                    }
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                add_url_userinfo(item, masker);
            }
        }
        serde_json::Value::Object(fields) => {
            for item in fields.values() {
                add_url_userinfo(item, masker);
            }
        }
        _ => {}
    }
}

/// Userinfo as the server sees it (percent-decoding; invalid UTF-8 kept as is).
fn decoded(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| part.to_owned())
}

/// Adds every secret `spec` names to the masker every output goes through and,
/// on GitHub Actions, asks the runner to mask them too (`::add-mask::`).
pub fn hold_spec_secrets(spec: &RolloutSpec, github_actions: bool) {
    let secrets = secrets_of(spec, &process_env);
    let known = current();
    let new: Vec<&String> = secrets
        .secrets()
        .iter()
        .filter(|secret| !known.secrets().contains(secret))
        .collect();
    remember(&secrets);
    if github_actions && !new.is_empty() {
        print!("{}", add_mask_commands(new));
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoded_userinfo_is_decoded() {
        assert_eq!(decoded("p%40ss%3Aword"), "p@ss:word");
        assert_eq!(decoded("100%"), "100%");
    }
}
